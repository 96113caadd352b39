import type { EdgeShares } from './edges';
import type { DriftReport, ReconcileCounts, Undo, Verdict } from './status';
import type { HoldNumbers, HoldReason } from './steering';
import type { SignatureEvidence } from './approval-policy';

/**
 * Meridian's vocabulary, defined once: every audit action and every failure type a workflow or an
 * activity ends with. Tests and rendering read these, never the reason text beside them.
 */

export const AUDIT_ACTIONS = [
  // the rollout
  'started',
  'approvers-pinned',
  'baselines',
  'wave',
  'region-promoted',
  'region-failed',
  'hold',
  'rerun',
  'contract',
  'contract-failed',
  'contracts-unrecorded',
  'migrate',
  'needs-attention',
  'command-undelivered',
  // operator commands, and their refusals when they came as signals
  'approve',
  'abort',
  'pause',
  'resume',
  'retry',
  'approve-ignored',
  'abort-ignored',
  'pause-ignored',
  'resume-ignored',
  'retry-ignored',
  // a region stage
  'window-wait',
  'blocked',
  'health-clear',
  'snapshot',
  'schema-fingerprint',
  'deploy-canary',
  'set-weight',
  'approved',
  'approval-timeout',
  'analysis-passed',
  'analysis-failed',
  'analysis-inconclusive',
  'analysis-resumed',
  'analysis-retried',
  'drift',
  'drift-accepted',
  'promoted',
  'stage-error',
  // a release's region: one service's stage starts after its providers, or fails the region
  'service-start',
  'service-failed',
  // compensation
  'traffic-cut',
  'traffic-cut-failed',
  'rollback',
  'undo',
  'undo-failed',
  // edges
  'edge-snapshot',
  'steer-away',
  'steer-held',
  'steer-back',
  'steer-back-stopped',
  'mirror',
  'edge-refused',
  'edge-restore',
  'edge-drift',
  'edge-drift-accepted',
  // flags
  'flag',
  'flag-snapshot',
  // notifications
  'notification-failed',
  // the end
  'preflight-failed',
  'succeeded',
  'rolled-back',
  'failed',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** The refusal a command that came as a signal leaves in the audit trail. */
export function ignoredAction(command: 'approve' | 'abort' | 'pause' | 'resume' | 'retry'): AuditAction {
  return `${command}-ignored`;
}

/** Failure types (ApplicationFailure.type) of Meridian's workflows and activities. */
export const FAILURE = {
  // a region stage ends with these; the rollout reads them to choose its reaction
  analysisFailed: 'AnalysisFailed',
  approvalTimedOut: 'ApprovalTimedOut',
  regionCancelled: 'RegionCancelled',
  regionError: 'RegionError',
  unhealthyBeforeChange: 'UnhealthyBeforeChange',
  // a rollout ends with these
  preflightFailed: 'PreflightFailed',
  rolledBack: 'RolledBack',
  rolloutFailed: 'RolloutFailed',
  contractAbandoned: 'ContractAbandoned',
  // drivers and activities
  /** A target or a flag differs from what Meridian last left there; the details carry the DriftReport. */
  drift: 'Drift',
  /** A Deployment did not become ready: ProgressDeadlineExceeded, or the target's progress deadline passed. */
  deploymentStalled: 'DeploymentStalled',
  /** A restore was given a snapshot that lacks the part its driver restores. */
  snapshotMissing: 'SnapshotMissing',
  unknownTargetKind: 'UnknownTargetKind',
  unknownMetricProvider: 'UnknownMetricProvider',
  // Kubernetes; an API error is KUBE_FAILURE_PREFIX and its status (below)
  /** The kubeconfig a target names, or KUBECONFIG, is not on the worker. */
  kubeconfigMissing: 'KubeconfigMissing',
  /** The kubeconfig has no such context, or the context names no cluster. */
  kubeContextMissing: 'KubeContextMissing',
  // PostgreSQL
  /** The worker lacks a database's connection URL, or it is not a postgres:// URL. */
  databaseNotConfigured: 'DatabaseNotConfigured',
  /** A migration's statement failed; retryable when the SQL error is transient. */
  migrationFailed: 'MigrationFailed',
  /** A migration ran but left an INVALID index, so it is not recorded in the ledger. */
  migrationIncomplete: 'MigrationIncomplete',
  /** An applied migration's SQL no longer matches the checksum in the ledger. */
  migrationChanged: 'MigrationChanged',
  /** A migration's `file` cannot be read. */
  migrationFileMissing: 'MigrationFileMissing',
  /** An undo names a migration that is not in the rollout's migrations. */
  migrationUnknown: 'MigrationUnknown',
  /** The schema after reverting differs from its fingerprint before the expand. */
  schemaMismatch: 'SchemaMismatch',
  /** A reconciliation's statement failed, or its verify did not return a count. */
  reconciliationFailed: 'ReconciliationFailed',
  /** A reconciliation ran, but its verify still counts rows wrong. */
  reconciliationIncomplete: 'ReconciliationIncomplete',
  /** An undo names a reconciliation recipe that is not in the rollout's reconciliations. */
  recipeUnknown: 'RecipeUnknown',
  // simulated fleet
  /** A fault the simulated fleet was told to inject; retryable, like a real outage. */
  simulatedFault: 'SimulatedFault',
  // a release's contracts
  /** A contract version that cannot be checked as written: bad paths, or a file that does not compile. */
  contractInvalid: 'ContractInvalid',
  /** The checker itself failed: not found, timed out, or exited with an error of its own. */
  contractCheckFailed: 'ContractCheckFailed',
  /** The record given to `recordContracts` is not a valid record for its region. */
  recordedContractsInvalid: 'RecordedContractsInvalid',
  /** What a target holds as the record cannot be read back as one. */
  recordedContractsMalformed: 'RecordedContractsMalformed',
  /** The record does not fit where the target keeps it. */
  recordedContractsTooLarge: 'RecordedContractsTooLarge',
  // edges
  /** An edge's configuration differs from what Meridian last left there. */
  edgeDrift: 'EdgeDrift',
  /** A planned edge configuration fails a policy; nothing was written. */
  edgePolicyRefused: 'EdgePolicyRefused',
  /** A mirror step could not change the region's edges. */
  mirrorFailed: 'MirrorFailed',
  unknownEdgeProvider: 'UnknownEdgeProvider',
  /** An edge's configuration files are not all there: its bootstrap was never written. */
  edgeNotConfigured: 'EdgeNotConfigured',
  /** Shares or mirrors for a region the edge does not route to, outside 0..100, or a mirror without a canary. */
  invalidEdgeRouting: 'InvalidEdgeRouting',
  /** Envoy refused a configuration file Meridian wrote (its update_rejected counter went up). */
  edgeConfigRejected: 'EdgeConfigRejected',
  // flags
  /** The worker lacks the directory of the flagd flag files. */
  flagProviderMisconfigured: 'FlagProviderMisconfigured',
  unknownFlagProvider: 'UnknownFlagProvider',
  /** A flag change names a variant the flag lacks, or a fraction outside 0..100 percent. */
  invalidFlagChange: 'InvalidFlagChange',
  /** A flag snapshot that does not fit the provider or flag it is restored into. */
  invalidFlagSnapshot: 'InvalidFlagSnapshot',
  /** A flagd flag file is not there. */
  flagFileMissing: 'FlagFileMissing',
  /** The Unleash project has no environment of the provider's name. */
  flagEnvironmentMissing: 'FlagEnvironmentMissing',
  /** Unleash has no token from the worker, or refused it (401, 403). */
  flagProviderUnauthorized: 'FlagProviderUnauthorized',
  /** Unleash could not be reached, answered 5xx, 408 or 429, or lacks a flag it just created; it is retried. */
  flagProviderUnavailable: 'FlagProviderUnavailable',
  /** Unleash refused a request for good (another 4xx). */
  flagProviderRejected: 'FlagProviderRejected',
  // notifications
  /** A receiver refused a delivery for good (a 4xx other than 408 and 429, a redirect). */
  notificationRejected: 'NotificationRejected',
  /** A delivery got no answer, or a 5xx, 408 or 429; it is retried. */
  notificationUndelivered: 'NotificationUndelivered',
  /** The worker lacks the secret a receiver's `secretEnv` names. */
  notificationMisconfigured: 'NotificationMisconfigured',
} as const;

export type FailureType = (typeof FAILURE)[keyof typeof FAILURE];

/** Kubernetes API errors carry `Kube` and the HTTP status (`Kube403`, `Kube404`), or `KubeError` without one. */
export const KUBE_FAILURE_PREFIX = 'Kube';

/** An analysis step's outcome: the weight it judged at, each metric's value, and every verdict. */
interface AnalysisData {
  weight: number;
  values: Record<string, number | undefined>;
  verdicts: Verdict[];
}

/** The verdict a failed or inconclusive analysis ended on. */
interface DecidingVerdict extends AnalysisData {
  metric: string;
  value?: number;
  threshold: Verdict['threshold'];
}

/**
 * The data an audit entry carries where a decision was taken, by action. Rendering and tests read
 * these fields; the reason beside them is written for people and may change.
 */
export interface AuditData {
  'set-weight': { weight: number };
  /** `approvers`: every distinct approver when the gate needed more than one. */
  approved: { gate: string; approver: string; approvers?: string[] };
  /**
   * An accepted approval. `count` of `needed` distinct approvers so far; `signature` when it was
   * signed, enough to verify it again from the history alone; `selfApproval` when the rollout's
   * starter approved a gate that allows it.
   */
  approve: { gate: string; approver: string; service?: string; count?: number; needed?: number; signature?: SignatureEvidence; selfApproval?: true };
  /** The approvers and keys a rollout's gates trust, pinned before any region starts. */
  'approvers-pinned': { approvers: { name: string; fingerprint?: string; groups?: string[] }[]; keyring?: string; enforced: boolean };
  'approval-timeout': { gate: string; timeoutMs: number; onTimeout: 'proceed' | 'abort' };
  /** `metric`, `value`, `threshold`: the verdict the step failed on. */
  'analysis-failed': DecidingVerdict;
  'analysis-passed': AnalysisData;
  /** `metric`, `value`, `threshold`: the verdict that left the step without a judgement. */
  'analysis-inconclusive': DecidingVerdict;
  'analysis-resumed': { via: 'resume' | 'retry' };
  'analysis-retried': { via: 'resume' | 'retry' };
  'window-wait': { waitMs: number; until: string };
  blocked: { verdicts: Verdict[]; timeoutMs: number };
  'health-clear': { verdicts: Verdict[] };
  'deploy-canary': { image: string };
  promoted: { image: string };
  drift: DriftReport;
  'drift-accepted': { object: string };
  'stage-error': { failure: FailureType };
  'region-failed': { failure?: FailureType };
  abort: { reason: string; alreadyRollingBack?: boolean };
  'undo-failed': { undo: Undo['kind']; attempts: number; error: string };
  /** `tookMs`: a kill switch's time until its provider had it. */
  undo: { undo: Undo['kind']; counts?: ReconcileCounts; tookMs?: number };
  'edge-snapshot': { edge: string; version: string; shares: Record<string, number>; mirrors: Record<string, number> };
  /** `cause`: why the region's share moved (it failed, or the alarm blocker holds it). */
  'steer-away': { edge: string; region: string; cause: string; before: EdgeShares; after: EdgeShares };
  'steer-held': { edge: string; region: string; reason: HoldReason; numbers: HoldNumbers };
  /** `percent`: how much of its normal share the region has back after this step. */
  'steer-back': { edge: string; region: string; percent: number; before: EdgeShares; after: EdgeShares };
  'steer-back-stopped': { edge: string; region: string; percent: number; verdicts: Verdict[] };
  mirror: { edge: string; region: string; percent: number; before: EdgeShares; after: EdgeShares };
  /** `failures`: the policies the planned configuration failed, each with its rule and what it saw. */
  'edge-refused': { edge?: string; region?: string; failures?: unknown[]; error?: string };
  /** `exact`: the edge's files are again byte for byte the snapshot's. */
  'edge-restore': { edge: string; exact: boolean; version: string; before: EdgeShares; after: EdgeShares };
  'edge-drift': { edge: string; differences: string[] };
  'edge-drift-accepted': { edge: string; version: string; shares: Record<string, number>; mirrors: Record<string, number> };
  /** `fraction` as set, after the region's cap; `requested` and `maxFraction` only when the cap cut it. */
  flag: { flag: string; variant: string; fraction: number; requested?: number; maxFraction?: number };
  'flag-snapshot': { flag: string; existed: boolean };
  /** A delivery that still failed after its retries; `key` is its idempotency key, `error` the last attempt's. */
  'notification-failed': { notification: string; event: string; key: string; error: string };
}

/** An audit entry's data read as `action`'s, or undefined when the entry is another action's. */
export function auditData<A extends keyof AuditData>(
  entry: { action: string; data?: Record<string, unknown> },
  action: A,
): Partial<AuditData[A]> | undefined {
  return entry.action === action ? ((entry.data ?? {}) as Partial<AuditData[A]>) : undefined;
}
