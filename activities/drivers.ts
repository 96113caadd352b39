import type { RecordedContracts } from '../domain/recorded-contracts';
import type { Target } from '../domain/spec';
import type { KnownGood } from '../domain/status';
import { FAILURE } from '../domain/vocabulary';
import { simulatedDriver } from './fleet/driver';
import type { SimulatedFleet } from './fleet/fleet';
import { kubernetesDriver } from './kubernetes/driver';
import { createRegistry } from './registry';
import type { DeployInput, PreflightProblem, RegionRef, WeightInput } from './types';

/**
 * What Meridian does to one region's workload and traffic; one implementation per `target.kind`.
 * Every change is keyed by `ref.key` and idempotent: a repeat with the same key changes nothing.
 */
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
  /** The contracts recorded when Meridian last promoted `ref.service` in `ref.region`; undefined when none were. Kept with the target. */
  readContracts?(ref: RegionRef): Promise<RecordedContracts | undefined>;
  /**
   * Keeps `record` as the region's recorded contracts, with `key` beside it: the same key again
   * changes nothing, any other key replaces the record. A malformed record, or one that names
   * another service or region than `ref`, fails non-retryable.
   */
  recordContracts?(input: RegionRef & { record: RecordedContracts }): Promise<void>;
}

/** The driver of every target kind, one line each. */
export function registeredDrivers(fleet: SimulatedFleet): TargetDriver[] {
  return [simulatedDriver(fleet), kubernetesDriver()];
}

/** The drivers by the kind of target they take. */
export interface DriverRegistry {
  kinds(): string[];
  /** The target's driver; an unknown kind throws a non-retryable `UnknownTargetKind` failure that names the known kinds. */
  of(target: Target): TargetDriver;
  /** Why no driver takes this target, for preflight; undefined when one does. */
  missing(target: Target): string | undefined;
}

export function createDriverRegistry(drivers: TargetDriver[]): DriverRegistry {
  const registry = createRegistry(drivers, (d) => d.kind, { noun: 'target kind', failureType: FAILURE.unknownTargetKind });
  return {
    kinds: () => registry.keys(),
    of: (target) => registry.get(target.kind),
    missing: (target) =>
      registry.has(target.kind) ? undefined : `target kind "${target.kind}" has no driver (known: ${registry.keys().join(', ')})`,
  };
}
