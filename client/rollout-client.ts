import { userInfo } from 'node:os';
import {
  ApplicationFailure,
  Client,
  isGrpcCancelledError,
  isGrpcDeadlineError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  WorkflowUpdateStage,
  type WorkflowExecutionStatusName,
  type WorkflowHandle,
} from '@temporalio/client';
import type { SearchAttributePair, UpdateDefinition } from '@temporalio/common';
import { decodeOptionalSinglePayload } from '@temporalio/common/lib/internal-non-workflow';
import { approvalStatement } from '../domain/approval-policy';
import { DEFAULT_VALIDITY_MS } from '../domain/approval-statement';
import type { RolloutPlan } from '../domain/plan';
import { STAGE_PHASES } from '../domain/phase';
import { TERMINAL_PHASES, type AnalysisProgress, type AuditEntry, type RegionStatus, type RolloutPhase, type ServiceStatus, type RolloutStatus } from '../domain/status';
import type { rolloutWorkflow } from '../workflows/index';
import {
  abortUpdate,
  approveUpdate,
  DEFAULT_NAMESPACE,
  MeridianPhase,
  MeridianRegions,
  MeridianService,
  MeridianServices,
  MeridianVersion,
  pauseUpdate,
  resumeUpdate,
  regionPendingAuditQuery,
  regionStatusQuery,
  regionWorkflowId,
  serviceWorkflowId,
  retryUpdate,
  rolloutWorkflowId,
  statusQuery,
  TASK_QUEUE,
  type AbortRequest,
  type ApproveRequest,
  type CommandResult,
  type OperatorRequest,
  type RolloutInput,
} from '../workflows/definitions';
import { connectClient, type ConnectionOverrides } from './connection';
import { NoWorkerError, RolloutCommandError, RolloutEndedError } from './rollout-errors';
import { recordOf, type RolloutRecord } from './rollout-record';
import { workerPresence, type WorkerPresence } from './task-queue';
import { assertStartable } from './start-checks';

export { NoWorkerError, RolloutCommandError, RolloutEndedError, type CommandFate } from './rollout-errors';
export type { RolloutRecord } from './rollout-record';
export type { WorkerPresence } from './task-queue';

export const ROLLOUT_WORKFLOW_TYPE = 'rolloutWorkflow';

export interface RolloutListItem {
  id: string;
  service: string;
  version: string;
  /** From the MeridianPhase search attribute; 'Pending' until the workflow wrote one. */
  phase: RolloutPhase;
  regions: string[];
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, TERMINATED, ... */
  status: WorkflowExecutionStatusName;
  startTime: Date;
  closeTime?: Date;
}

export interface RolloutClientOptions {
  namespace?: string;
  taskQueue?: string;
  /** Off for servers without Meridian's search attributes (the time-skipping test server). */
  searchAttributes?: boolean;
}

export interface StartOptions {
  id?: string;
  startedBy?: string;
  analysisChunkMs?: number;
}

/** A rollout's status, and whether its workflow has closed; a closed one's status is its last. */
export type RolloutView = RolloutStatus & {
  ended: boolean;
  /** When the workflow closed, ISO 8601. */
  closedAt?: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, TERMINATED, ... */
  execution: WorkflowExecutionStatusName;
};

/**
 * How long a query may wait for a worker to answer before the client says none did. A workflow whose
 * worker died is first asked on that worker's sticky queue, for the SDK's 10 s sticky schedule-to-start
 * timeout, before the server asks on the normal queue: this leaves a replacement worker time to answer.
 */
export const QUERY_TIMEOUT_MS = 15_000;
/** How long an update may wait for a worker to accept it; as long as a query, for the same reason. */
export const UPDATE_ACCEPT_TIMEOUT_MS = 15_000;

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

