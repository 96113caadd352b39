import { ActivityCancellationType, type ActivityOptions } from '@temporalio/workflow';
import type { Target } from '../domain/spec';
import { targetTraits } from '../domain/targets';

/** Named timeout and retry presets; no durations scattered through workflow code. */
export const PRESETS = {
  /** Preflight reads every region once; a bad answer is final. */
  preflight: {
    startToCloseTimeout: '2m',
    retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 3 },
  },
  /** Changes to a region: idempotent by key, so retrying is safe. */
  mutate: {
    startToCloseTimeout: '30s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
  },
  /** Undo steps: a few quick tries, then the rollout asks a human (NeedsAttention) rather than hiding the error. */
  undo: {
    startToCloseTimeout: '30s',
    retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 3 },
  },
  /**
   * Migrations wait for the database's migration lock and run long statements, heartbeating all the
   * while, so a lost worker is noticed by its heartbeat and the time limit only bounds a stuck run.
   * The ledger makes a retry do nothing twice.
   */
  migrate: {
    startToCloseTimeout: '2h',
    heartbeatTimeout: '30s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
  },
  /**
   * Reverting migrations in a rollback: like `migrate`, with tries spread over 15 s before a human is
   * asked, longer than a crashed PostgreSQL takes to recover and accept connections again.
   */
  revert: {
    startToCloseTimeout: '2h',
    heartbeatTimeout: '30s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
  },
  /**
   * Reconciliation heartbeats its checkpoint after every batch; a retry resumes from it. Many rows
   * may take hours, so only the heartbeat notices a lost worker.
   */
  reconcile: {
    startToCloseTimeout: '12h',
    heartbeatTimeout: '30s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
  },
  /**
   * Edge changes wait until the proxy serves what they wrote, heartbeating, so a lost worker is
   * noticed within seconds; a repeat with the same key writes nothing.
   */
  edge: {
    startToCloseTimeout: '1m',
    heartbeatTimeout: '5s',
    retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 5 },
  },
  /**
   * A notification's delivery: a short try per attempt, retried with backoff (1s, 2s, 4s, ... 15s)
   * for at most two minutes in all, so a receiver that is down costs the rollout's end at most that
   * long. The same key on every attempt lets the receiver drop a repeat.
   */
  notify: {
    startToCloseTimeout: '10s',
    scheduleToCloseTimeout: '2m',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '15s', maximumAttempts: 8 },
  },
} satisfies Record<string, ActivityOptions>;

/**
 * A chunk of sustained-health analysis: wall time per activity plus room for the last sample.
 * Analysis only reads, so a stopped region stage abandons it instead of asking the server to cancel
 * it; its next heartbeat to the closed stage ends it. That keeps a stop from racing the chunk's own
 * completion.
 */
export function analysisOptions(chunkMs: number, intervalMs: number): ActivityOptions {
  return {
    cancellationType: ActivityCancellationType.ABANDON,
    startToCloseTimeout: chunkMs + Math.max(60_000, 3 * intervalMs),
    heartbeatTimeout: Math.max(10_000, 3 * intervalMs),
    retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10 },
  };
}

/** Default wall time of one analysis activity: about 12 activity round trips per region-hour. */
export const DEFAULT_ANALYSIS_CHUNK_MS = 5 * 60_000;

/**
 * A change to a real cluster waits inside the activity until its Deployments are ready, heartbeating
 * as it goes, so its time limit follows the target's progress deadline (a weight change may wait for
 * both Deployments in turn) and a lost worker is noticed by its missing heartbeat.
 */
export function mutateOptions(target: Target): ActivityOptions {
  return waitingOptions(target, PRESETS.mutate);
}

export function undoOptions(target: Target): ActivityOptions {
  return waitingOptions(target, PRESETS.undo);
}

function waitingOptions(target: Target, preset: ActivityOptions): ActivityOptions {
  const deadline = targetTraits(target).progressDeadlineMs;
  if (deadline === undefined) return preset;
  return { startToCloseTimeout: 2 * deadline + 60_000, heartbeatTimeout: '20s', retry: preset.retry };
}
