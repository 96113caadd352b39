import type { WorkflowExecutionStatusName } from '@temporalio/client';
import { ApplicationFailure, type LoadedDataConverter } from '@temporalio/common';
import { decodeArrayFromPayloads, decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';
import type { temporal } from '@temporalio/proto';
import type { AuditEntry, RegionPhase, RegionStatus, RolloutPhase, RolloutStatus, Verdict, VerdictPhase } from '../domain/status';
import type { AuditAction } from '../domain/vocabulary';
import {
  abortUpdate,
  approveUpdate,
  pauseUpdate,
  regionReportSignal,
  resumeUpdate,
  retryUpdate,
  type RegionOutcome,
  type RegionReport,
  type RolloutInput,
} from '../workflows/definitions';
import { NoWorkerError, RolloutCommandError } from './rollout-errors';
import type { RolloutClient } from './rollout-client';
import type { RolloutRecord } from './rollout-record';
import type { WorkerPresence } from './task-queue';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** Where a trail was read: the running workflow's status query, or its history on the server. */
export type AuditSource = 'query' | 'history';

/**
 * What in the history held the entries: the status the rollout returned (`result`) or ended its
 * failure with (`failure`), or, when the workflow left neither (it runs with no worker answering,
 * or it was terminated or timed out), the pieces its events carry (`events`).
 */
export type HistoryPlace = 'result' | 'failure' | 'events';

/** One verdict an entry rests on: the metric, its value, the threshold it was judged against and the judgement. */
export interface AuditEvidence {
  metric: string;
  verdict: VerdictPhase;
  value?: number;
  /** Absolute numbers; relative thresholds already resolved against the baseline. */
  threshold: { max?: number; min?: number };
  /** The region's value for the metric before any change, when the judgement used one. */
  baseline?: number;
  reason: string;
}

/** An audit entry as exported: the entry itself, and the verdicts its data carries. */
export interface AuditTrailEntry extends AuditEntry {
  evidence: AuditEvidence[];
}

export interface AuditTrail {
  id: string;
  source: AuditSource;
  /** Set when `source` is history. */
  from?: HistoryPlace;
  /**
   * False when the trail was pieced together from events: it then holds the region stages' entries
   * (from their reports and outcomes), the start and the operator commands sent as updates, but
   * not the entries the rollout workflow kept only in memory (waves, baselines, rollback steps).
   */
  complete: boolean;
  /** The rollout's phase, where a status was read. */
  phase?: RolloutPhase;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, TERMINATED, ... */
  execution: WorkflowExecutionStatusName;
  closedAt?: string;
  /** A workflow ended from outside (terminated): who asked and why, as the history records it. */
  closedBy?: { identity?: string; reason?: string };
  /** Who polls the rollout's task queue, when the trail came from history because the status query went unanswered. */
  worker?: WorkerPresence;
  /** Why the status query of the running rollout failed, when the trail came from history for another reason. */
  unanswered?: string;
  /** Every entry, oldest first. */
  entries: AuditTrailEntry[];
  /** Each region's latest verdicts, as the status (or the last report in history) left them. */
  regions: { name: string; phase: RegionPhase; verdicts: AuditEvidence[] }[];
}

/**
 * A rollout's audit trail: from its status query while it runs and a worker answers, else from its
 * history alone. An unknown id throws RolloutCommandError, like every other command.
 */
export async function readAuditTrail(client: RolloutClient, id: string): Promise<AuditTrail> {
  const record = await client.record(id);
  if (record.closedAt) return fromHistory(client, record);
  try {
    const view = await client.status(id);
    if (view.ended) return fromHistory(client, await client.record(id));
    return { id, source: 'query', complete: true, phase: view.phase, execution: view.execution, entries: trailEntries(view.audit), regions: regionVerdicts(view.regions) };
  } catch (err) {
    if (err instanceof NoWorkerError) return { ...(await fromHistory(client, err.rollout)), worker: err.presence };
    if (err instanceof RolloutCommandError) throw err;
    // The query failed otherwise: the server saw no poller lately, or the worker could not replay the workflow. The history still answers.
    const now = await client.record(id);
    const worker = now.closedAt ? undefined : await client.presence(now.taskQueue);
    return { ...(await fromHistory(client, now)), ...(worker ? { worker } : {}), unanswered: causes(err) };
  }
}

/** An error and its causes, one message after the other. */
function causes(err: unknown): string {
  const messages: string[] = [];
  for (let e: unknown = err; e instanceof Error && messages.length < 5; e = e.cause) messages.push(e.message);
  return messages.join(': ') || String(err);
}

/** Every audit entry of a rollout, oldest first, each with its evidence: what `audit --verify` checks. */
export async function auditEntries(client: RolloutClient, id: string): Promise<AuditTrailEntry[]> {
  return (await readAuditTrail(client, id)).entries;
}

/** Entries oldest first (entries with the same time keep their order), each with its evidence. */
export function trailEntries(audit: readonly AuditEntry[]): AuditTrailEntry[] {
  return audit
    .map((entry, index) => ({ entry, index, at: Date.parse(entry.at) }))
    .sort((a, b) => (a.at === b.at || Number.isNaN(a.at) || Number.isNaN(b.at) ? a.index - b.index : a.at - b.at))
    .map(({ entry }) => ({ ...entry, evidence: evidenceOf(entry) }));
}

/** The verdicts an entry's data carries (analysis, health checks, steering): each metric's value, threshold and judgement. */
export function evidenceOf(entry: Pick<AuditEntry, 'data'>): AuditEvidence[] {
  const verdicts = entry.data?.verdicts;
  return Array.isArray(verdicts) ? verdicts.filter(isVerdict).map(evidence) : [];
}

function evidence(v: Verdict): AuditEvidence {
  return {
    metric: v.metric,
    verdict: v.phase,
    ...(v.value === undefined ? {} : { value: v.value }),
    threshold: v.threshold ?? {},
    ...(v.baseline === undefined ? {} : { baseline: v.baseline }),
    reason: v.reason,
  };
}

function regionVerdicts(regions: readonly Pick<RegionStatus, 'name' | 'phase' | 'verdicts'>[]): AuditTrail['regions'] {
  return regions.map((r) => ({ name: r.name, phase: r.phase, verdicts: (r.verdicts ?? []).filter(isVerdict).map(evidence) }));
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isVerdict = (x: unknown): x is Verdict => isObject(x) && typeof x.metric === 'string' && typeof x.phase === 'string';
const isStatus = (x: unknown): x is RolloutStatus => isObject(x) && typeof x.phase === 'string' && Array.isArray(x.regions) && Array.isArray(x.audit);
const isOutcome = (x: unknown): x is RegionOutcome => isObject(x) && isObject(x.status) && typeof x.status.name === 'string';

async function fromHistory(client: RolloutClient, record: RolloutRecord): Promise<AuditTrail> {
  const history = await client.client.workflow.getHandle(record.id).fetchHistory();
  const trail = await auditTrailFromHistory(record.id, history.events ?? [], client.client.options.loadedDataConverter);
  return { ...trail, execution: record.execution, closedAt: record.closedAt };
}

/**
 * A rollout's trail from its history's events alone: the full status where the rollout left one
 * (its result, or the details of the failure it ended with), else what the events carry.
 */
export async function auditTrailFromHistory(id: string, events: readonly HistoryEvent[], converter: LoadedDataConverter): Promise<AuditTrail> {
  const closing = closedBy(events);
  const final = await finalStatus(events, converter);
  if (final) {
    const { status, from } = final;
    return {
      id,
      source: 'history',
      from,
      complete: true,
      phase: status.phase,
      execution: executionOf(events),
      ...(closing ? { closedBy: closing } : {}),
      entries: trailEntries(status.audit),
      regions: regionVerdicts(status.regions),
    };
  }
  const pieces = await piecesOf(events, converter);
  return {
    id,
    source: 'history',
    from: 'events',
    complete: false,
    execution: executionOf(events),
    ...(closing ? { closedBy: closing } : {}),
    entries: trailEntries(pieces.audit),
    regions: regionVerdicts(pieces.regions),
  };
}

/** The last full status in history: the workflow's result, or the details of the failure it ended with. */
async function finalStatus(events: readonly HistoryEvent[], converter: LoadedDataConverter): Promise<{ status: RolloutStatus; from: HistoryPlace } | undefined> {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    const completed = e.workflowExecutionCompletedEventAttributes;
    if (completed) {
      const [result] = await decodeArrayFromPayloads(converter, completed.result?.payloads);
      if (isStatus(result)) return { status: result, from: 'result' };
    }
    const failed = e.workflowExecutionFailedEventAttributes;
    if (failed) {
      const details = await failureDetails(converter, failed.failure);
      if (isStatus(details[0])) return { status: details[0], from: 'failure' };
    }
  }
  return undefined;
}

/** The details of a failure, or of the ApplicationFailure it wraps. */
async function failureDetails(converter: LoadedDataConverter, failure: temporal.api.failure.v1.IFailure | null | undefined): Promise<unknown[]> {
  const err = await decodeOptionalFailureToOptionalError(converter, failure ?? undefined);
  const app = err instanceof ApplicationFailure ? err : err?.cause instanceof ApplicationFailure ? err.cause : undefined;
  return (app?.details as unknown[] | undefined) ?? [];
}

/** How the history's last event closed the workflow; RUNNING while none has. */
function executionOf(events: readonly HistoryEvent[]): WorkflowExecutionStatusName {
  const last = events.at(-1);
  if (last?.workflowExecutionCompletedEventAttributes) return 'COMPLETED';
  if (last?.workflowExecutionFailedEventAttributes) return 'FAILED';
  if (last?.workflowExecutionTerminatedEventAttributes) return 'TERMINATED';
  if (last?.workflowExecutionTimedOutEventAttributes) return 'TIMED_OUT';
  if (last?.workflowExecutionCanceledEventAttributes) return 'CANCELLED';
  if (last?.workflowExecutionContinuedAsNewEventAttributes) return 'CONTINUED_AS_NEW';
  return 'RUNNING';
}

function closedBy(events: readonly HistoryEvent[]): AuditTrail['closedBy'] {
  const terminated = events.findLast((e) => e.workflowExecutionTerminatedEventAttributes)?.workflowExecutionTerminatedEventAttributes;
  if (!terminated) return undefined;
  return { ...(terminated.identity ? { identity: terminated.identity } : {}), ...(terminated.reason ? { reason: terminated.reason } : {}) };
}

const COMMAND_UPDATES: Record<string, AuditAction> = {
  [approveUpdate.name]: 'approve',
  [abortUpdate.name]: 'abort',
  [pauseUpdate.name]: 'pause',
  [resumeUpdate.name]: 'resume',
  [retryUpdate.name]: 'retry',
};

/** An event's time; its seconds are a Long when fetched, a number when read back from saved JSON. */
function isoOf(e: HistoryEvent): string {
  const seconds = e.eventTime?.seconds as { toNumber?: () => number } | number | null | undefined;
  const s = typeof seconds === 'object' && seconds?.toNumber ? seconds.toNumber() : Number(seconds ?? 0);
  return new Date(s * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6)).toISOString();
}

