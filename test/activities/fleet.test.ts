import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { ApplicationFailure } from '@temporalio/common';
import { beforeEach, describe, expect, it } from 'vitest';
import { FleetFileError, SimulatedFleet } from '../../activities/fleet';
import { JOURNAL_LIMIT } from '../../activities/fleet/fleet';
import type { RegionRef } from '../../activities/types';
import { TRAFFIC_CUT_KEY_SUFFIX } from '../../domain/compensation';
import { parseFaults } from '../../domain/faults';
import { tempDir } from '../support/temp-dir';

const NEW = { image: 'registry.example.com/shop/checkout@sha256:abc', config: { FEATURE: 'on' } };
const OLD = 'registry.example.com/shop/checkout:2.3.1';

let dir: string;
let file: string;
beforeEach(() => {
  dir = tempDir('meridian-fleet-');
  file = join(dir, 'nested', 'fleet.db');
});

function ref(region: string, step: string, initial = true): RegionRef {
  return {
    rolloutId: 'rollout/checkout/2.4.0',
    service: 'checkout',
    region,
    target: initial ? { kind: 'simulated', initial: { image: OLD, config: { FEATURE: 'off' } } } : { kind: 'simulated' },
    key: `rollout/checkout/2.4.0/${region}/${step}`,
  };
}

function register(fleet: SimulatedFleet, lines: string[], baseline: Record<string, number> = {}) {
  const { faults, problems } = parseFaults(lines);
  expect(problems).toEqual([]);
  fleet.registerRollout('rollout/checkout/2.4.0', { faults, baseline, image: NEW.image });
}

function failureOf(fn: () => unknown): ApplicationFailure {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  }
  throw new Error('expected a failure');
}

