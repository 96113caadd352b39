import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultOp } from '../../domain/faults';
import type { TargetDriver } from '../drivers';
import type { RegionRef } from '../types';
import type { SimulatedFleet } from './fleet';

/** The simulated fleet as a target: each change is one keyed fleet operation, after any scripted delay. */
export function simulatedDriver(fleet: SimulatedFleet): TargetDriver {
  const slow = async (ref: RegionRef, op: FaultOp) => {
    const ms = fleet.delayMs(ref.rolloutId, ref.region, op);
    if (ms > 0) await sleep(ms);
  };
  return {
    kind: 'simulated',
    snapshot: async (ref) => (await slow(ref, 'snapshot'), fleet.snapshot(ref)),
    deployCanary: async (input) => (await slow(input, 'deploy'), fleet.deployCanary(input)),
    setWeight: async (input) => (await slow(input, 'setWeight'), fleet.setWeight(input)),
    promote: async (input) => (await slow(input, 'promote'), fleet.promote(input)),
    restoreTraffic: async (input) => (await slow(input, 'restore'), fleet.restoreTraffic(input)),
    restoreWorkload: async (input) => (await slow(input, 'restore'), fleet.restoreWorkload(input)),
  };
}
