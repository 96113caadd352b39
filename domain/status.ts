import type { FailurePolicy } from './spec';
import type { FlagProvider, FlagSnapshot, FlagSpec, FlagStates } from './flags';
import type { MigrationPhase } from './stateful';
import type { AuditAction } from './vocabulary';

export type RolloutPhase =
  | 'Pending'
  | 'Progressing'
  | 'Paused'
  | 'AwaitingApproval'
  | 'RollingBack'
  | 'Succeeded'
  | 'RolledBack'
  | 'NeedsAttention'
  | 'Failed';

export const TERMINAL_PHASES: readonly RolloutPhase[] = ['Succeeded', 'RolledBack', 'NeedsAttention', 'Failed'];

export type RegionPhase =
  | 'Pending'
  | 'WaitingForWindow'
  | 'WaitingForHealth'
  | 'Progressing'
  | 'Paused'
  | 'AwaitingApproval'
  | 'Inconclusive'
  | 'Baking'
  | 'Promoted'
  | 'Degraded'
  | 'RollingBack'
  | 'RolledBack'
  | 'NeedsAttention'
  | 'Cancelled';

/** Argo Rollouts' measurement vocabulary; Error is a provider fault, not a judgement of the service. */
export type VerdictPhase = 'Successful' | 'Failed' | 'Inconclusive' | 'Error';

/** What a canary-against-stable comparison found (Mann-Whitney U test of canary against stable). */
export interface CompareEffect {
  /** The canary's U statistic: pairs with canary > stable, ties counting one half. */
  u: number;
  /** The p-value the verdict rests on: one-sided in the bad direction, two-sided for `either`. */
  p: number;
  /** (U_canary - U_stable) / (n1 n2), from -1 to 1; positive when the canary tends higher. */
  rankBiserial: number;
  /** Hodges-Lehmann shift of canary against stable: the median of pairwise differences. */
  shift: number;
  canaryMedian: number;
  stableMedian: number;
}

export interface Verdict {
  phase: VerdictPhase;
  metric: string;
  value?: number;
  /** Absolute numbers, relative thresholds already resolved against the baseline. */
  threshold: { max?: number; min?: number };
  reason: string;
  at?: string;
  /** The region's baseline for this metric, measured before any change, when the judgement used one. */
  baseline?: number;
  effect?: CompareEffect;
}

/** What a region ran before the rollout touched it; a rollback restores exactly this. */
export interface KnownGood {
  image: string;
  config: Record<string, string>;
  weight: number;
  capturedAt: string;
  /** Kubernetes targets: the stable Deployment and route as they were; a rollback restores them field for field. */
  kubernetes?: KubernetesSnapshot;
}

export interface KubernetesSnapshot {
  namespace: string;
  deployment: string;
  /** The stable Deployment's `spec.template`, as the API server returned it. */
  template: Record<string, unknown>;
  replicas: number;
  generation: number;
  podTemplateHash?: string;
  /** The HTTPRoute's `spec.rules`, for the gatewayAPI strategy. */
  routeRules?: unknown[];
}

/** A change someone else made to an object Meridian manages, found before Meridian would overwrite it. */
export interface DriftReport {
  /** `Deployment shop/web`, `HTTPRoute shop/web`. */
  object: string;
  /** One line per changed field: `spec.template.spec.containers[app].image: "a" -> "b"`. */
  changes: string[];
  /** Field managers other than Meridian that wrote the object since the rollout started, from managedFields. */
  by: { manager: string; operation: string; time?: string }[];
  detectedAt: string;
}

/**
 * One entry of a region's undo stack. Every kind is idempotent. `revertMigrations` and
 * `reconcileData` are the slots stateful rollouts fill.
 */
export type Undo = UndoKind & {
  /** In a release: the service whose stage pushed it; absent in a one-service rollout. */
  service?: string;
};

type UndoKind =
  | { kind: 'restoreTraffic'; region: string; key: string; weight: number }
  | { kind: 'restoreWorkload'; region: string; key: string; snapshot: KnownGood }
  | {
      kind: 'revertMigrations';
      region: string;
      key: string;
      database: string;
      /** In the order to revert them: newest first. */
      migrationIds: string[];
      /** The schema before the expand; after the revert it must match again (Meridian always records it). */
      fingerprint?: SchemaFingerprint;
    }
  | { kind: 'reconcileData'; region: string; key: string; database: string; recipe: string; windowStart: string }
  /** Every user of the region on the flag's kill switch; a rollback runs these first, in every region touched. */
  | { kind: 'killSwitch'; region: string; key: string; flag: FlagSpec; provider: FlagProvider }
  /** The flag exactly as it was before the rollout's first change to it in the region. */
  | { kind: 'restoreFlag'; region: string; key: string; provider: FlagProvider; snapshot: FlagSnapshot };