describe('SimulatedFleet', () => {
  it('seeds a region from target.initial, else from the image repo', () => {
    const fleet = new SimulatedFleet(file);
    expect(fleet.snapshot(ref('eu-west-1', 'snapshot'))).toMatchObject({ image: OLD, config: { FEATURE: 'off' }, weight: 0 });
    register(fleet, []);
    expect(fleet.snapshot(ref('us-east-1', 'snapshot', false))).toMatchObject({
      image: 'registry.example.com/shop/checkout:previous',
      config: {},
      weight: 0,
    });
    expect(fleet.regions('checkout').map((r) => r.name)).toEqual(['eu-west-1', 'us-east-1']);
    expect(fleet.regions('other')).toEqual([]);
  });

  it('runs a canary to promotion and records each step once', () => {
    const fleet = new SimulatedFleet(file);
    fleet.snapshot(ref('eu-west-1', 'snapshot'));
    fleet.deployCanary({ ...ref('eu-west-1', 'deploy'), ...NEW });
    expect(fleet.region('checkout', 'eu-west-1')).toMatchObject({ stable: { image: OLD }, canary: NEW, weight: 0 });
    fleet.setWeight({ ...ref('eu-west-1', 'step-0'), weight: 25 });
    expect(fleet.region('checkout', 'eu-west-1')!.weight).toBe(25);
    fleet.promote({ ...ref('eu-west-1', 'promote'), ...NEW });
    expect(fleet.region('checkout', 'eu-west-1')).toMatchObject({ stable: NEW, canary: null, weight: 100 });
    expect(fleet.journal('checkout', 'eu-west-1').map((e) => [e.op, e.effect, e.weight])).toEqual([
      ['snapshot', 'applied', 0],
      ['deployCanary', 'applied', 0],
      ['setWeight', 'applied', 25],
      ['promote', 'applied', 100],
    ]);
  });

  it('treats a repeated key as a no-op, even after the region moved on, and across instances', () => {
    const fleet = new SimulatedFleet(file);
    const first = fleet.snapshot(ref('eu-west-1', 'snapshot'));
    fleet.setWeight({ ...ref('eu-west-1', 'step-0'), weight: 10 });
    fleet.setWeight({ ...ref('eu-west-1', 'step-2'), weight: 50 });

    const restarted = new SimulatedFleet(file);
    restarted.setWeight({ ...ref('eu-west-1', 'step-0'), weight: 10 });
    expect(restarted.region('checkout', 'eu-west-1')!.weight).toBe(50);
    expect(restarted.snapshot(ref('eu-west-1', 'snapshot'))).toEqual(first);
    expect(restarted.journal('checkout', 'eu-west-1').map((e) => [e.key.split('/').at(-1), e.op, e.effect])).toEqual([
      ['snapshot', 'snapshot', 'applied'],
      ['step-0', 'setWeight', 'applied'],
      ['step-2', 'setWeight', 'applied'],
      ['step-0', 'setWeight', 'noop'],
      ['snapshot', 'snapshot', 'noop'],
    ]);
    expect(fleet.region('checkout', 'eu-west-1')!.weight).toBe(50);
    expect(fleet.journal('checkout', 'eu-west-1')).toHaveLength(5);
  });

  it('restores traffic and the known-good workload', () => {
    const fleet = new SimulatedFleet(file);
    const known = fleet.snapshot(ref('eu-west-1', 'snapshot'));
    fleet.deployCanary({ ...ref('eu-west-1', 'deploy'), ...NEW });
    fleet.setWeight({ ...ref('eu-west-1', 'step-0'), weight: 50 });
    fleet.promote({ ...ref('eu-west-1', 'promote'), ...NEW });
    fleet.restoreTraffic({ ...ref('eu-west-1', 'undo-traffic'), weight: known.weight });
    expect(fleet.region('checkout', 'eu-west-1')).toMatchObject({ stable: NEW, weight: 0 });
    fleet.restoreWorkload({ ...ref('eu-west-1', 'undo-workload'), snapshot: known });
    expect(fleet.region('checkout', 'eu-west-1')).toMatchObject({
      stable: { image: OLD, config: { FEATURE: 'off' } },
      canary: null,
      weight: 0,
    });
  });

  it('fails an operation as scripted, persisting the remaining count across instances', () => {
    const fleet = new SimulatedFleet(file);
    register(fleet, ['eu-west-1: fail restore 2 times']);
    fleet.setWeight({ ...ref('eu-west-1', 'step-0'), weight: 25 });
    const undo = { ...ref('eu-west-1', 'undo-traffic'), weight: 0 };

    const first = failureOf(() => fleet.restoreTraffic(undo));
    expect(first.message).toBe('simulated fault: restore failed in eu-west-1 (1 more scripted failure)');
    expect(first.nonRetryable).toBe(false);
    expect(first.type).toBe('SimulatedFault');

    const restarted = new SimulatedFleet(file);
    const second = failureOf(() => restarted.restoreWorkload({ ...ref('eu-west-1', 'undo-workload'), snapshot: { image: OLD, config: {}, weight: 0, capturedAt: '' } }));
    expect(second.message).toBe('simulated fault: restore failed in eu-west-1 (no more scripted failures)');
    expect(restarted.region('checkout', 'eu-west-1')!.weight).toBe(25);

    restarted.restoreTraffic(undo);
    expect(restarted.region('checkout', 'eu-west-1')!.weight).toBe(0);
    expect(restarted.faults('rollout/checkout/2.4.0')).toEqual([{ kind: 'operation', region: 'eu-west-1', op: 'restore', times: 0 }]);
    expect(restarted.journal('checkout', 'eu-west-1').map((e) => [e.op, e.effect])).toEqual([
      ['setWeight', 'applied'],
      ['restoreTraffic', 'failed'],
      ['restoreWorkload', 'failed'],
      ['restoreTraffic', 'applied'],
    ]);
  });

  describe('a restore fault hits the operation it names and no other', () => {
    const KNOWN = { image: OLD, config: {}, weight: 0, capturedAt: '' };
    /** A rollback of eu-west-1 as the saga runs it: the instant cut, then the ordered undos; each call retried until it passes. */
    function rollback(fleet: SimulatedFleet): Record<string, number> {
      const traffic = ref('eu-west-1', 'undo-traffic');
      const calls: [string, () => void][] = [
        ['cutTraffic', () => fleet.restoreTraffic({ ...traffic, key: `${traffic.key}${TRAFFIC_CUT_KEY_SUFFIX}`, weight: 0 })],
        ['restoreTraffic', () => fleet.restoreTraffic({ ...traffic, weight: 0 })],
        ['restoreWorkload', () => fleet.restoreWorkload({ ...ref('eu-west-1', 'undo-workload'), snapshot: KNOWN })],
      ];
      const failures: Record<string, number> = {};
      for (const [name, call] of calls) {
        failures[name] = 0;
        for (;;) {
          try {
            call();
            break;
          } catch (err) {
            expect(err).toBeInstanceOf(ApplicationFailure);
            failures[name]! += 1;
            if (failures[name]! > 10) throw err;
          }
        }
      }
      return failures;
    }

    it.each([
      ['eu-west-1: fail restoreWorkload 2 times', { cutTraffic: 0, restoreTraffic: 0, restoreWorkload: 2 }],
      ['eu-west-1: fail restoreTraffic 2 times', { cutTraffic: 0, restoreTraffic: 2, restoreWorkload: 0 }],
      ['eu-west-1: fail cutTraffic 2 times', { cutTraffic: 2, restoreTraffic: 0, restoreWorkload: 0 }],
      ['us-east-1: fail restoreWorkload 2 times', { cutTraffic: 0, restoreTraffic: 0, restoreWorkload: 0 }],
      ['eu-west-1: fail restore 2 times', { cutTraffic: 2, restoreTraffic: 0, restoreWorkload: 0 }],
      ['eu-west-1: fail restore 4 times', { cutTraffic: 4, restoreTraffic: 0, restoreWorkload: 0 }],
    ])('%s', (line, failures) => {
      const fleet = new SimulatedFleet(file);
      register(fleet, [line]);
      fleet.deployCanary({ ...ref('eu-west-1', 'deploy'), ...NEW });
      fleet.setWeight({ ...ref('eu-west-1', 'step-0'), weight: 25 });
      expect(rollback(fleet)).toEqual(failures);
      expect(fleet.region('checkout', 'eu-west-1')).toMatchObject({ stable: { image: OLD }, canary: null, weight: 0 });
    });

    it('a delay slows only the operation it names', () => {
      const fleet = new SimulatedFleet(file);
      register(fleet, ['eu-west-1: delay restoreWorkload 2s', 'eu-west-1: delay restore 1s']);
      const delays = (['cutTraffic', 'restoreTraffic', 'restoreWorkload', 'setWeight'] as const).map((call) =>
        fleet.delayMs('rollout/checkout/2.4.0', 'eu-west-1', call),
      );
      expect(delays).toEqual([1000, 1000, 3000, 0]);
    });
  });

  it('fails forever on "always" until an operator clears the faults of that region', () => {
    const fleet = new SimulatedFleet(file);
    register(fleet, ['eu-west-1: fail deploy always', 'us-east-1: fail deploy always']);
    for (let i = 0; i < 3; i++) {
      expect(failureOf(() => fleet.deployCanary({ ...ref('eu-west-1', 'deploy'), ...NEW })).message).toBe(
        'simulated fault: deploy failed in eu-west-1 (fails always)',
      );
    }
    expect(fleet.clearFaults('rollout/checkout/2.4.0', 'eu-west-1')).toBe(1);
    fleet.deployCanary({ ...ref('eu-west-1', 'deploy'), ...NEW });
    expect(fleet.region('checkout', 'eu-west-1')!.canary).toEqual(NEW);
    expect(() => fleet.deployCanary({ ...ref('us-east-1', 'deploy'), ...NEW })).toThrow(/deploy failed in us-east-1/);
    expect(fleet.clearFaults('rollout/checkout/2.4.0')).toBe(1);
    expect(fleet.clearFaults('rollout/other/1.0.0')).toBe(0);
  });

  it('reads baseline metrics, and a metric fault once the canary weight reaches it', () => {
    const fleet = new SimulatedFleet(file);
    register(fleet, ['eu-west-1: error_rate 0.08 when weight >= 25'], { error_rate: 0.004 });
    const read = (role: 'canary' | 'stable', region = 'eu-west-1') =>
      fleet.metricValue('checkout', region, 'error_rate', role, 'rollout/checkout/2.4.0');
    fleet.setWeight({ ...ref('eu-west-1', 'step-0'), weight: 10 });
    expect(read('canary')).toBe(0.004);
    fleet.setWeight({ ...ref('eu-west-1', 'step-2'), weight: 25 });
    expect(read('canary')).toBe(0.08);
    expect(read('stable')).toBe(0.004);
    expect(read('canary', 'us-east-1')).toBe(0.004);
    expect(fleet.metricValue('checkout', 'eu-west-1', 'latency_p99_ms', 'canary', 'rollout/checkout/2.4.0')).toBe(0);
    expect(fleet.metricValue('checkout', 'eu-west-1', 'error_rate', 'canary', 'rollout/unknown/1')).toBe(0);
  });

  it('keeps an earlier registration when asked to, so fault counts survive', () => {
    const fleet = new SimulatedFleet(file);
    register(fleet, ['eu-west-1: fail setWeight 1 time']);
    expect(() => fleet.setWeight({ ...ref('eu-west-1', 'step-0'), weight: 10 })).toThrow(/setWeight failed/);
    const { faults } = parseFaults(['eu-west-1: fail setWeight 1 time']);
    fleet.registerRollout('rollout/checkout/2.4.0', { faults, baseline: {} }, { keepExisting: true });
    fleet.setWeight({ ...ref('eu-west-1', 'step-0'), weight: 10 });
    expect(fleet.region('checkout', 'eu-west-1')!.weight).toBe(10);
  });

  it('survives many interleaved async callers without losing a write, one row per region', async () => {
    const fleet = new SimulatedFleet(file);
    const other = new SimulatedFleet(file);
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        Promise.resolve().then(() => {
          const f = i % 2 ? fleet : other;
          for (const region of ['r1', 'r2', 'r3', 'r4', 'r5']) {
            f.setWeight({ ...ref(region, `rollout-${i}`), key: `rollout-${i}/${region}`, weight: i });
          }
        }),
      ),
    );
    const db = new DatabaseSync(file, { readOnly: true });
    try {
      expect(db.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
      expect(db.prepare('SELECT count(*) AS n FROM regions').get()).toEqual({ n: 5 });
    } finally {
      db.close();
    }
    for (const region of ['r1', 'r2', 'r3', 'r4', 'r5']) {
      expect(fleet.journal('checkout', region).filter((e) => e.effect === 'applied')).toHaveLength(100);
    }
  });

  it('keeps the newest JOURNAL_LIMIT entries of each region, and a key still in them stays a no-op', () => {
    const fleet = new SimulatedFleet(file);
    fleet.setWeight({ ...ref('us-east-1', 'step-0'), weight: 5 });
    for (let i = 0; i < JOURNAL_LIMIT + 5; i++) fleet.setWeight({ ...ref('eu-west-1', `step-${i}`), weight: i % 100 });
    const journal = fleet.journal('checkout', 'eu-west-1');
    expect(journal).toHaveLength(JOURNAL_LIMIT);
    expect([journal[0]!.key, journal.at(-1)!.key]).toEqual([ref('eu-west-1', 'step-5').key, ref('eu-west-1', `step-${JOURNAL_LIMIT + 4}`).key]);
    expect(fleet.region('checkout', 'eu-west-1')!.journal).toEqual(journal);
    expect(fleet.journal('checkout', 'us-east-1').map((e) => e.weight)).toEqual([5]);

    fleet.setWeight({ ...ref('eu-west-1', 'step-5'), weight: 77 });
    expect(fleet.region('checkout', 'eu-west-1')!.weight).toBe((JOURNAL_LIMIT + 4) % 100);
    expect(fleet.journal('checkout', 'eu-west-1').at(-1)).toMatchObject({ key: ref('eu-west-1', 'step-5').key, effect: 'noop' });
  });

  it('reset forgets every region and rollout', () => {
    const fleet = new SimulatedFleet(file);
    register(fleet, ['eu-west-1: fail restore 1 time']);
    fleet.setWeight({ ...ref('eu-west-1', 'step-0'), weight: 10 });
    fleet.reset();
    expect(new SimulatedFleet(file).regions()).toEqual([]);
    expect(fleet.faults('rollout/checkout/2.4.0')).toEqual([]);
  });
});

