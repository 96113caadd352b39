import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedFleet, type JournalEntry } from '../../activities/fleet';
import { duplicateApplications, regionProblems } from '../../chaos/check';
import { SERVER_KILL, serverRow } from '../../chaos/rows/server';
import { NEW_IMAGE, SCENARIOS, scenarioPlan } from '../../chaos/scenarios';
import { WORKER_KILL, workersRow } from '../../chaos/rows/workers';
import type { RowContext, RowResult } from '../../chaos/types';
import { startTestCluster, type TestCluster } from '../support/cluster';
import { tempDir } from '../support/temp-dir';

/**
 * The chaos campaign's CI variant (`npm run chaos -- --size ci`) on a local Temporal cluster on
 * PostgreSQL: R1 SIGKILLs random workers of three while rollouts run, R2 SIGKILLs every Temporal
 * service mid-rollout and restarts them. Every rollout is checked from outside: the phase it ended
 * in, what each region of the shared fleet runs, and that no keyed operation was applied twice.
 */
let cluster: TestCluster;
let dir: string;
const logs: string[] = [];

function context(row: string): RowContext {
  return { cluster: cluster.state, size: 'ci', workDir: join(dir, row), log: (line) => void logs.push(`[${row}] ${line}`) };
}

/** Every rollout ended in its scenario's phase with every region as expected, and the row saw the three kinds of end. */
function expectClean(result: RowResult): void {
  const problems = [...(result.problems ?? []), ...result.checks.flatMap((c) => c.problems.map((p) => `${c.rolloutId} (${c.scenario}): ${p}`))];
  expect(problems, logs.join('\n')).toEqual([]);
  expect({ inconsistent: result.inconsistent, duplicates: result.duplicates, stuck: result.stuck }).toEqual({ inconsistent: 0, duplicates: 0, stuck: 0 });
  expect(result.consistent).toBe(result.rollouts);
  for (const c of result.checks) expect(c.phase, `${c.rolloutId} (${c.scenario})`).toBe(c.expectedPhase);
  expect(new Set(result.checks.map((c) => c.expectedPhase))).toEqual(new Set(['Succeeded', 'RolledBack', 'Failed']));
}

const scenario = (name: string) => SCENARIOS.find((s) => s.name === name)!;

describe('the checks from outside', () => {
  it('pass a fleet as the scenario leaves it, and name each region that is not', () => {
    const fleet = new SimulatedFleet(join(tempDir('meridian-chaos-check-'), 'fleet.db'));
    try {
      const plan = scenarioPlan(scenario('happy'), 'check');
      const ref = (region: string, key: string) => ({ rolloutId: 'rollout/check/1.1.0', service: plan.service, region, target: plan.regions[region]!.target, key: `${region}/${key}` });
      for (const region of Object.keys(plan.regions)) fleet.promote({ ...ref(region, 'promote'), image: NEW_IMAGE, config: {} });
      expect(regionProblems(fleet, plan, scenario('happy'))).toEqual([]);

      fleet.restoreWorkload({ ...ref('eu-west-1', 'undo'), snapshot: { image: 'registry.chaos/shop/app:1.0.0', config: {}, weight: 0, capturedAt: '' } });
      fleet.deployCanary({ ...ref('us-east-1', 'again'), image: NEW_IMAGE, config: {} });
      const problems = regionProblems(fleet, plan, scenario('wave-2 breach, rollback-region'));
      expect(problems.map((p) => p.split(':')[0])).toEqual(['eu-west-1', 'us-east-1', 'ap-south-1', 'ap-south-1']);
      expect(problems.at(-1)).toContain('promote');
    } finally {
      fleet.close();
    }
  });

  it('count a key applied twice, and not its no-op repeats', () => {
    const entry = (key: string, effect: JournalEntry['effect']): JournalEntry => ({ key, op: 'setWeight', effect, at: '', weight: 10 });
    const journal = [entry('a', 'applied'), entry('a', 'noop'), entry('b', 'failed'), entry('b', 'applied'), entry('a', 'applied')];
    expect(duplicateApplications(journal)).toEqual([{ key: 'a', op: 'setWeight', times: 2 }]);
  });
});

describe('chaos on a local Temporal cluster', () => {
  beforeAll(async () => {
    cluster = await startTestCluster();
    dir = tempDir('meridian-chaos-test-');
  }, 180_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('R1: rollouts end as their scenarios say while random workers are SIGKILLed', async () => {
    const result = await workersRow(context('R1'));
    expect(result.rollouts).toBeGreaterThanOrEqual(20);
    expect(result.faults[WORKER_KILL]).toBeGreaterThanOrEqual(10);
    expectClean(result);
  }, 600_000);

  it('R2: rollouts end as their scenarios say after the Temporal services are SIGKILLed mid-rollout', async () => {
    const result = await serverRow(context('R2'));
    expect(result.faults[SERVER_KILL]).toBeGreaterThanOrEqual(1);
    expect(result.rollouts).toBeGreaterThanOrEqual(8);
    expectClean(result);
  }, 360_000);
});