function summaryOf(plan: RolloutPlan): { staticSummary: string; staticDetails: string } {
  const regionCount = Object.keys(plan.regions).length;
  const waves = plan.waves.map((w) => `- **${w.name}**: ${w.regions.join(', ')}`);
  return {
    staticSummary: plan.release
      ? `Release ${plan.service} ${plan.version} of ${plan.release.services.map((x) => `${x.name} ${x.plan.version}`).join(', ')} to ${regionCount} regions in ${plan.waves.length} waves`
      : `Roll out ${plan.service} ${plan.version} to ${regionCount} regions in ${plan.waves.length} waves`,
    staticDetails: [
      ...(plan.release ? plan.release.services.map((x) => `**${x.name}** ${x.plan.image}${x.dependsOn.length ? ` after ${x.dependsOn.map((d) => `${d.service} (${d.until})`).join(', ')}` : ''}`) : [`**Image** ${plan.image}`]),
      `**Failure policy** ${plan.failurePolicy}`,
      '',
      ...waves,
    ].join('\n'),
  };
}

function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function statusFromFailure(cause: unknown): RolloutStatus | undefined {
  if (!(cause instanceof ApplicationFailure)) return undefined;
  const first = cause.details?.[0] as Partial<RolloutStatus> | undefined;
  return first && typeof first.phase === 'string' && Array.isArray(first.regions) ? (first as RolloutStatus) : undefined;
}

function ended(status: RolloutStatus, record: RolloutRecord): RolloutView {
  return { ...status, ended: true, closedAt: record.closedAt, execution: record.execution };
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((done) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), done()), { once: true });
  });

/** The typed client SDK: start, inspect and steer rollouts through Temporal messages. */
export class RolloutClient {
  readonly namespace: string;
  readonly taskQueue: string;
  private readonly searchAttributes: boolean;

  readonly client: Client;

  constructor(
    client: Client,
    opts: RolloutClientOptions = {},
  ) {
    this.client = client;
    this.namespace = opts.namespace ?? client.options.namespace ?? DEFAULT_NAMESPACE;
    this.taskQueue = opts.taskQueue ?? TASK_QUEUE;
    this.searchAttributes = opts.searchAttributes !== false;
  }

  static async connect(overrides?: ConnectionOverrides & { taskQueue?: string }): Promise<RolloutClient> {
    const { client, namespace } = await connectClient(overrides);
    return new RolloutClient(client, { namespace, taskQueue: overrides?.taskQueue });
  }

  /** Who polls a task queue (by default the one this client starts rollouts on). */
  presence(taskQueue: string = this.taskQueue): Promise<WorkerPresence> {
    return workerPresence(this.client, this.namespace, taskQueue);
  }

  /** The server's own record of a rollout, readable without a worker. */
  async record(id: string): Promise<RolloutRecord> {
    return recordOf(await this.call(id, () => this.client.workflow.getHandle(id).describe()));
  }

