import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { TargetDriver } from '../../activities/drivers';
import { SimulatedFleet, withSimulatedMetrics } from '../../activities/fleet';
import type { RegionRef } from '../../activities/types';
import { parseFaults } from '../../domain/faults';
import type { Target } from '../../domain/spec';
import type { KnownGood } from '../../domain/status';
import { tempDir } from '../support/temp-dir';

const rolloutId = 'rollout/checkout/2.4.0';
const image = 'registry.example.com/shop/checkout@sha256:abc';
const cluster: Target = {
  kind: 'kubernetes',
  context: 'kind-eu',
  namespace: 'shop',
  deployment: 'checkout',
  progressDeadline: 600_000,
  traffic: { strategy: 'replicas' },
};
const known: KnownGood = { image: 'registry.example.com/shop/checkout:2.3.1', config: {}, weight: 0, capturedAt: '2024-01-01T00:00:00.000Z' };

let dir: string;
let fleet: SimulatedFleet;
beforeEach(() => {
  dir = tempDir('meridian-simulated-metrics-');
  fleet = new SimulatedFleet(join(dir, 'fleet.json'));
});

function ref(step: string, target: Target = cluster): RegionRef {
  return { rolloutId, service: 'checkout', region: 'eu-west-1', target, key: `${rolloutId}/eu-west-1/${step}` };
}

/** A driver for a target outside the fleet: it records what it was asked and can be told to fail one operation. */
function clusterDriver(failing?: keyof TargetDriver) {
  const calls: string[] = [];
  const op = (name: keyof TargetDriver) => async () => {
    calls.push(name);
    if (name === failing) throw new Error(`${name} failed`);
  };
  const driver: TargetDriver = {
    kind: 'kubernetes',
    preflight: async (input) => (calls.push('preflight'), [{ region: input.region, message: 'checked' }]),
    snapshot: async () => (calls.push('snapshot'), known),
    deployCanary: op('deployCanary'),
    setWeight: op('setWeight'),
    promote: op('promote'),
    restoreTraffic: op('restoreTraffic'),
    restoreWorkload: op('restoreWorkload'),
  };
  return { driver, calls };
}

describe('withSimulatedMetrics', () => {
  it('tells the fleet the weight each change leaves on a real target, and passes every call through', async () => {
    const { driver, calls } = clusterDriver();
    const observed = withSimulatedMetrics(driver, fleet);
    const seen = () => fleet.weightSeen('checkout', 'eu-west-1');

    expect(observed.kind).toBe('kubernetes');
    expect(await observed.preflight!({ region: 'eu-west-1', target: cluster })).toEqual([{ region: 'eu-west-1', message: 'checked' }]);
    expect(await observed.snapshot(ref('snapshot'))).toEqual(known);
    await observed.deployCanary({ ...ref('deploy'), image, config: {} });
    expect(seen()).toBe(0);
    await observed.setWeight({ ...ref('step-0'), weight: 30 });
    expect(seen()).toBe(30);
    await observed.promote({ ...ref('promote'), image, config: {} });
    expect(seen()).toBe(100);
    await observed.restoreTraffic({ ...ref('undo-traffic'), weight: 10 });
    expect(seen()).toBe(10);
    await observed.restoreWorkload({ ...ref('undo-workload'), snapshot: { ...known, weight: 0 } });
    expect(seen()).toBe(0);

    expect(calls).toEqual(['preflight', 'snapshot', 'deployCanary', 'setWeight', 'promote', 'restoreTraffic', 'restoreWorkload']);
    expect(fleet.regions()).toEqual([]);
  });

  it("makes the simulated metrics follow the real target's weight", async () => {
    const { faults } = parseFaults(['eu-west-1: error_rate 0.08 when weight >= 25']);
    fleet.registerRollout(rolloutId, { faults, baseline: { error_rate: 0.004 } });
    const observed = withSimulatedMetrics(clusterDriver().driver, fleet);
    const errorRate = () => fleet.metricValue('checkout', 'eu-west-1', 'error_rate', 'canary', rolloutId);

    await observed.setWeight({ ...ref('step-0'), weight: 10 });
    expect(errorRate()).toBe(0.004);
    await observed.setWeight({ ...ref('step-1'), weight: 25 });
    expect(errorRate()).toBe(0.08);
    await observed.restoreTraffic({ ...ref('undo-traffic'), weight: 0 });
    expect(errorRate()).toBe(0.004);
  });

  it('leaves the weight the fleet saw when a change fails', async () => {
    const observed = withSimulatedMetrics(clusterDriver('setWeight').driver, fleet);
    await observed.promote({ ...ref('promote'), image, config: {} });
    await expect(observed.setWeight({ ...ref('step-0'), weight: 30 })).rejects.toThrow('setWeight failed');
    expect(fleet.weightSeen('checkout', 'eu-west-1')).toBe(100);
  });

  it('records nothing for a region on the simulated fleet, which holds its own weight', async () => {
    const { driver, calls } = clusterDriver();
    const observed = withSimulatedMetrics({ ...driver, kind: 'simulated' }, fleet);
    await observed.setWeight({ ...ref('step-0', { kind: 'simulated' }), weight: 30 });
    expect(calls).toEqual(['setWeight']);
    expect(fleet.weightSeen('checkout', 'eu-west-1')).toBe(0);
  });
});
