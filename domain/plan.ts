import type { ContractKind, DeploymentWindow, FailurePolicy, MetricSpec, RegionSpec, ReleaseServiceSpec, RolloutSpec, Step, Target } from './spec';
import { DEFAULT_ALARM_BLOCKER, type AlarmBlocker } from './spec-defaults';
import type { DatabaseSettings, MigrationSpec, ReconciliationSpec } from './stateful';
import { serviceFaults, type ReleasePlan } from './release';
import { targetTraits } from './targets';
import type { EdgePlan } from './edges';
import type { FlagPlan, FlagProvider } from './flags';
import { compileNotifications, type NotificationPlan } from './notifications';
import type { Approver } from './approval-policy';
import { DEFAULT_STEERING } from './spec-defaults';

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
  /** A release of several services: each service's own plan, its dependencies and contracts. Absent for one service. */
  release?: ReleasePlan;
  /** Edges in front of the regions, steered by the rollout; absent when the spec has none, so other plans are unchanged. */
  edges?: EdgePlan;
  /** Feature flags the steps change; absent when the spec has none. */
  flags?: FlagPlan;
  /** Receivers of the rollout's events; absent when the spec has none, so other plans are unchanged. */
  notifications?: NotificationPlan[];
  /** The rollout's approvers and keyring; absent when the spec names neither. */
  approval?: ApprovalPlan;
}

export interface ApprovalPlan {
  approvers: Approver[];
  /** Read by the worker at preflight; a path on the worker's machine. */
  keyring?: string;
  /** Gates that do not say `signed` need a signature: the spec names keys or a keyring. */
  signedByDefault: boolean;
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
function withTargetNamespace(r: RegionSpec & { target: Target }): Record<string, string> {
  const namespace = targetTraits(r.target).namespace;
  return namespace && !r.labels.namespace ? { ...r.labels, namespace } : r.labels;
}

/** Region overrides wave, wave overrides the rollout's defaults; a release compiles each service's plan. */
export function compilePlan(spec: RolloutSpec): RolloutPlan {
  const plan = spec.services ? compileRelease(spec, spec.services) : compileOne(spec);
  return {
    ...plan,
    ...(spec.edges ? { edges: compileEdges(spec, spec.edges) } : {}),
    ...(spec.flags ? { flags: compileFlags(spec, spec.flags) } : {}),
    ...(spec.notifications ? { notifications: compileNotifications(spec.notifications) } : {}),
  };
}

function compileApproval(spec: RolloutSpec): ApprovalPlan {
  const approvers = (spec.approvers ?? []).map((a) => ({ name: a.name, ...(a.key ? { key: a.key } : {}), ...(a.groups.length ? { groups: a.groups } : {}) }));
  return { approvers, ...(spec.keyring ? { keyring: spec.keyring } : {}), signedByDefault: Boolean(spec.keyring) || approvers.some((a) => a.key) };
}

/** Each region's provider (its own, else the rollout's) with `{{region}}` filled in; Unleash's environment defaults to the region's name. */
function compileFlags(spec: RolloutSpec, flags: NonNullable<RolloutSpec['flags']>): FlagPlan {
  const fill = (text: string, region: string) => text.replace(/\{\{region\}\}/g, region);
  const regions: FlagPlan['regions'] = {};
  for (const r of spec.regions) {
    const p = r.flags?.provider ?? spec.flagProvider;
    if (!p) continue;
    const provider: FlagProvider = p.type === 'flagd' ? { type: 'flagd', file: fill(p.file, r.name) } : { ...p, environment: fill(p.environment ?? r.name, r.name) };
    regions[r.name] = { provider, ...(r.flags?.maxFraction !== undefined ? { maxFraction: r.flags.maxFraction } : {}) };
  }
  return {
    flags: flags.map((f) => ({ key: f.key, variants: f.variants, killSwitch: f.killSwitch, defaultVariant: f.defaultVariant ?? f.killSwitch, ...(f.safeWhenOff ? { safeWhenOff: true } : {}) })),
    regions,
    onFailure: spec.onFailure ?? 'rollback',
  };
}

function compileEdges(spec: RolloutSpec, edges: NonNullable<RolloutSpec['edges']>): EdgePlan {
  const steering = spec.steering;
  return {
    edges,
    residency: Object.fromEntries(spec.regions.flatMap((r) => (r.labels.residency ? [[r.name, r.labels.residency]] : []))),
    steering: {
      returnSteps: [...new Set(steering?.returnSteps ?? DEFAULT_STEERING.returnSteps)].sort((a, b) => a - b),
      stepAnalysis: {
        intervalMs: steering?.stepAnalysis.interval ?? DEFAULT_STEERING.stepIntervalMs,
        sustainedForMs: steering?.stepAnalysis.sustainedFor ?? DEFAULT_STEERING.stepSustainedMs,
      },
      driftCheckMs: steering?.driftCheck ?? DEFAULT_STEERING.driftCheckMs,
      policies: steering?.policies ?? [],
    },
  };
}

type TargetedRegion = RegionSpec & { target: Target };

function compileOne(spec: RolloutSpec): RolloutPlan {
  const byName = new Map<string, TargetedRegion>(spec.regions.flatMap((r) => (r.target ? [[r.name, { ...r, target: r.target }]] : [])));
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
    image: spec.image ?? '',
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
    ...(spec.approvers || spec.keyring ? { approval: compileApproval(spec) } : {}),
  };
}

