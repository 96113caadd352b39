import { describe, expect, it } from 'vitest';
import { validateSpec } from '../../domain/validate';
import { specInput } from '../support/spec';
import { formatDuration } from '../../domain/duration';
import { MAX_DURATION_MS } from '../../domain/spec-defaults';
import { describeFault, FAULT_OPS, faultHits, metricFaultApplies, parseFault, parseFaults, type FaultCall, type MetricFault } from '../../domain/faults';

describe('parseFault', () => {
  it.each([
    [
      'eu-west-1: error_rate 0.08 when weight >= 25',
      { kind: 'metric', region: 'eu-west-1', metric: 'error_rate', value: 0.08, when: { compare: '>=', weight: 25 } },
    ],
    [
      '  us-east-1:latency_p99_ms 900 when weight>10  ',
      { kind: 'metric', region: 'us-east-1', metric: 'latency_p99_ms', value: 900, when: { compare: '>', weight: 10 } },
    ],
    ['ap-south-1: success_rate -1.5 when weight <= 50%', { kind: 'metric', region: 'ap-south-1', metric: 'success_rate', value: -1.5, when: { compare: '<=', weight: 50 } }],
    ['ap-south-1: saturation 0.9 when weight < 5', { kind: 'metric', region: 'ap-south-1', metric: 'saturation', value: 0.9, when: { compare: '<', weight: 5 } }],
    ['eu-west-1: error_rate 1e-1 always', { kind: 'metric', region: 'eu-west-1', metric: 'error_rate', value: 0.1, when: 'always' }],
    ['us-east-1: fail restore 3 times', { kind: 'operation', region: 'us-east-1', op: 'restore', times: 3 }],
    ['eu-west-1: saturation nodata when weight >= 10', { kind: 'metric', region: 'eu-west-1', metric: 'saturation', value: 'nodata', when: { compare: '>=', weight: 10 } }],
    ['us-east-1: stable error_rate 0.08 always', { kind: 'metric', region: 'us-east-1', role: 'stable', metric: 'error_rate', value: 0.08, when: 'always' }],
    ['eu-west-1: delay restore 3s', { kind: 'delay', region: 'eu-west-1', op: 'restore', ms: 3000 }],
    ['eu-west-1: delay setWeight 250ms', { kind: 'delay', region: 'eu-west-1', op: 'setWeight', ms: 250 }],
    ['us-east-1: fail setweight 1 time', { kind: 'operation', region: 'us-east-1', op: 'setWeight', times: 1 }],
    ['us-east-1: fail deploy always', { kind: 'operation', region: 'us-east-1', op: 'deploy', times: 'always' }],
    ['eu-central-1: fail snapshot 0 times', { kind: 'operation', region: 'eu-central-1', op: 'snapshot', times: 0 }],
    ['eu-central-1: fail promote 2 times', { kind: 'operation', region: 'eu-central-1', op: 'promote', times: 2 }],
    ['eu-west-1: fail restoreWorkload 2 times', { kind: 'operation', region: 'eu-west-1', op: 'restoreWorkload', times: 2 }],
    ['eu-west-1: fail restoretraffic always', { kind: 'operation', region: 'eu-west-1', op: 'restoreTraffic', times: 'always' }],
    ['eu-west-1: fail cutTraffic 1 time', { kind: 'operation', region: 'eu-west-1', op: 'cutTraffic', times: 1 }],
    ['eu-west-1: delay restoreWorkload 2s', { kind: 'delay', region: 'eu-west-1', op: 'restoreWorkload', ms: 2000 }],
  ])('%s', (line, expected) => {
    expect(parseFault(line)).toEqual(expected);
  });

  it.each([
    [
      'us-east-1: fail rollback 3 times',
      'unknown operation "rollback" (known: snapshot, deploy, setWeight, promote, cutTraffic, restoreTraffic, restoreWorkload, restore)',
    ],
    ['us-east-1 error_rate 0.08 when weight >= 25', 'expected "<region>: <metric> <value|nodata> when weight >= <n>", "<region>: fail <op> <n> times" or "<region>: delay <op> <duration>"'],
    ['us-east-1: error_rate high when weight >= 25', 'got "us-east-1: error_rate high when weight >= 25"'],
    ['us-east-1: error_rate 0.08 when weight == 25', 'expected'],
    ['us-east-1: error_rate 0.08', 'expected'],
    ['us-east-1: fail restore many times', 'expected'],
    ['us-east-1: delay restore soon', 'bad duration "soon"'],
    ['us-east-1: delay reboot 3s', 'unknown operation "reboot"'],
    ['', 'expected'],
  ])('rejects %j', (line, message) => {
    const parsed = parseFault(line);
    expect('error' in parsed && parsed.error).toContain(message);
  });
});

