import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createActivities, SimulatedFleet } from '../../activities';
import type { AnalysisInput, AnalysisProgress, PreflightInput, RolloutActivities } from '../../activities/types';
import type { MetricSpec } from '../../domain/spec';
import { tempDir } from '../support/temp-dir';

const rolloutId = 'rollout/checkout/2.4.0';
const image = 'registry.example.com/shop/checkout@sha256:abc';
const errorRate: MetricSpec = { name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 };
const simulation = {
  faults: ['eu-west-1: fail setWeight 1 time', 'eu-west-1: error_rate 0.08 when weight >= 50'],
  baseline: { error_rate: 0.004 },
};
const target = { kind: 'simulated' } as const;

let dir: string;
beforeEach(() => {
  dir = tempDir('meridian-simulations-');
});

/** One worker process: its own fleet object over a fleet file, and the activities over it. */
function worker(file = 'fleet.json'): { fleet: SimulatedFleet; activities: RolloutActivities } {
  const fleet = new SimulatedFleet(join(dir, file));
  return { fleet, activities: createActivities({ fleet }) };
}

const preflight: PreflightInput = {
  rolloutId,
  service: 'checkout',
  image,
  regions: [{ name: 'eu-west-1', target }],
  metrics: [errorRate],
  simulation,
};

/** One analysis chunk that stays Running while healthy: sustainedFor is far beyond the chunk. */
function chunk(acts: RolloutActivities): Promise<AnalysisProgress> {
  const input: AnalysisInput = {
    rolloutId,
    service: 'checkout',
    region: 'eu-west-1',
    target,
    key: `${rolloutId}/eu-west-1/analysis-1`,
    version: '2.4.0',
    step: {
      kind: 'analysis',
      metrics: ['error_rate'],
      interval: 10,
      sustainedFor: 3_600_000,
      failureLimit: 0,
      inconclusiveLimit: 0,
      consecutiveErrorLimit: 4,
      minSamples: 1,
    },
    metrics: [errorRate],
    simulation,
    chunkMs: 25,
  };
  return new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') }).run(acts.runAnalysis, input);
}

const setWeight = (acts: RolloutActivities, weight: number) =>
  acts.setWeight({ rolloutId, service: 'checkout', region: 'eu-west-1', target, key: `${rolloutId}/eu-west-1/weight-${weight}`, weight });

describe("a rollout's simulation", () => {
  it('is registered by preflight, and analysis chunks in the same worker register nothing more', async () => {
    const { fleet, activities } = worker();
    const register = vi.spyOn(fleet, 'registerRollout');
    expect(await activities.preflight(preflight)).toEqual([]);
    await expect(setWeight(activities, 10)).rejects.toThrow('simulated fault: setWeight failed');
    await setWeight(activities, 10);
    expect((await chunk(activities)).outcome).toBe('Running');
    expect((await chunk(activities)).outcome).toBe('Running');
    expect(register).toHaveBeenCalledTimes(1);
    expect(fleet.faults(rolloutId)).toContainEqual({ kind: 'operation', region: 'eu-west-1', op: 'setWeight', times: 0 });
  });

  it('is found by a worker restarted on the same fleet file, with the fault counts spent before', async () => {
    const before = worker();
    expect(await before.activities.preflight(preflight)).toEqual([]);
    await expect(setWeight(before.activities, 10)).rejects.toThrow('simulated fault: setWeight failed');

    const after = worker();
    expect((await chunk(after.activities)).outcome).toBe('Running');
    await setWeight(after.activities, 50);
    expect(after.fleet.region('checkout', 'eu-west-1')!.weight).toBe(50);
    expect((await chunk(after.activities)).outcome).toBe('Failed');
  });

  it('is registered once, from the analysis, by a worker on a fleet file that never saw the preflight', async () => {
    expect(await worker('preflight.json').activities.preflight(preflight)).toEqual([]);
    const { fleet, activities } = worker('other.json');
    const register = vi.spyOn(fleet, 'registerRollout');
    expect((await chunk(activities)).outcome).toBe('Running');
    expect((await chunk(activities)).outcome).toBe('Running');
    expect(register).toHaveBeenCalledTimes(1);
    expect(fleet.faults(rolloutId)).toHaveLength(2);
    await expect(setWeight(activities, 50)).rejects.toThrow('simulated fault: setWeight failed');
    await setWeight(activities, 50);
    expect((await chunk(activities)).outcome).toBe('Failed');
  });
});