describe('a state file that cannot hold the fleet', () => {
  const OLD_JSON = JSON.stringify({
    revision: '6f1c2a34-8d2e-4b7a-9a51-0c3f5e7d9b12',
    state: { regions: { 'checkout/eu-west-1': { stable: { image: OLD, config: {} }, canary: null, weight: 0, journal: [] } }, rollouts: {} },
  });

  function refusal(): FleetFileError {
    try {
      new SimulatedFleet(file);
    } catch (err) {
      expect(err).toBeInstanceOf(FleetFileError);
      return err as FleetFileError;
    }
    throw new Error(`expected ${file} to be refused`);
  }

  it.each([
    ['the JSON fleet of an earlier Meridian', OLD_JSON, 'json'],
    ['a file that is not SQLite', 'regions:\n  - eu-west-1\n', 'notSqlite'],
  ])('refuses %s, naming the file and the flag, and leaves it as it was', (_, text, problem) => {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    const err = refusal();
    expect(err).toMatchObject({ file, problem });
    expect(err.message).toContain(file);
    expect(err.message).toContain('--fleet-file');
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(existsSync(`${file}-wal`)).toBe(false);
  });

  it("refuses another program's SQLite database without changing it", () => {
    mkdirSync(dirname(file), { recursive: true });
    const other = new DatabaseSync(file);
    other.exec("CREATE TABLE namespaces (id TEXT); INSERT INTO namespaces VALUES ('default')");
    other.close();
    expect(refusal()).toMatchObject({ file, problem: 'otherDatabase' });
    const db = new DatabaseSync(file, { readOnly: true });
    try {
      expect(db.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'delete' });
      expect(db.prepare('SELECT name FROM sqlite_schema').all()).toEqual([{ name: 'namespaces' }]);
    } finally {
      db.close();
    }
  });

  it('opens an empty file as a new fleet', () => {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, '');
    const fleet = new SimulatedFleet(file);
    fleet.setWeight({ ...ref('eu-west-1', 'step-0'), weight: 10 });
    expect(new SimulatedFleet(file).region('checkout', 'eu-west-1')!.weight).toBe(10);
  });
});
