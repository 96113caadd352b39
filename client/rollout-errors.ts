import type { WorkflowExecutionStatusName } from '@temporalio/client';
import type { RolloutPhase } from '../domain/status';
import type { RolloutRecord } from './rollout-record';
import type { WorkerPresence } from './task-queue';

/** How a closed rollout ended, for one line: its final phase, or what ended its workflow from outside. */
export function howItEnded(record: RolloutRecord, finalPhase?: RolloutPhase): string {
  if (finalPhase) return finalPhase;
  const by: Partial<Record<WorkflowExecutionStatusName, string>> = { TERMINATED: 'terminated', CANCELLED: 'cancelled', TIMED_OUT: 'timed out' };
  return `${by[record.execution] ?? record.execution.toLowerCase()} while ${record.phase}`;
}

/** The command that starts a worker for `taskQueue`. */
export function workerCommand(taskQueue: string): string {
  return `meridian worker --task-queue ${/^[\w./-]+$/.test(taskQueue) ? taskQueue : `'${taskQueue.replace(/'/g, `'\\''`)}'`}`;
}

/** One line: who polls the queue, or since when nobody has. */
export function describePresence(p: WorkerPresence): string {
  if (p.polling) return `a worker polls task queue "${p.taskQueue}"`;
  const since = p.lastPollAt ? `; the last poll was at ${p.lastPollAt}` : '';
  return `no worker polls task queue "${p.taskQueue}"${since}`;
}

/** A refused command or an unknown rollout, with the workflow's own reason as the message. */
export class RolloutCommandError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RolloutCommandError';
  }
}

/** A command sent to a rollout whose workflow has closed: it says how and when it ended. */
export class RolloutEndedError extends RolloutCommandError {
  readonly command: string;
  readonly rollout: RolloutRecord;
  readonly finalPhase?: RolloutPhase;

  constructor(
    command: string,
    rollout: RolloutRecord,
    finalPhase?: RolloutPhase,
    options?: { cause?: unknown },
  ) {
    super(
      `rollout ${rollout.id} already ended (${howItEnded(rollout, finalPhase)} at ${rollout.closedAt}), so there is nothing to ${command}; ` +
        `see its final state with: meridian status ${rollout.id}`,
      options,
    );
    this.command = command;
    this.rollout = rollout;
    this.finalPhase = finalPhase;
    this.name = 'RolloutEndedError';
  }
}

/**
 * What became of a command when no worker took it. `not-sent`: the CLI did not send it, nothing will
 * happen later. `unconfirmed`: the server admitted the update but no worker accepted it in time; Temporal
 * keeps an admitted update in memory only, so it may still be applied when a worker comes back, or be lost.
 */
export type CommandFate = 'not-sent' | 'unconfirmed';

export interface NoWorkerDetails {
  /** The command that found no worker; absent for the status query. */
  command?: string;
  fate?: CommandFate;
  /** Set when pollers were listed but none answered within this many milliseconds. */
  waitedMs?: number;
}

/** No worker polls the rollout's task queue, so nothing answers for it; carries the server's own record. */
export class NoWorkerError extends Error {
  readonly presence: WorkerPresence;
  readonly rollout: RolloutRecord;
  readonly details: NoWorkerDetails;

  constructor(
    presence: WorkerPresence,
    rollout: RolloutRecord,
    details: NoWorkerDetails = {},
    options?: { cause?: unknown },
  ) {
    super(noWorkerMessage(presence, rollout, details), options);
    this.presence = presence;
    this.rollout = rollout;
    this.details = details;
    this.name = 'NoWorkerError';
  }
}

function noWorkerMessage(p: WorkerPresence, rollout: RolloutRecord, d: NoWorkerDetails): string {
  const why = d.waitedMs
    ? `no worker on task queue "${p.taskQueue}" answered within ${d.waitedMs / 1000}s${p.lastPollAt ? ` (last poll at ${p.lastPollAt})` : ''}`
    : describePresence(p);
  const start = `start one with: ${workerCommand(p.taskQueue)}`;
  if (!d.command && rollout.closedAt) {
    return `${why}, and rollout ${rollout.id} ended ${howItEnded(rollout)} at ${rollout.closedAt} with no final status of its own: only a worker can replay it; ${start}`;
  }
  if (!d.command) return `${why}, so rollout ${rollout.id} cannot report its live state; ${start}`;
  if (d.fate === 'unconfirmed') {
    return (
      `${d.command} was sent to ${rollout.id} but not confirmed: ${why}. The server holds it in memory only: ` +
      `it may still take effect if a worker picks it up soon, or be dropped. Check with: meridian status ${rollout.id} before sending it again; ${start}`
    );
  }
  return `${d.command} was not sent to ${rollout.id}: ${why}, and a command takes effect only when a worker accepts it. Nothing will change later; ${start}, then run the command again`;
}
