import { sleep } from '../activity-context';
import type { TargetDriver } from '../drivers';
import type { RegionRef } from '../types';
import type { SimulatedFleet } from './fleet';
import { faultCall, type FleetOp } from './state';

/** The simulated fleet as a target: each change is one keyed fleet operation, after any scripted delay, which a cancellation ends. */
export function simulatedDriver(fleet: SimulatedFleet): TargetDriver {
  const slow = async (ref: RegionRef, op: FleetOp) => {
    const ms = fleet.delayMs(ref.rolloutId, ref.region, faultCall(op, ref.key));
    if (ms > 0) await sleep(ms);
  };
  return {
    kind: 'simulated',
    snapshot: async (ref) => (await slow(ref, 'snapshot'), fleet.snapshot(ref)),
    deployCanary: async (input) => (await slow(input, 'deployCanary'), fleet.deployCanary(input)),
    setWeight: async (input) => (await slow(input, 'setWeight'), fleet.setWeight(input)),
    promote: async (input) => (await slow(input, 'promote'), fleet.promote(input)),
    restoreTraffic: async (input) => (await slow(input, 'restoreTraffic'), fleet.restoreTraffic(input)),
    restoreWorkload: async (input) => (await slow(input, 'restoreWorkload'), fleet.restoreWorkload(input)),
    readContracts: async (ref) => fleet.readContracts(ref),
    recordContracts: async (input) => fleet.recordContracts(input),
  };
}