  async start(plan: RolloutPlan, opts: StartOptions = {}): Promise<string> {
    const id = opts.id ?? rolloutWorkflowId(plan.service, plan.version);
    const input: RolloutInput = {
      plan,
      startedBy: opts.startedBy ?? currentUser(),
      searchAttributes: this.searchAttributes,
      analysisChunkMs: opts.analysisChunkMs,
    };
    assertStartable(input);
    const regions = plan.waves.flatMap((w) => w.regions);
    const typedSearchAttributes: SearchAttributePair[] = [
      { key: MeridianService, value: plan.service },
      { key: MeridianVersion, value: plan.version },
      { key: MeridianPhase, value: 'Pending' },
      { key: MeridianRegions, value: regions },
      ...(plan.release ? [{ key: MeridianServices, value: plan.release.services.map((x) => x.name) }] : []),
    ];
    try {
      await this.client.workflow.start<typeof rolloutWorkflow>(ROLLOUT_WORKFLOW_TYPE, {
        workflowId: id,
        taskQueue: this.taskQueue,
        args: [input],
        ...(this.searchAttributes ? { typedSearchAttributes, ...summaryOf(plan) } : {}),
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        throw new RolloutCommandError(
          `rollout ${id} is already running; follow it with: meridian status ${id}, or stop it with: meridian abort ${id}`,
          { cause: err },
        );
      }
      throw err;
    }
    return id;
  }

  /**
   * The status query, with each running region stage's live figures. The rollout learns of a
   * stage's weight, step and analysis progress only when the stage reports a change the rollout
   * acts on, which keeps both histories short; this reads the rest from the stage itself (its
   * status query, its audit entries not yet reported) and from its running analysis's heartbeat.
   * A closed rollout answers from its result, with no worker; a running one needs a worker, and
   * NoWorkerError says when none polls its task queue or none answered within QUERY_TIMEOUT_MS.
   */
  async status(id: string): Promise<RolloutView> {
    const record = await this.record(id);
    if (record.closedAt) {
      const final = await this.finalStatus(record);
      if (final) return ended(final, record);
    }
    const presence = await this.presence(record.taskQueue);
    if (!presence.polling) throw new NoWorkerError(presence, record);
    const status = await this.answered(record, presence, () => this.call(id, () => this.client.workflow.getHandle(id).query(statusQuery)));
    if (record.closedAt) return ended(status, record);
    const live = await Promise.all(status.regions.map((r) => (STAGE_PHASES.has(r.phase) ? this.liveRegion(status.id, r) : { region: r, audit: [] })));
    status.regions = live.map((l) => l.region);
    status.audit = [...status.audit, ...live.flatMap((l) => l.audit)];
    return { ...status, ended: false, execution: record.execution };
  }

  /** A closed rollout's last status from its result or failure; undefined when something outside ended it. */
  private async finalStatus(record: RolloutRecord): Promise<RolloutStatus | undefined> {
    try {
      return await this.result(record.id);
    } catch {
      return undefined;
    }
  }

  /** Runs a query under QUERY_TIMEOUT_MS; a query nobody answered becomes NoWorkerError. */
  private async answered<T>(record: RolloutRecord, presence: WorkerPresence, run: () => Promise<T>): Promise<T> {
    try {
      return await this.client.withDeadline(Date.now() + QUERY_TIMEOUT_MS, run);
    } catch (err) {
      // At the deadline the call ends DEADLINE_EXCEEDED, or CANCELLED when the SDK aborts it first.
      if (isGrpcDeadlineError(err) || isGrpcCancelledError(err)) {
        throw new NoWorkerError(presence, record, { waitedMs: QUERY_TIMEOUT_MS }, { cause: err });
      }
      throw err;
    }
  }

  /**
   * A region as its running stage sees it now, and the audit entries it has not reported yet; the
   * rollout's own view when the stage is not running.
   */
  private async liveRegion(rolloutId: string, region: RegionStatus): Promise<{ region: RegionStatus; audit: AuditEntry[] }> {
    if (region.services) return this.liveRelease(rolloutId, region, region.services);
    const handle = this.client.workflow.getHandle(regionWorkflowId(rolloutId, region.name));
    try {
      return await this.client.withDeadline(Date.now() + QUERY_TIMEOUT_MS, () => this.stageView(handle, region));
    } catch {
      // The stage moved on or closed between the calls, or runs code without the query: the rollout's own figures stand.
      return { region, audit: [] };
    }
  }

  /** A release's region: each running service's stage as it sees itself now, and the audit entries nobody reported yet. */
  private async liveRelease(rolloutId: string, region: RegionStatus, services: ServiceStatus[]): Promise<{ region: RegionStatus; audit: AuditEntry[] }> {
    const audit: AuditEntry[] = [];
    const deadline = () => Date.now() + QUERY_TIMEOUT_MS;
    try {
      audit.push(...(await this.client.withDeadline(deadline(), () => this.client.workflow.getHandle(regionWorkflowId(rolloutId, region.name)).query(regionPendingAuditQuery))));
    } catch {
      // The region's stage closed between the calls: its outcome carried the entries to the rollout.
    }
    const rows: ServiceStatus[] = [];
    for (const row of services) {
      if (!STAGE_PHASES.has(row.phase)) {
        rows.push(row);
        continue;
      }
      try {
        const handle = this.client.workflow.getHandle(serviceWorkflowId(rolloutId, region.name, row.service));
        const view = await this.client.withDeadline(deadline(), () => this.stageView(handle, row as RegionStatus));
        rows.push({ ...row, ...view.region, service: row.service, version: row.version } as ServiceStatus);
        audit.push(...view.audit);
      } catch {
        rows.push(row);
      }
    }
    return { region: { ...region, services: rows }, audit };
  }

  private async stageView(handle: WorkflowHandle, region: RegionStatus): Promise<{ region: RegionStatus; audit: AuditEntry[] }> {
    const { status, raw } = await handle.describe();
    if (status.name !== 'RUNNING') return { region, audit: [] };
    // One query at a time: two overlapping queries to one workflow stalled it on the time-skipping test server.
    const stage = await handle.query(regionStatusQuery);
    const audit = await handle.query(regionPendingAuditQuery);
    const live: RegionStatus = { ...region, weight: stage.weight, step: stage.step, sustained: stage.sustained, verdicts: stage.verdicts, waitingUntil: stage.waitingUntil };
    const pending = raw.pendingActivities?.find((a) => a.activityType?.name === 'runAnalysis');
    const payload = pending?.heartbeatDetails?.payloads?.[0];
    if (!payload || live.step?.kind !== 'analysis') return { region: live, audit };
    // Raw heartbeat details: decoded (and decrypted, with a codec) by the client's own data converter.
    const progress = (await decodeOptionalSinglePayload<AnalysisProgress>(this.client.options.loadedDataConverter, payload))!;
    return { region: { ...live, sustained: progress.sustained, verdicts: progress.verdicts.length ? progress.verdicts : live.verdicts }, audit };
  }

  approve(id: string, req: ApproveRequest): Promise<CommandResult> {
    return this.command(id, 'approve', approveUpdate, req);
  }

  /**
   * The statement `req.by` signs to approve the gate `req.region` waits on now (approval-statement.ts):
   * this run, this region, service and gate, this opening of the gate, valid from now for `validForMs`.
   * Sign it (signApproval) and send it with approve() as `signature`.
   */
  async approvalStatement(id: string, req: Omit<ApproveRequest, 'signature' | 'comment'>, validForMs = DEFAULT_VALIDITY_MS): Promise<string> {
    const record = await this.record(id);
    if (record.closedAt) throw new RolloutEndedError('approve', record, (await this.finalStatus(record))?.phase);
    const view = await this.status(id);
    const gates = view.pendingApprovals.filter((a) => a.region === req.region && (req.service === undefined || a.service === req.service) && (req.gate === undefined || a.gate === req.gate));
    if (gates.length === 0) {
      const waiting = view.pendingApprovals.map((a) => `${a.region}${a.service ? `/${a.service}` : ''} (gate "${a.gate}")`).join(', ') || 'none';
      throw new RolloutCommandError(`no gate${req.gate ? ` "${req.gate}"` : ''} waits in ${req.region}${req.service ? ` for ${req.service}` : ''} of rollout ${id}; waiting: ${waiting}`);
    }
    if (gates.length > 1) throw new RolloutCommandError(`gates of more than one service wait in ${req.region}: ${gates.map((g) => g.service).join(', ')}; say which with --service`);
    return approvalStatement(gates[0]!, req.region, req.by, { rolloutId: id, runId: record.runId, service: view.service }, Date.now(), validForMs);
  }

  abort(id: string, req: AbortRequest): Promise<CommandResult> {
    return this.command(id, 'abort', abortUpdate, req);
  }

  pause(id: string, req: OperatorRequest): Promise<CommandResult> {
    return this.command(id, 'pause', pauseUpdate, req);
  }

  resume(id: string, req: OperatorRequest): Promise<CommandResult> {
    return this.command(id, 'resume', resumeUpdate, req);
  }

  retry(id: string, req: OperatorRequest): Promise<CommandResult> {
    return this.command(id, 'retry', retryUpdate, req);
  }

  /**
   * Sends an operator update only to a running rollout that a worker serves: Temporal admits an update
   * to memory until a worker accepts it, so one sent with no worker could be lost or applied much later.
   * Ended rollouts answer RolloutEndedError, missing workers NoWorkerError, saying what became of it.
   */
  private async command<R>(id: string, name: string, def: UpdateDefinition<CommandResult, [R]>, req: R): Promise<CommandResult> {
    const record = await this.record(id);
    if (record.closedAt) throw new RolloutEndedError(name, record, (await this.finalStatus(record))?.phase);
    const presence = await this.presence(record.taskQueue);
    if (!presence.polling) throw new NoWorkerError(presence, record, { command: name, fate: 'not-sent' });
    const handle = this.client.workflow.getHandle(id);
    const update = await this.commandCall(record, name, () =>
      this.client.withDeadline(Date.now() + UPDATE_ACCEPT_TIMEOUT_MS, () => handle.startUpdate(def, { args: [req], waitForStage: WorkflowUpdateStage.ACCEPTED })),
    ).catch((err: unknown) => {
      if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
        throw new NoWorkerError(presence, record, { command: name, fate: 'unconfirmed', waitedMs: UPDATE_ACCEPT_TIMEOUT_MS }, { cause: err });
      }
      throw err;
    });
    return this.commandCall(record, name, () => update.result());
  }