function serviceSimulation(spec: RolloutSpec, service: string): RolloutSpec['simulation'] {
  return spec.simulation && { ...spec.simulation, faults: serviceFaults(spec.simulation.faults, service) };
}

/**
 * A release: each service compiles to a plan of its own over the regions it has a target in (its
 * target there, else the region's), with its steps and bake before the region's and the wave's, and
 * every metric of the release so a service's analysis can judge another's. The rollout's own plan
 * keeps the regions and waves for the parent and names no image of its own.
 */
function compileRelease(spec: RolloutSpec, services: ReleaseServiceSpec[]): RolloutPlan {
  const versionOf = (name: string | undefined) => services.find((x) => x.name === name)?.version ?? spec.version;
  const owned = [...spec.metrics, ...services.flatMap((svc) => svc.metrics.map((m) => ({ ...m, service: m.service ?? svc.name })))];
  const metrics = owned.map((m) => ({ ...m, serviceVersion: versionOf(m.service) }));
  const release: ReleasePlan = {
    externalContracts: spec.externalContracts,
    services: services.map((svc) => {
      const regions = spec.regions.flatMap((r) => {
        const target = svc.targets[r.name] ?? r.target;
        return target ? [{ ...r, target, steps: svc.steps ?? r.steps, bake: svc.bake ?? r.bake }] : [];
      });
      const names = new Set(regions.map((r) => r.name));
      const plan = compileOne({
        ...spec,
        service: svc.name,
        version: svc.version ?? spec.version,
        image: svc.image,
        config: svc.config,
        regions,
        waves: spec.waves.map((w) => ({ ...w, regions: w.regions.filter((n) => names.has(n)), steps: svc.steps ?? w.steps, bake: svc.bake ?? w.bake })),
        steps: svc.steps ?? spec.steps,
        bake: svc.bake ?? spec.bake,
        metrics,
        migrations: svc.migrations,
        reconciliations: svc.reconciliations,
        simulation: serviceSimulation(spec, svc.name),
        services: undefined,
      });
      return {
        name: svc.name,
        dependsOn: svc.dependsOn,
        contracts: {
          provides: svc.provides.map((c) => ({
            contract: c.contract,
            kind: c.kind,
            files: c.files,
            ...(c.entry ? { entry: c.entry } : {}),
            ...(c.running ? { running: { contract: c.contract, kind: c.kind, files: c.running.files, ...(c.running.entry ? { entry: c.running.entry } : {}) } } : {}),
          })),
          consumes: svc.consumes.map((c) => ({ contract: c.contract, kind: kindOf(services, c.contract), files: c.files ?? {}, ...(c.entry ? { entry: c.entry } : {}) })),
        },
        plan,
      };
    }),
  };
  const first = (region: string) => release.services.map((s) => s.plan.regions[region]?.target).find(Boolean);
  const regions = spec.regions.map((r) => ({ ...r, target: r.target ?? first(r.name)! }));
  const top = compileOne({ ...spec, regions, metrics, image: release.services.map((s) => `${s.name} ${s.plan.version}`).join(', '), migrations: [], reconciliations: [], services: undefined });
  return { ...top, release };
}

/** A consumed contract's kind: its provider's in the release, else the first kind (an external contract carries no files to check). */
function kindOf(services: ReleaseServiceSpec[], contract: string): ContractKind {
  return services.flatMap((s) => s.provides).find((p) => p.contract === contract)?.kind ?? 'protobuf';
}
