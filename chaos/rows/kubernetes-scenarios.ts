import type { RolloutPlan } from '../../domain/plan';
import type { RolloutSpecInput } from '../../domain/spec';
import type { RolloutPhase } from '../../domain/status';
import { formatProblem, validateSpec } from '../../domain/validate';
import type { FaultShares } from '../../testbed/fault-proxy';
import type { RegionEnd } from '../scenarios';

/**
 * R4's rollouts over two test-bed clusters, the first behind the fault proxy: a `web` Deployment of
 * four pods, its Service and an HTTPRoute in a namespace of each rollout's own.
 */

export const OLD_IMAGE = 'registry.chaos/shop/web:1.0.0';
export const NEW_IMAGE = `registry.chaos/shop/web@sha256:${'e4'.repeat(32)}`;
export const REPLICAS = 4;
export const REGIONS = ['eu-west-1', 'us-east-1'] as const;
/** The region whose API server sits behind the proxy. */
export const PROXIED = REGIONS[0];
export const GATE = 'at-25';

/** Share of the proxied region's requests each fault takes: about one in five. */
export const SHARES: FaultShares = { conflict: 0.05, throttle: 0.04, serverError: 0.03, unavailable: 0.03, delay: 0.01, reset: 0.03 };
/** With SHARES, this seed draws every fault kind within its first 20 requests, so even a short run sees each. */
export const CI_SEED = 8;
/** Longer than the Kubernetes client's 15 s timeout (activities/kubernetes/client.ts), so a delayed answer is lost. */
export const DELAY_MS = 16_000;

/** What the proxy answers the rollout's namespace with once its canary holds at the gate. */
export interface Refusal {
  status: 401 | 403;
  verbs?: string[];
  resource?: string;
  /** The activity that must fail for good on it, without a retry. */
  activity: string;
}

export interface KubeScenario {
  name: string;
  strategy: 'replicas' | 'gatewayAPI';
  /** Lines of the spec's `simulation.faults`: a metric breach. */
  faults: string[];
  refusal?: Refusal;
  /**
   * The phase the rollout stops in when refused, before an operator lifts the refusal and retries
   * (undefined: it must end in `phase` on its own).
   */
  stopsIn?: RolloutPhase;
  phase: RolloutPhase;
  regions: Record<string, RegionEnd>;
}

const promoted = { 'eu-west-1': 'new', 'us-east-1': 'new' } as const;
const rolledBackFirst = { 'eu-west-1': 'old', 'us-east-1': 'untouched' } as const;

export const SCENARIOS = {
  gateway: { name: 'gatewayAPI through API faults', strategy: 'gatewayAPI', faults: [], phase: 'Succeeded', regions: promoted },
  replicas: { name: 'replicas through API faults', strategy: 'replicas', faults: [], phase: 'Succeeded', regions: promoted },
  breach: { name: 'breach rolled back through API faults', strategy: 'gatewayAPI', faults: [`${PROXIED}: error_rate 0.3 when weight >= 25`], phase: 'RolledBack', regions: rolledBackFirst },
  forbidden: {
    name: '403 on patch deployments mid-rollout',
    strategy: 'gatewayAPI',
    faults: [],
    refusal: { status: 403, verbs: ['patch'], resource: 'deployments.apps', activity: 'setWeight' },
    phase: 'RolledBack',
    regions: rolledBackFirst,
  },
  unauthorized: {
    name: '401 on everything mid-rollout, credentials restored, retried',
    strategy: 'gatewayAPI',
    faults: [],
    refusal: { status: 401, activity: 'setWeight' },
    stopsIn: 'NeedsAttention',
    phase: 'RolledBack',
    regions: rolledBackFirst,
  },
} satisfies Record<string, KubeScenario>;

export type ScenarioName = keyof typeof SCENARIOS;

type StepInput = RolloutSpecInput['steps'][number];
const analysis: StepInput = { kind: 'analysis', metrics: ['error_rate'], interval: '300ms', sustainedFor: '1s', minSamples: 3 };

export interface KubeTargets {
  kubeconfig: string;
  contexts: Record<string, string>;
}

/** The plan of one rollout of `scenario` in `namespace`, validated as `meridian start` would. */
export function kubePlan(scenario: KubeScenario, service: string, namespace: string, targets: KubeTargets): RolloutPlan {
  const traffic = scenario.strategy === 'gatewayAPI' ? { strategy: 'gatewayAPI' as const, httpRoute: 'web', stableService: 'web' } : { strategy: 'replicas' as const };
  const gate: StepInput[] = scenario.refusal ? [{ kind: 'approval', name: GATE }] : [];
  const input: RolloutSpecInput = {
    service,
    version: '2.0.0',
    image: NEW_IMAGE,
    config: { MODE: 'canary' },
    regions: REGIONS.map((name) => ({
      name,
      target: { kind: 'kubernetes' as const, kubeconfig: targets.kubeconfig, context: targets.contexts[name]!, namespace, deployment: 'web', container: 'app', progressDeadline: '90s', traffic },
    })),
    waves: REGIONS.map((name, i) => ({ name: `wave-${i + 1}`, regions: [name] })),
    metrics: [{ name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 }],
    steps: [{ kind: 'setWeight', weight: 25 }, ...gate, analysis, { kind: 'setWeight', weight: 50 }, analysis],
    bake: '1s',
    simulation: { baseline: { error_rate: 0.004 }, faults: scenario.faults },
  };
  const v = validateSpec(input);
  if (!v.ok) throw new Error(`R4's spec for "${scenario.name}" (${service}) is invalid: ${v.problems.map(formatProblem).join('; ')}`);
  return v.plan;
}