  /** Like call(), but a rollout that closed meanwhile answers RolloutEndedError. */
  private async commandCall<T>(record: RolloutRecord, name: string, run: () => Promise<T>): Promise<T> {
    try {
      return await this.call(record.id, run);
    } catch (err) {
      if (!(err instanceof RolloutCommandError) || !(err.cause instanceof WorkflowNotFoundError)) throw err;
      const now = await this.record(record.id).catch(() => undefined);
      if (now?.closedAt) throw new RolloutEndedError(name, now, (await this.finalStatus(now))?.phase, { cause: err });
      throw err;
    }
  }

  /**
   * The final status, once the rollout ended. A rollout that rolled back or failed ends the workflow with an
   * ApplicationFailure whose details carry that status; it is returned like a success.
   */
  async result(id: string): Promise<RolloutStatus> {
    return this.call(id, async () => {
      try {
        return await this.client.workflow.getHandle<typeof rolloutWorkflow>(id).result();
      } catch (err) {
        const status = err instanceof WorkflowFailedError ? statusFromFailure(err.cause) : undefined;
        if (status) return status;
        throw err;
      }
    });
  }

  /** Rollouts by visibility query, newest first. */
  async list(opts: { phase?: RolloutPhase; service?: string; limit?: number } = {}): Promise<RolloutListItem[]> {
    const clauses = [`WorkflowType = ${quote(ROLLOUT_WORKFLOW_TYPE)}`];
    if (opts.phase) clauses.push(`${MeridianPhase.name} = ${quote(opts.phase)}`);
    if (opts.service) clauses.push(`(${MeridianService.name} = ${quote(opts.service)} OR ${MeridianServices.name} = ${quote(opts.service)})`);
    const limit = opts.limit ?? 50;
    const items: RolloutListItem[] = [];
    if (limit <= 0) return items;
    for await (const info of this.client.workflow.list({ query: clauses.join(' AND '), pageSize: Math.min(limit, 100) })) {
      const attrs = info.typedSearchAttributes;
      items.push({
        id: info.workflowId,
        service: attrs.get(MeridianService) ?? '',
        version: attrs.get(MeridianVersion) ?? '',
        phase: (attrs.get(MeridianPhase) as RolloutPhase | undefined) ?? 'Pending',
        regions: attrs.get(MeridianRegions) ?? [],
        status: info.status.name,
        startTime: info.startTime,
        closeTime: info.closeTime,
      });
      if (items.length >= limit) break;
    }
    return items;
  }

