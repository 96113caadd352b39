import type { FailurePolicy } from './spec';

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

export interface Verdict {
  phase: VerdictPhase;
  metric: string;
  value?: number;
  threshold: { max?: number; min?: number };
  reason: string;
  at?: string;
}

/** What a region ran before the rollout touched it; a rollback restores exactly this. */
export interface KnownGood {
  image: string;
  config: Record<string, string>;
  weight: number;
  capturedAt: string;
}

/**
 * One entry of a region's undo stack. Every kind is idempotent. `revertMigrations` and
 * `reconcileData` are the slots stateful rollouts fill.
 */
export type Undo =
  | { kind: 'restoreTraffic'; region: string; key: string; weight: number }
  | { kind: 'restoreWorkload'; region: string; key: string; snapshot: KnownGood }
  | { kind: 'revertMigrations'; region: string; key: string; database: string; migrationIds: string[] }
  | { kind: 'reconcileData'; region: string; key: string; database: string; recipe: string; windowStart: string };

export type UndoOutcome = 'pending' | 'done' | 'failed';

export interface UndoRecord {
  undo: Undo;
  wave: number;
  outcome: UndoOutcome;
  attempts: number;
  error?: string;
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
}

export interface PendingApproval {
  region: string;
  gate: string;
  since: string;
  timeoutAt?: string;
  approvers?: string[];
}

export interface AuditEntry {
  at: string;
  actor: string;
  action: string;
  region?: string;
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
  audit: AuditEntry[];
  reason?: string;
  startedAt: string;
  endedAt?: string;
}

export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(x)}`);
}
