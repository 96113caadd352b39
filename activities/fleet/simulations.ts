import { parseFault, type Fault } from '../../domain/faults';
import { targetTraits } from '../../domain/targets';
import type { AnalysisInput, PreflightInput } from '../types';
import type { SimulatedFleet } from './fleet';

/** Rollout ids this process has registered; past this many the oldest are forgotten (registering again is harmless). */
const REMEMBERED = 10_000;

/**
 * Each rollout's scripted simulation (faults with their remaining counts, baseline metrics) in the
 * fleet. Preflight registers it, replacing any earlier registration. The fleet's file keeps it, so
 * a worker restarted on the same file finds it; a worker that never saw the preflight (one on
 * another fleet file) registers it from the analysis input, once per rollout in this process, and
 * keeps a registration the fleet already has so fault counts survive.
 */
export class RolloutSimulations {
  private readonly registered = new Set<string>();

  private readonly fleet: SimulatedFleet;

  constructor(fleet: SimulatedFleet) {
    this.fleet = fleet;
  }

  /** After a preflight without problems: registers the rollout and brings its simulated regions into the fleet. */
  start(input: PreflightInput, faults: Fault[]): void {
    this.fleet.registerRollout(input.rolloutId, { faults, baseline: input.simulation?.baseline ?? {}, image: input.image });
    for (const r of input.regions) {
      if (targetTraits(r.target).simulated) this.fleet.seedRegion(input.service, r.name, r.target, input.image);
    }
    this.remember(input.rolloutId);
  }

  /** Before an analysis samples simulated metrics: the rollout's simulation is in the fleet. */
  ensure(input: Pick<AnalysisInput, 'rolloutId' | 'simulation'>): void {
    if (!input.simulation || this.registered.has(input.rolloutId)) return;
    const faults = input.simulation.faults.map(parseFault).filter((f): f is Fault => !('error' in f));
    this.fleet.registerRollout(input.rolloutId, { faults, baseline: input.simulation.baseline }, { keepExisting: true });
    this.remember(input.rolloutId);
  }

  private remember(rolloutId: string): void {
    this.registered.delete(rolloutId);
    this.registered.add(rolloutId);
    if (this.registered.size > REMEMBERED) this.registered.delete(this.registered.values().next().value!);
  }
}
