import type { ReleaseContractsInput } from './release-contracts';
import type { AnalysisStep, MetricSpec, Target } from '../domain/spec';
import type { AnalysisProgress, KnownGood, SchemaFingerprint, Verdict } from '../domain/status';
import type { ApplyMigrationsInput, MigrationsResult, RevertMigrationsInput } from './postgres/migrations';
import type { ReconcileInput, ReconcileResult } from './postgres/reconcile';
import type { EdgeActivities } from './edges/activities';
import type { FlagActivities } from './flags/activities';
import type { NotificationActivities } from './notifications/deliver';

export type { AnalysisProgress };

/** Names every activity call carries; never secrets. `key` makes a mutating call idempotent. */
export interface RegionRef {
  rolloutId: string;
  service: string;
  region: string;
  target: Target;
  /** rollout id + region + step: a repeat with the same key changes nothing. */
  key: string;
}

export interface PreflightInput {
  rolloutId: string;
  service: string;
  image: string;
  regions: { name: string; target: Target }[];
  metrics: MetricSpec[];
  simulation?: { faults: string[]; baseline: Record<string, number> };
}

import type { PinApproversInput, PinnedApprovers } from './approvers';

export interface PreflightProblem {
  region?: string;
  message: string;
}

export interface DeployInput extends RegionRef {
  image: string;
  config: Record<string, string>;
  /** The region's known-good, for drivers that put parts of it back on promote (a route's rules). */
  snapshot?: KnownGood;
  /** An operator resumed after drift: go on over the changed objects instead of stopping. */
  acceptDrift?: boolean;
}

export interface WeightInput extends RegionRef {
  weight: number;
  acceptDrift?: boolean;
}


export interface AnalysisInput extends RegionRef {
  version: string;
  step: AnalysisStep;
  metrics: MetricSpec[];
  simulation?: { faults: string[]; baseline: Record<string, number> };
  /** This region's baselines, for thresholds relative to them. */
  baselines?: Record<string, number>;
  /** The region's namespace label, for `{{namespace}}` in queries. */
  namespace?: string;
  /** Resume point from a previous chunk or a retried attempt. */
  progress?: AnalysisProgress;
  /** The activity returns `Running` after this much wall time, which bounds history per region-hour. */
  chunkMs: number;
}

/** Each region's metric values before any change, by region then metric: what `baseline * 1.2` refers to. */
export type Baselines = Record<string, Record<string, number>>;

export interface BaselineInput {
  rolloutId: string;
  service: string;
  version: string;
  regions: { name: string; target: Target; namespace?: string }[];
  metrics: MetricSpec[];
}

export interface HealthCheckInput extends RegionRef {
  version: string;
  metrics: MetricSpec[];
  baselines?: Record<string, number>;
  namespace?: string;
}

export type { ApplyMigrationsInput, MigrationsResult, ReconcileInput, ReconcileResult, RevertMigrationsInput };

export interface RevertAndCheckInput extends RevertMigrationsInput {
  /** The fingerprint taken before the expand; the schema must match it again after the revert. */
  expected?: SchemaFingerprint;
}

/** Stateful rollouts: databases are named, and the worker resolves each name to a connection. */
export interface StatefulActivities {
  schemaFingerprint(input: { database: string }): Promise<SchemaFingerprint>;
  applyMigrations(input: ApplyMigrationsInput): Promise<MigrationsResult>;
  /** Undo: `down` in the order given, then the fingerprint check; a mismatch fails with the difference. */
  revertMigrations(input: RevertAndCheckInput): Promise<MigrationsResult & { fingerprint?: string }>;
  /** Undo: fixes the canary window's rows in keyed batches, heartbeating its checkpoint; fails when verify is not 0. */
  reconcileData(input: ReconcileInput): Promise<ReconcileResult>;
}

export interface RolloutActivities extends StatefulActivities, EdgeActivities, FlagActivities, NotificationActivities {
  preflight(input: PreflightInput): Promise<PreflightProblem[]>;
  /** The approvers, keys and groups a rollout's gates trust, from its spec, its keyring and the worker's. */
  pinApprovers(input: PinApproversInput): Promise<PinnedApprovers>;
  snapshotRegion(input: RegionRef): Promise<KnownGood>;
  deployCanary(input: DeployInput): Promise<void>;
  setWeight(input: WeightInput): Promise<void>;
  promote(input: DeployInput): Promise<void>;
  /** Undo: traffic back to the recorded weight. */
  restoreTraffic(input: RegionRef & { weight: number }): Promise<void>;
  /** Undo: the recorded known-good workload, canary removed, recorded weight. */
  restoreWorkload(input: RegionRef & { snapshot: KnownGood }): Promise<void>;
  runAnalysis(input: AnalysisInput): Promise<AnalysisProgress>;
  /** The stable version's metrics in every region, before any change. Regions or metrics without data are left out. */
  measureBaselines(input: BaselineInput): Promise<{ baselines: Baselines; notes: string[] }>;
  /** The running (stable) version's health in one region, judged against the metrics' thresholds. */
  checkHealth(input: HealthCheckInput): Promise<Verdict[]>;
  /** A release's contract checks against what each region runs now; problems refuse the release before any change. */
  checkContracts(input: ReleaseContractsInput): Promise<PreflightProblem[]>;
  /** Records what each service of a release now runs in the given regions, for the next release's checks. */
  recordContracts(input: ReleaseContractsInput & { regions: string[] }): Promise<void>;
}