/** A database schema as its catalog describes it: one definition per object, and a hash over them all. */
export interface SchemaFingerprint {
  hash: string;
  objects: Record<string, string>;
}

/** What one reconciliation found and fixed; `remaining` is what `verify` still counts. */
export interface ReconcileCounts {
  found: number;
  fixed: number;
  remaining: number;
}

/** One migration as the ledger saw it in a region: run now, or skipped because it was already there. */
export interface MigrationRecord {
  id: string;
  phase: MigrationPhase;
  action: 'applied' | 'reverted' | 'skipped';
  at: string;
}

export type UndoOutcome = 'pending' | 'done' | 'failed';

export interface UndoRecord {
  undo: Undo;
  wave: number;
  outcome: UndoOutcome;
  attempts: number;
  error?: string;
  /** A finished reconcileData: its counts. */
  counts?: ReconcileCounts;
}

export interface SustainedProgress {
  healthyForMs: number;
  requiredMs: number;
  samples: number;
  minSamples: number;
  failures: number;
  inconclusives: number;
}

/** Where a sustained-health analysis stands; the checkpoint a resumed analysis starts from. */
export interface AnalysisProgress {
  /** Running: the chunk ended before a verdict; call again with this progress as checkpoint. */
  outcome: 'Running' | 'Successful' | 'Failed' | 'Inconclusive';
  sustained: SustainedProgress;
  consecutiveErrors: number;
  /** The latest sample's verdicts, one per metric. */
  verdicts: Verdict[];
  reason: string;
  /** Epoch ms of the first healthy sample of the current unbroken healthy run, if any. */
  healthySince?: number;
}

export interface StepRef {
  index: number;
  total: number;
  kind: string;
  description: string;
}

export interface RegionStatus {
  name: string;
  wave: number;
  phase: RegionPhase;
  weight: number;
  step?: StepRef;
  verdicts: Verdict[];
  sustained?: SustainedProgress;
  snapshot?: KnownGood;
  reason?: string;
  waitingUntil?: string;
  /** Set while the region is paused because its objects changed outside Meridian; resume accepts the change. */
  drift?: DriftReport;
  /** Stateful regions: every migration the stage ran or skipped on its database, oldest first. */
  migrations?: MigrationRecord[];
  /** In a release: each service's stage in this region, in dependency order. */
  services?: ServiceStatus[];
  /** Each flag's variant and fraction in this region, as its flag steps last set them. */
  flags?: FlagStates;
}

/** One service's stage in a region of a release. */
export interface ServiceStatus extends Omit<RegionStatus, 'services'> {
  service: string;
  version: string;
  /** The providers and points its canary waits for here, until they are reached. */
  waitsFor?: { service: string; until: string }[];
}

export interface PendingApproval {
  region: string;
  /** In a release: the service whose gate it is. */
  service?: string;
  gate: string;
  since: string;
  timeoutAt?: string;
  approvers?: string[];
  /** Members of these approver groups may approve too. */
  groups?: string[];
  /** Distinct approvers the gate needs, when more than one. */
  approvals?: number;
  /** Only a signed approval counts. */
  signed?: boolean;
  /** The rollout's starter may approve it. */
  allowSelfApproval?: boolean;
  /** Who approved this opening of the gate so far, while it needs more. */
  approvedBy?: string[];
}

export interface AuditEntry {
  at: string;
  actor: string;
  action: AuditAction;
  region?: string;
  /** In a release: the service it concerns. */
  service?: string;
  reason: string;
  data?: Record<string, unknown>;
}

export interface RolloutStatus {
  id: string;
  service: string;
  version: string;
  image: string;
  phase: RolloutPhase;
  failurePolicy: FailurePolicy;
  wave: { index: number; total: number; name: string };
  regions: RegionStatus[];
  pendingApprovals: PendingApproval[];
  compensation: UndoRecord[];
  /** Each region's metric values before any change, by region then metric. */
  baselines: Record<string, Record<string, number>>;
  audit: AuditEntry[];
  reason?: string;
  startedAt: string;
  endedAt?: string;
  /** Rollouts with edges: what each edge sends where now. */
  edges?: EdgeStatus[];
}

/** One edge as the rollout last left it. */
export interface EdgeStatus {
  name: string;
  residency: string;
  /** Percent of the edge's traffic by region, now and as the spec writes it. */
  shares: Record<string, number>;
  normal: Record<string, number>;
  /** Percent of a region's stable traffic copied to its canary. */
  mirrors: Record<string, number>;
  /** Regions Meridian steered away from and has not given their share back yet. */
  drained: string[];
  /** The version of the edge's configuration: the key of Meridian's last change, or what it was before. */
  version: string;
  /** Set while the rollout is paused over a change someone else made to the edge. */
  drift?: string[];
}

export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(x)}`);
}
