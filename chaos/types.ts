import type { ClusterState } from '../cluster/index';

export type RowId = 'R1' | 'R2' | 'R3' | 'R4';

/** `ci` is the short variant the test suite runs; `full` is `npm run chaos`. */
export type CampaignSize = 'ci' | 'full';

export interface RowContext {
  cluster: ClusterState;
  size: CampaignSize;
  /** A folder of this row's own for fleet files, kubeconfigs and logs. */
  workDir: string;
  log: (line: string) => void;
}

/** One rollout's end, checked from outside: the fleet or the clusters, the ledgers, the journal. */
export interface RolloutCheck {
  rolloutId: string;
  scenario: string;
  expectedPhase: string;
  phase: string;
  /** Every region on its expected version and weight. */
  consistent: boolean;
  /** Keyed operations applied more than once. */
  duplicates: number;
  /** Did not end within the row's bound. */
  stuck: boolean;
  /** What was wrong, one line each, naming the region and what was seen. */
  problems: string[];
  /** From start to close, by the server's clock; absent while it runs. */
  seconds?: number;
}

export interface RowResult {
  row: RowId;
  fault: string;
  /** Faults injected, by kind (e.g. { 'worker SIGKILL': 12 }). */
  faults: Record<string, number>;
  rollouts: number;
  consistent: number;
  inconsistent: number;
  duplicates: number;
  stuck: number;
  seconds: number;
  checks: RolloutCheck[];
  /** What went wrong beyond single rollouts, one line each (a worker that exited on its own, a row that threw). */
  problems?: string[];
}

export type Row = (ctx: RowContext) => Promise<RowResult>;
