import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultOp } from '../domain/faults';
import type { Target } from '../domain/spec';
import { createRegistry, type Registry } from './registry';
import type { KnownGood } from '../domain/status';
import type { SimulatedFleet } from './fleet/fleet';
import type { DeployInput, PreflightProblem, RegionRef, WeightInput } from './types';

/** What Meridian does to one region's workload and traffic; one implementation per `target.kind`. */
export interface TargetDriver {
  kind: string;
  /** Checks one region before any change in any region; problems name what is wrong and where. */
  preflight?(input: { region: string; target: Target }): Promise<PreflightProblem[]>;
  snapshot(ref: RegionRef): Promise<KnownGood>;
  deployCanary(input: DeployInput): Promise<void>;
  setWeight(input: WeightInput): Promise<void>;
  promote(input: DeployInput): Promise<void>;
  restoreTraffic(input: RegionRef & { weight: number }): Promise<void>;
  restoreWorkload(input: RegionRef & { snapshot: KnownGood }): Promise<void>;
}

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

export type DriverRegistry = Registry<TargetDriver>;

export function createDriverRegistry(drivers: TargetDriver[]): DriverRegistry {
  return createRegistry(drivers, (d) => d.kind, { noun: 'target kind', failureType: 'UnknownTargetKind' });
}
