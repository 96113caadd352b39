import type { Target } from './spec';

/** A workload as a spec states it: an image and its environment. */
export interface DeclaredWorkload {
  image: string;
  config: Record<string, string>;
}

/**
 * What the workflow and the activities need to know about a target kind, so neither branches on
 * `target.kind`. A new target kind is one schema arm in `spec.ts`, one entry here, one driver and
 * one registry line in `activities/drivers.ts`.
 */
export interface TargetTraits {
  /**
   * A change waits inside its activity until the target reports it done, heartbeating as it goes;
   * its time limit follows this deadline. Absent: changes return at once.
   */
  progressDeadlineMs?: number;
  /** The driver puts parts of the known-good back on promote (a route's rules), so promote carries the snapshot. */
  promoteNeedsSnapshot: boolean;
  /** The namespace a region runs in, for `{{namespace}}` in queries when its labels name none. */
  namespace?: string;
  /** A per-region image (a regional mirror) that replaces the rollout's image in this region. */
  image?: string;
  /** What the region runs before the rollout, when the spec states it rather than the target reporting it. */
  initial?: DeclaredWorkload;
  /** The target is the simulated fleet itself; simulated metrics of any other target follow its weight. */
  simulated: boolean;
}

type TraitsOf = { [K in Target['kind']]: (target: Extract<Target, { kind: K }>) => TargetTraits };

const TRAITS: TraitsOf = {
  simulated: (t) => ({ promoteNeedsSnapshot: false, simulated: true, ...(t.initial ? { initial: t.initial } : {}) }),
  kubernetes: (t) => ({
    progressDeadlineMs: t.progressDeadline,
    promoteNeedsSnapshot: true,
    namespace: t.namespace,
    image: t.image,
    simulated: false,
  }),
};

/** Throws for a kind this build does not know; preflight reports such a region before anything asks. */
export function targetTraits(target: Target): TargetTraits {
  const traits = TRAITS[target.kind] as ((t: Target) => TargetTraits) | undefined;
  if (!traits) throw new Error(`target kind "${target.kind}" has no traits (known: ${Object.keys(TRAITS).join(', ')})`);
  return traits(target);
}
