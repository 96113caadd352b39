import { describe, expect, it } from 'vitest';
import { formatDuration } from '../../domain/duration';
import { rolloutSpec } from '../../domain/spec';
import { MAX_DURATION_MS } from '../../domain/spec-defaults';
import { validateSpec } from '../../domain/validate';
import { specInput } from '../support/spec';

type Raw = any;
type Path = (string | number)[];

/** A spec with every kind of duration field present: a Kubernetes region, a Prometheus range query, SQL settings. */
function base(): Raw {
  const spec: Raw = specInput({}, { waves: { canary: ['eu-west-1'], rest: ['us-east-1'] } });
  spec.regions[1].target = { kind: 'kubernetes', context: 'prod', namespace: 'shop', deployment: 'checkout' };
  spec.metrics.push(
    { name: 'p99', provider: { type: 'prometheus', address: 'http://prometheus:9090', query: 'up', range: { window: '5m' } }, max: 1 },
    { name: 'web', provider: { type: 'web', url: 'http://stats/{{region}}', jsonPath: '$.value' }, max: 1 },
    { name: 'orphans', provider: { type: 'sql', database: 'orders', query: 'select 0' }, max: 0 },
  );
  spec.steps[1] = { ...spec.steps[1] };
  spec.steps.push({ kind: 'pause', duration: '1m' }, { kind: 'approval', timeout: '1h' });
  spec.database = {};
  spec.alarmBlocker = {};
  spec.waves[0].bake = '1m';
  spec.regions[0].bake = '1m';
  return spec;
}

function setAt(target: Raw, path: Path, value: unknown): void {
  const last = path[path.length - 1]!;
  const parent = path.slice(0, -1).reduce((v: Raw, seg) => v[seg], target);
  parent[last] = value;
}

const pathsOf = (input: unknown): Path[] => {
  const r = rolloutSpec.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => i.path as Path);
};

describe('duration bounds', () => {
  const { wait, sampleInterval, progressDeadline, query, queryRange, lockTimeout, statementTimeout } = MAX_DURATION_MS;
  const fields: [Path, number][] = [
    [['steps', 5, 'duration'], wait],
    [['steps', 6, 'timeout'], wait],
    [['steps', 1, 'sustainedFor'], wait],
    [['steps', 1, 'interval'], sampleInterval],
    [['bake'], wait],
    [['waves', 0, 'bake'], wait],
    [['regions', 0, 'bake'], wait],
    [['regions', 1, 'target', 'progressDeadline'], progressDeadline],
    [['metrics', 1, 'provider', 'range', 'window'], queryRange],
    [['metrics', 1, 'provider', 'range', 'step'], queryRange],
    [['metrics', 1, 'provider', 'timeout'], query],
    [['metrics', 2, 'provider', 'timeout'], query],
    [['metrics', 3, 'provider', 'timeout'], query],
    [['database', 'lockTimeout'], lockTimeout],
    [['database', 'statementTimeout'], statementTimeout],
    [['alarmBlocker', 'timeout'], wait],
    [['alarmBlocker', 'interval'], sampleInterval],
  ];

  it('accepts the base spec of the table', () => {
    expect(pathsOf(base())).toEqual([]);
  });

  it.each(fields)('%j accepts its bound and refuses 1ms more', (path, maxMs) => {
    const atBound = base();
    setAt(atBound, path, formatDuration(maxMs));
    expect(pathsOf(atBound)).toEqual([]);

    const over = base();
    setAt(over, path, `${maxMs + 1}ms`);
    const parsed = rolloutSpec.safeParse(over);
    expect(parsed.success ? [] : parsed.error.issues.map((i) => ({ path: i.path, params: (i as { params?: unknown }).params }))).toEqual([
      { path, params: { maxMs } },
    ]);
  });

  it.each([
    ['a hundred million days', '100000000d'],
    ['more days than a double holds', `${'9'.repeat(400)}d`],
    ['more milliseconds than count exactly', '9007199254740993ms'],
  ])('refuses a pause of %s, naming the bound', (_name, text) => {
    const spec = base();
    spec.steps[5].duration = text;
    const result = validateSpec(spec);
    expect(result.ok ? [] : result.problems.map((p) => [p.path, p.message])).toEqual([
      ['steps[5].duration', `must be at most ${formatDuration(MAX_DURATION_MS.wait)}, got ${text}`],
    ]);
  });

  it('does not compare an over-long interval with sustainedFor', () => {
    const spec = base();
    spec.steps[1] = { kind: 'analysis', metrics: ['error_rate'], interval: '400d', sustainedFor: '1m', minSamples: 3 };
    const result = validateSpec(spec);
    expect(result.ok ? [] : result.problems.map((p) => p.path)).toEqual(['steps[1].interval']);
  });
});