describe('the bound of a delay fault', () => {
  const maxMs = MAX_DURATION_MS.faultDelay;

  it('is a day, the longest a Deployment may take to become ready', () => {
    expect(maxMs).toBe(MAX_DURATION_MS.progressDeadline);
    expect(formatDuration(maxMs)).toBe('1d');
  });

  it.each([formatDuration(maxMs), `${maxMs}ms`, '23h59m59s'])('accepts %s', (length) => {
    const parsed = parseFault(`us-east-1: delay restore ${length}`);
    expect(parsed).toEqual({ kind: 'delay', region: 'us-east-1', op: 'restore', ms: expect.any(Number) });
    expect('ms' in parsed && parsed.ms).toBeLessThanOrEqual(maxMs);
  });

  it.each([`${maxMs + 1}ms`, '1d1ms', '25h', '100000000d', `${'9'.repeat(400)}d`])('refuses %s, naming the fault, the bound and the value', (length) => {
    const line = `us-east-1: delay restore ${length}`;
    const parsed = parseFault(line);
    expect(parsed).toEqual({ error: `delay fault "${line}": the delay must be at most 1d, got ${length}`, maxMs });
  });

  it('is checked with the spec, at the fault\'s index', () => {
    const spec: any = specInput();
    spec.simulation.faults = ['eu-west-1: delay setWeight 1d', `us-east-1: delay setWeight ${maxMs + 1}ms`];
    const result = validateSpec(spec);
    expect(result.ok ? [] : result.problems.map((p) => [p.path, p.message])).toEqual([
      ['simulation.faults[1]', `delay fault "us-east-1: delay setWeight ${maxMs + 1}ms": the delay must be at most 1d, got ${maxMs + 1}ms`],
    ]);
  });
});

describe('faultHits', () => {
  const CALLS: FaultCall[] = ['snapshot', 'deploy', 'setWeight', 'promote', 'cutTraffic', 'restoreTraffic', 'restoreWorkload'];
  it.each([
    ['snapshot', ['snapshot']],
    ['deploy', ['deploy']],
    ['setWeight', ['setWeight']],
    ['promote', ['promote']],
    ['cutTraffic', ['cutTraffic']],
    ['restoreTraffic', ['restoreTraffic']],
    ['restoreWorkload', ['restoreWorkload']],
    ['restore', ['cutTraffic', 'restoreTraffic', 'restoreWorkload']],
  ] as const)('a fault on %s hits %j and nothing else', (op, hit) => {
    expect(CALLS.filter((call) => faultHits(op, call))).toEqual(hit);
  });

  it('covers every operation', () => {
    expect(FAULT_OPS.filter((op) => CALLS.some((call) => faultHits(op, call)))).toEqual([...FAULT_OPS]);
  });
});

describe('parseFaults', () => {
  it('keeps the good lines and names each bad one by index', () => {
    const { faults, problems } = parseFaults(['eu-west-1: error_rate 0.08 when weight >= 25', 'nonsense', 'us-east-1: fail restore 3 times']);
    expect(faults.map(describeFault)).toEqual(['eu-west-1: error_rate 0.08 when weight >= 25', 'us-east-1: fail restore 3 times']);
    expect(problems).toEqual([
      {
        index: 1,
        message: 'faults[1]: expected "<region>: <metric> <value|nodata> when weight >= <n>", "<region>: fail <op> <n> times" or "<region>: delay <op> <duration>", got "nonsense"',
      },
    ]);
  });
});

describe('metricFaultApplies', () => {
  const at = (compare: '>=' | '>' | '<=' | '<', weight: number): MetricFault => ({
    kind: 'metric',
    region: 'r',
    metric: 'm',
    value: 1,
    when: { compare, weight },
  });
  it.each([
    ['>=', 25, 24, false],
    ['>=', 25, 25, true],
    ['>', 25, 25, false],
    ['>', 25, 26, true],
    ['<=', 25, 25, true],
    ['<=', 25, 26, false],
    ['<', 25, 24, true],
    ['<', 25, 25, false],
  ] as const)('weight %s %d at %d -> %s', (compare, limit, weight, applies) => {
    expect(metricFaultApplies(at(compare, limit), weight)).toBe(applies);
  });
  it('always applies, at weight 0 too', () => {
    expect(metricFaultApplies({ kind: 'metric', region: 'r', metric: 'm', value: 1, when: 'always' }, 0)).toBe(true);
  });
});
