/**
 * Edges: the global entry points in front of the regions. An edge sends each request to one of its
 * regions by share; Meridian steers shares away from a region that goes bad and back once it is
 * healthy, within the edge's residency.
 */

/** One region behind an edge: where the edge reaches it, and its normal share of the edge's traffic. */
export interface EdgeRoute {
  region: string;
  /** Percent of the edge's traffic, 0..100; an edge's normal shares add up to 100. */
  share: number;
  /** The region's stable ingress as the edge reaches it: `host:port`. */
  address: string;
  /** The region's canary ingress, for mirror steps: `host:port`. */
  canaryAddress?: string;
}

export interface EnvoyEdgeProvider {
  type: 'envoy';
  /** Envoy's admin interface: `http://127.0.0.1:9901`. */
  admin: string;
  /** The directory Envoy watches for its dynamic configuration (CDS, EDS, RDS files). */
  configDir: string;
}

export type EdgeProvider = EnvoyEdgeProvider;

export interface EdgeSpec {
  name: string;
  provider: EdgeProvider;
  /** The residency the edge serves (`eu`, `us`): it may only route to regions labelled with it. */
  residency: string;
  routes: EdgeRoute[];
  /** Regions of another residency this edge may route to, each with the reason someone allowed it. */
  crossResidency?: { region: string; reason: string }[];
  /**
   * The least share of the edge's normal traffic that must stay on healthy regions of its residency
   * after a drain, in percent; a drain that would go below holds the rollout for a person.
   */
  minHealthyShare: number;
}

/** A rule over the planned edge configuration, in CEL; `message` says what a failure means. */
export interface EdgePolicy {
  name: string;
  rule: string;
  message?: string;
}

/** What an edge sends where right now: shares by region, and mirrors by region (percent of its stable traffic). */
export interface EdgeShares {
  shares: Record<string, number>;
  mirrors?: Record<string, number>;
}

/** How the rollout steers its edges, with the spec's defaults filled in. */
export interface SteeringPlan {
  /** Percents of a returning region's normal share, one edge change each; 100 comes last. */
  returnSteps: number[];
  /** The analysis after each return step: the region's analysis metrics, every `intervalMs` for `sustainedForMs`. */
  stepAnalysis: { intervalMs: number; sustainedForMs: number };
  driftCheckMs: number;
  /** The spec's own rules, checked after the built-in ones on every planned configuration. */
  policies: EdgePolicy[];
}

/** A rollout's edges as its workflow runs them. */
export interface EdgePlan {
  edges: EdgeSpec[];
  /** Each region's `residency` label; a region without one is of no residency. */
  residency: Record<string, string>;
  steering: SteeringPlan;
}

/** The edges that send traffic to `region`. */
export function edgesOf(plan: EdgePlan, region: string): EdgeSpec[] {
  return plan.edges.filter((e) => e.routes.some((r) => r.region === region));
}
