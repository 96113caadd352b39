import type { DeploymentWindow, FailurePolicy, MetricSpec, RegionSpec, RolloutSpec, Step, Target } from './spec';
import { DEFAULT_ALARM_BLOCKER, type AlarmBlocker } from './spec-defaults';
import type { DatabaseSettings, MigrationSpec, ReconciliationSpec } from './stateful';
import { targetTraits } from './targets';

/** One region's resolved stage: the steps and bake that apply to it after wave and region overrides. */
export interface RegionPlan {
  name: string;
  wave: number;
  target: Target;
  labels: Record<string, string>;
  windows: DeploymentWindow[];
  steps: Step[];
  bakeMs: number;
  /** The database name its migrations and reconciliations run on; the worker resolves it. */
  database?: string;
}

export interface WavePlan {
  index: number;
  name: string;
  regions: string[];
  maxParallel: number;
}

/**
 * What a rollout workflow executes. Compiled from a validated spec on the client side, so the
 * workflow never parses text and its input is already normalized.
 */
export interface RolloutPlan {
  service: string;
  version: string;
  image: string;
  config: Record<string, string>;
  failurePolicy: FailurePolicy;
  waves: WavePlan[];
  regions: Record<string, RegionPlan>;
  metrics: Record<string, MetricSpec>;
  simulation?: { faults: string[]; baseline: Record<string, number> };
  /** How long a region already unhealthy before any change may hold its wave, and how often it is checked. */
  alarmBlocker?: AlarmBlocker;
  /** Stateful rollouts: present only when the spec has them, so a stateless plan is unchanged. SQL text is already read from files. */
  migrations?: MigrationSpec[];
  database?: DatabaseSettings;
  reconciliations?: ReconciliationSpec[];
}

/** A region whose stage touches its database: it names one and the rollout has migrations or reconciliations. */
export function isStateful(plan: RolloutPlan, region: string): boolean {
  return Boolean(plan.regions[region]?.database) && ((plan.migrations?.length ?? 0) > 0 || (plan.reconciliations?.length ?? 0) > 0);
}

export { DEFAULT_ALARM_BLOCKER, type AlarmBlocker };

/** The metrics a region's analysis steps judge: the ones its health is checked on before it changes. */
export function regionMetrics(plan: RolloutPlan, region: string): MetricSpec[] {
  const names = new Set(plan.regions[region]!.steps.flatMap((s) => (s.kind === 'analysis' ? s.metrics : [])));
  return [...names].map((n) => plan.metrics[n]!).filter(Boolean);
}

/** A region fills `{{namespace}}` from its target's namespace unless a label says otherwise. */
function withTargetNamespace(r: RegionSpec): Record<string, string> {
  const namespace = targetTraits(r.target).namespace;
  return namespace && !r.labels.namespace ? { ...r.labels, namespace } : r.labels;
}

/** Region overrides wave, wave overrides the rollout's defaults. */
export function compilePlan(spec: RolloutSpec): RolloutPlan {
  const byName = new Map<string, RegionSpec>(spec.regions.map((r) => [r.name, r]));
  const regions: Record<string, RegionPlan> = {};
  const waves: WavePlan[] = spec.waves.map((w, index) => {
    for (const regionName of w.regions) {
      const r = byName.get(regionName);
      if (!r) continue;
      regions[regionName] = {
        name: regionName,
        wave: index,
        target: r.target,
        labels: withTargetNamespace(r),
        windows: r.windows ?? [],
        steps: r.steps ?? w.steps ?? spec.steps,
        bakeMs: r.bake ?? w.bake ?? spec.bake,
        ...(r.database ? { database: r.database } : {}),
      };
    }
    return {
      index,
      name: w.name ?? `wave-${index + 1}`,
      regions: [...w.regions],
      maxParallel: w.maxParallel ?? w.regions.length,
    };
  });
  return {
    service: spec.service,
    version: spec.version,
    image: spec.image,
    config: spec.config,
    failurePolicy: spec.failurePolicy,
    waves,
    regions,
    metrics: Object.fromEntries(spec.metrics.map((m) => [m.name, m])),
    simulation: spec.simulation,
    alarmBlocker: spec.alarmBlocker && { timeoutMs: spec.alarmBlocker.timeout, intervalMs: spec.alarmBlocker.interval },
    ...(spec.migrations?.length ? { migrations: spec.migrations } : {}),
    ...(spec.database ? { database: spec.database } : {}),
    ...(spec.reconciliations?.length ? { reconciliations: spec.reconciliations } : {}),
  };
}