  /**
   * Polls the status and yields each change, ending after a terminal phase, once the workflow closed,
   * or when `signal` aborts. No worker polling the task queue ends it with NoWorkerError; a query
   * that went unanswered while a worker is still listed (one restarting) is asked again.
   */
  async *watch(id: string, opts: { intervalMs?: number; signal?: AbortSignal } = {}): AsyncIterable<RolloutView> {
    const intervalMs = opts.intervalMs ?? 1_000;
    let last: string | undefined;
    while (!opts.signal?.aborted) {
      const status = await this.status(id).catch((err: unknown) => {
        if (err instanceof NoWorkerError && err.details.waitedMs && err.presence.polling) return undefined;
        throw err;
      });
      if (status) {
        const seen = JSON.stringify(status);
        if (seen !== last) {
          last = seen;
          yield status;
        }
        if (status.ended || TERMINAL_PHASES.includes(status.phase)) return;
      }
      await sleep(intervalMs, opts.signal);
    }
  }

  private async call<T>(id: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        throw new RolloutCommandError(err.cause?.message ?? err.message, { cause: err });
      }
      if (err instanceof WorkflowNotFoundError) {
        throw new RolloutCommandError(`no rollout ${id} in namespace ${this.namespace}; list them with: meridian list`, {
          cause: err,
        });
      }
      throw err;
    }
  }
}
