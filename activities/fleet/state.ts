import { TRAFFIC_CUT_KEY_SUFFIX } from '../../domain/compensation';
import type { Fault, FaultCall } from '../../domain/faults';
import type { RecordedContracts } from '../../domain/recorded-contracts';
import type { KnownGood } from '../../domain/status';

export interface Workload {
  image: string;
  config: Record<string, string>;
}

export const FLEET_OPS = ['snapshot', 'deployCanary', 'setWeight', 'promote', 'restoreTraffic', 'restoreWorkload'] as const;
export type FleetOp = (typeof FLEET_OPS)[number];

const CALL: Record<FleetOp, FaultCall> = {
  snapshot: 'snapshot',
  deployCanary: 'deploy',
  setWeight: 'setWeight',
  promote: 'promote',
  restoreTraffic: 'restoreTraffic',
  restoreWorkload: 'restoreWorkload',
};

/** The call a fault sees: the operation, with a restoreTraffic under the traffic cut's key told apart as the cut. */
export function faultCall(op: FleetOp, key: string): FaultCall {
  return op === 'restoreTraffic' && key.endsWith(TRAFFIC_CUT_KEY_SUFFIX) ? 'cutTraffic' : CALL[op];
}

/** One call to a region. `noop`: the key was applied before; `failed`: a scripted fault fired. */
export interface JournalEntry {
  key: string;
  op: FleetOp;
  effect: 'applied' | 'noop' | 'failed';
  at: string;
  /** Canary weight after the call. */
  weight: number;
  /** What a snapshot captured, so a repeated key returns the same known-good. */
  snapshot?: KnownGood;
  error?: string;
}

export interface RegionState {
  stable: Workload;
  canary: Workload | null;
  /** Percent of traffic on the new version. */
  weight: number;
  journal: JournalEntry[];
}

/** What preflight registered for a rollout: its faults (with remaining counts) and baseline metrics. */
export interface RolloutSimulation {
  faults: Fault[];
  baseline: Record<string, number>;
  image?: string;
}

/** A region's recorded contracts and the key they were recorded under. */
export interface ContractsEntry {
  key: string;
  at: string;
  record: RecordedContracts;
}

export interface RegionView extends RegionState {
  service: string;
  name: string;
}

/** `registry/shop/checkout@sha256:...` or `registry/shop/checkout:2.4.0` -> `registry/shop/checkout`. */
export function imageRepo(image: string): string {
  const bare = image.split('@')[0]!;
  const colon = bare.lastIndexOf(':');
  return colon > bare.lastIndexOf('/') ? bare.slice(0, colon) : bare;
}