/**
 * What the events of a rollout with no final status carry: its start, every region stage's report
 * and outcome (their entries and the region's last state), and each operator command an update
 * brought that the workflow accepted and did not refuse.
 */
async function piecesOf(events: readonly HistoryEvent[], converter: LoadedDataConverter): Promise<{ audit: AuditEntry[]; regions: RegionStatus[] }> {
  const audit: AuditEntry[] = [];
  const regions = new Map<string, RegionStatus>();
  const refused = new Set(
    events.flatMap((e) => {
      const done = e.workflowExecutionUpdateCompletedEventAttributes;
      return done?.outcome?.failure ? [String(done.acceptedEventId)] : [];
    }),
  );
  const region = (status: RegionStatus | undefined) => status && regions.set(status.name, status);
  for (const e of events) {
    const started = e.workflowExecutionStartedEventAttributes;
    if (started) {
      const [input] = (await decodeArrayFromPayloads(converter, started.input?.payloads)) as [RolloutInput | undefined];
      if (input?.plan) {
        for (const name of input.plan.waves.flatMap((w) => w.regions)) regions.set(name, { name, wave: input.plan.regions[name]?.wave ?? 0, phase: 'Pending', weight: 0, verdicts: [] });
        audit.push({ at: isoOf(e), actor: input.startedBy, action: 'started', reason: `started ${input.plan.image}`, data: { image: input.plan.image } });
      }
    }
    const signaled = e.workflowExecutionSignaledEventAttributes;
    if (signaled?.signalName === regionReportSignal.name) {
      const [report] = (await decodeArrayFromPayloads(converter, signaled.input?.payloads)) as [RegionReport | undefined];
      if (report) {
        audit.push(...(report.audit ?? []));
        if (!report.service) region(report.status);
      }
    }
    const accepted = e.workflowExecutionUpdateAcceptedEventAttributes;
    const action = accepted && COMMAND_UPDATES[accepted.acceptedRequest?.input?.name ?? ''];
    if (accepted && action && !refused.has(String(e.eventId))) {
      const [req] = (await decodeArrayFromPayloads(converter, accepted.acceptedRequest?.input?.args?.payloads)) as [Record<string, unknown> | undefined];
      audit.push(commandEntry(action, isoOf(e), req ?? {}));
    }
    const childDone = e.childWorkflowExecutionCompletedEventAttributes;
    if (childDone) {
      const [out] = await decodeArrayFromPayloads(converter, childDone.result?.payloads);
      if (isOutcome(out)) {
        audit.push(...(out.audit ?? []));
        region(out.status);
      }
    }
    const childFailed = e.childWorkflowExecutionFailedEventAttributes;
    if (childFailed) {
      const [out] = await failureDetails(converter, childFailed.failure);
      if (isOutcome(out)) {
        audit.push(...(out.audit ?? []));
        region(out.status);
      }
    }
  }
  return { audit, regions: [...regions.values()] };
}

/** An operator's command as its update request carried it: who, where, and the request's own fields as data. */
function commandEntry(action: AuditAction, at: string, req: Record<string, unknown>): AuditEntry {
  const { by, region, service, comment, reason, ...rest } = req;
  const text = (x: unknown) => (typeof x === 'string' ? x : undefined);
  const data: Record<string, unknown> = {
    ...rest,
    ...(action === 'approve' ? { approver: by } : {}),
    ...(text(service) ? { service } : {}),
    ...(text(reason) && action === 'abort' ? { reason } : {}),
  };
  return {
    at,
    actor: text(by) ?? 'unknown',
    action,
    ...(text(region) ? { region: text(region) } : {}),
    ...(text(service) ? { service: text(service) } : {}),
    reason: text(comment) ?? text(reason) ?? `${action} by an operator`,
    ...(Object.keys(data).length ? { data } : {}),
  };
}
