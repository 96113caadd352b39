import {
  CancellationScope,
  getExternalWorkflowHandle,
  isCancellation,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  decide,
  type AbortRequest,
  type AuditRecord,
  type CommandContext,
  type Decision,
  type Effect,
  type OperatorCommand,
  type RegionCommand,
  type RolloutMode,
} from '../domain/commands';
import type { ApprovalTrust } from '../domain/approval-policy';
import { mergeUndo } from '../domain/compensation';
import { rootMessage } from '../domain/errors';
import { derivePhase, STAGE_PHASES } from '../domain/phase';
import type { RolloutPlan, WavePlan } from '../domain/plan';
import type {
  AuditEntry,
  PendingApproval,
  RegionPhase,
  RegionStatus,
  RolloutPhase,
  RolloutStatus,
  Undo,
  UndoRecord,
} from '../domain/status';
import { assertNever } from '../domain/status';
import type { AuditAction } from '../domain/vocabulary';
import type { NotificationEvent } from '../domain/notifications';
import {
  MeridianPhase,
  MeridianRegions,
  MeridianServices,
  MeridianService,
  MeridianVersion,
  regionCommandSignal,
  regionWorkflowId,
  type CommandResult,
  type EdgeRequest,
  type RegionOutcome,
  type RegionReport,
} from './definitions';
import type { HeldDrain, Steering } from './edges';
import { Saga } from './saga';
import type { Notice, Notices } from './notifications';

export type HoldDecision = 'waiting' | 'retry' | 'resume';

type AuditOptions = { actor?: string; region?: string; service?: string; data?: Record<string, unknown> };

/** Approvals by region, and by service inside a release's region. */
const approvalKey = (region: string, service?: string) => (service === undefined ? region : `${region}/${service}`);
/** One opening of one gate: approvals of an earlier opening never count towards a later one. */
const gateKey = (g: { region: string; service?: string; gate: string; since: string }) => `${approvalKey(g.region, g.service)}/${g.gate}/${g.since}`;

/**
 * Everything one rollout workflow knows, shared by its main flow, its saga and its message handlers.
 * The mode and the operator's pause change only through the methods here, and each method that
 * changes what the UI shows publishes it (search attribute, current details); nothing else calls
 * `publish`. Only workflow APIs touch the outside world from here: search attributes, current
 * details, signals to region stages.
 */
export class RolloutState {
  readonly order: string[];
  readonly regions: Map<string, RegionStatus>;
  readonly undo = new Map<string, Undo[]>();
  readonly approvals = new Map<string, PendingApproval>();
  /** Approvers so far of gates that need several, by gate opening. */
  private readonly partial = new Map<string, string[]>();
  /** The approvers and starter pinned at preflight; absent in rollouts from before signed approvals. */
  trust?: ApprovalTrust;
  readonly audit: AuditEntry[] = [];
  /** Regions the pause policy holds after a failure, and the operator's decision once it comes. */
  readonly held = new Map<string, HoldDecision>();
  readonly failures: { region: string; reason: string }[] = [];
  readonly saga: Saga;
  /** The rollout's edges, when its plan has any. */
  edges?: Steering;
  /** The rollout's notification receivers, when its plan has any. */
  notices?: Notices;
  compensation: UndoRecord[] = [];
  baselines: Record<string, Record<string, number>> = {};
  waveIndex = 0;
  reason?: string;
  waveScope?: CancellationScope;
  private current: RolloutMode = 'starting';
  private operatorPause?: { by: string; reason?: string };
  private abortRequest?: AbortRequest;
  /**
   * The modes a saga returns to. Rollback-region runs one saga per failed region, and they may
   * overlap: the first saga to finish returns the rollout to `afterSaga`, and a retry returns it to
   * `afterAttention` (compensating while a saga still runs). So the phase reads as it always has.
   */
  private afterSaga: 'running' | 'stopping' = 'running';
  private afterAttention: 'running' | 'stopping' | 'compensating' = 'compensating';
  /** An operator's retry, kept for the stage that waits on it (the saga or the contract) until it waits again. */
  private readonly retries = new Set<'undo' | 'contract'>();
  private ended?: RolloutPhase;
  private endedAt?: string;
  private lastPhase?: RolloutPhase;
  private readonly startedAt = new Date().toISOString();

  readonly id: string;
  readonly plan: RolloutPlan;
  readonly searchAttributes: boolean;

  constructor(
    id: string,
    plan: RolloutPlan,
    searchAttributes: boolean,
  ) {
    this.id = id;
    this.plan = plan;
    this.searchAttributes = searchAttributes;
    this.order = plan.waves.flatMap((w) => w.regions);
    this.regions = new Map(
      this.order.map((name) => [name, { name, wave: plan.regions[name]!.wave, phase: 'Pending', weight: 0, verdicts: [] }]),
    );
    this.saga = new Saga(this);
  }

  get mode(): RolloutMode {
    return this.current;
  }

  get paused(): boolean {
    return this.operatorPause !== undefined;
  }

  /** The abort that stops the rollout, if one was requested. */
  get abort(): AbortRequest | undefined {
    return this.abortRequest;
  }

  /** An abort or a rollback-all is under way: no new region starts. */
  stopping(): boolean {
    return this.abortRequest !== undefined || this.current === 'stopping';
  }

  /** Tells the plan's receivers about `event`, in the background; nothing when the plan has none. */
  notify<E extends NotificationEvent>(event: E, notice: Notice<E>): void {
    this.notices?.send(event, notice);
  }

  record(action: AuditAction, why: string, opts: AuditOptions = {}): void {
    const service = opts.service === undefined ? {} : { service: opts.service };
    this.audit.push({ at: new Date().toISOString(), actor: opts.actor ?? 'meridian', action, region: opts.region, ...service, reason: why, data: opts.data });
  }

  phase(): RolloutPhase {
    const mode = this.current;
    return derivePhase({
      started: mode !== 'starting',
      ended: this.ended,
      compensating: this.sagaRuns(),
      needsAttention: mode === 'needsAttention' || mode === 'contractPending',
      paused: this.paused,
      regions: [...this.regions.values()],
      pendingApprovals: [...this.approvals.values()],
    });
  }

  status(): RolloutStatus {
    const { plan } = this;
    return {
      id: this.id,
      service: plan.service,
      version: plan.version,
      image: plan.image,
      phase: this.phase(),
      failurePolicy: plan.failurePolicy,
      wave: { index: this.waveIndex, total: plan.waves.length, name: plan.waves[this.waveIndex]!.name },
      regions: this.order.map((n) => this.region(n)),
      pendingApprovals: [...this.approvals.values()].map((a) => this.gateFacts(a)),
      compensation: this.compensation,
      baselines: this.baselines,
      audit: this.audit,
      reason: this.reason,
      startedAt: this.startedAt,
      endedAt: this.endedAt,
      ...(this.edges ? { edges: this.edges.status() } : {}),
    };
  }

  // ---- operator commands -------------------------------------------------------------------

  /** What an operator's command does now, from the command table. */
  decide(command: OperatorCommand): Decision {
    return decide(this.current, command, this.facts());
  }

  facts(): CommandContext {
    return {
      regions: this.order.map((name) => {
        const r = this.region(name);
        const hold = this.held.get(name);
        const approvals = [...this.approvals.values()].filter((a) => a.region === name);
        return {
          name,
          phase: r.phase,
          inFlight: STAGE_PHASES.has(r.phase) && hold === undefined,
          held: hold === 'waiting',
          drifted: r.drift !== undefined,
          approvals: approvals.map((a) => this.gateFacts(a)),
          ...(r.services ? { services: r.services.map((x) => ({ name: x.service, waiting: x.phase === 'Inconclusive' || x.drift !== undefined })) } : {}),
        };
      }),
      paused: this.paused,
      aborted: this.abortRequest !== undefined,
      ended: this.ended,
      ...(this.trust ? { approval: { ...this.trust, rolloutId: this.id, runId: workflowInfo().runId, service: this.plan.service, now: Date.now() } } : {}),
    };
  }

  /** A waiting gate with who approved it so far, when it needs several approvers. */
  private gateFacts(a: PendingApproval): PendingApproval {
    const approvedBy = this.partial.get(gateKey(a));
    return { ...a, ...(approvedBy ? { approvedBy } : {}) };
  }

  /** Applies a decision's effects in order, waiting for each forwarded command; the one place a command publishes. */
  async apply(effects: readonly Effect[]): Promise<CommandResult> {
    let message = '';
    for (const e of effects) {
      if (e.kind === 'forward') await this.command(e.region, e.command);
      else if (e.kind === 'reply') message = e.message;
      else this.applyNow(e);
    }
    return { accepted: true, phase: this.phase(), message };
  }

  private applyNow(e: Exclude<Effect, { kind: 'forward' | 'reply' }>): void {
    switch (e.kind) {
      case 'audit':
        return this.recordEntry(e.entry);
      case 'clearApproval':
        return void this.approvals.delete(approvalKey(e.region, e.service));
      case 'noteApproval': {
        const key = gateKey(e);
        return void this.partial.set(key, [...(this.partial.get(key) ?? []), e.by]);
      }
      case 'stop':
        if (e.abort) this.abortRequest = e.abort;
        return this.enterStopping();
      case 'abandonContract':
        this.abortRequest = e.abort;
        return;
      case 'cutTraffic':
        return void this.saga.cutTraffic();
      case 'cancelWave':
        return this.waveScope?.cancel();
      case 'pause':
        this.operatorPause = { by: e.by, reason: e.reason };
        return;
      case 'liftPause':
        this.operatorPause = undefined;
        return;
      case 'releaseHeld':
        return void this.held.set(e.region, e.command);
      case 'retryUndo':
        return void this.retries.add('undo');
      case 'retryContract':
        return void this.retries.add('contract');
      case 'recordFailure':
        return void this.failures.push({ region: e.region, reason: e.reason });
      case 'publish':
        return this.publish();
      default:
        return assertNever(e);
    }
  }

  private recordEntry(entry: AuditRecord): void {
    this.record(entry.action, entry.reason, { actor: entry.actor, region: entry.region, data: entry.data });
  }

  /** Forwards an operator command to a running region stage; an undeliverable one goes to the audit trail. */
  private async command(region: string, cmd: RegionCommand): Promise<void> {
    try {
      await getExternalWorkflowHandle(regionWorkflowId(this.id, region)).signal(regionCommandSignal, cmd);
    } catch (err) {
      if (isCancellation(err)) throw err;
      this.record('command-undelivered', `${cmd.kind} could not reach ${region}: ${rootMessage(err)}`, { region });
    }
  }

  // ---- the rollout's life ------------------------------------------------------------------

  /** The search attributes that never change, and the first published state. */
  announce(): void {
    if (this.searchAttributes) {
      upsertSearchAttributes([
        { key: MeridianService, value: this.plan.service },
        { key: MeridianVersion, value: this.plan.version },
        { key: MeridianRegions, value: this.order },
      ]);
      if (this.plan.release) upsertSearchAttributes([{ key: MeridianServices, value: this.plan.release.services.map((x) => x.name) }]);
    }
    this.publish();
  }

  /** Preflight and baselines are done; an abort that came meanwhile turns straight to stopping. */
  start(actor: string, why: string): void {
    this.current = this.abortRequest ? 'stopping' : 'running';
    this.record('started', why, { actor });
    this.publish();
    this.notify('started', { reason: why, data: { image: this.plan.image, regions: this.order, waves: this.plan.waves.length } });
  }

  waveStarted(wave: WavePlan): void {
    this.record('wave', `wave ${wave.index + 1}/${this.plan.waves.length} (${wave.name}): ${wave.regions.join(', ')}`, {
      data: { index: wave.index, name: wave.name, regions: wave.regions },
    });
    this.publish();
    this.notify('wave-started', { data: { index: wave.index, name: wave.name, regions: wave.regions } });
  }

  /** Temporal cancelled the workflow: the same as an abort by Temporal, unless another came first. */
  cancelledByTemporal(): void {
    this.abortRequest ??= { reason: 'the workflow was cancelled', by: 'temporal' };
    this.enterStopping();
  }

  private enterStopping(): void {
    if (this.current === 'running') this.current = 'stopping';
    this.afterSaga = 'stopping';
    if (this.afterAttention === 'running') this.afterAttention = 'stopping';
  }

  end(phase: RolloutPhase, reason: string, action: AuditAction): void {
    this.current = 'ended';
    this.ended = phase;
    this.endedAt = new Date().toISOString();
    this.reason = reason;
    for (const n of this.order) if (this.region(n).phase === 'Pending') this.setRegion(n, { phase: 'Cancelled', reason: 'not started' });
    this.record(action, reason, { data: { phase } });
    this.publish();
    if (phase === 'Succeeded') this.notify('succeeded', { reason, data: { image: this.plan.image } });
  }

  // ---- regions -----------------------------------------------------------------------------

  region(name: string): RegionStatus {
    return this.regions.get(name)!;
  }

  /** Changes a region's status without publishing it; the next published change shows it. */
  setRegion(name: string, patch: Partial<RegionStatus>): void {
    this.regions.set(name, { ...this.region(name), ...patch });
  }

  /** Changes a region's status and publishes it. */
  showRegion(name: string, patch: Partial<RegionStatus>): void {
    this.setRegion(name, patch);
    this.publish();
  }

  /** A region stage's final state and undo stack, from its result or its failure's details. */
  absorb(name: string, out: RegionOutcome): void {
    this.regions.set(name, out.status);
    this.addUndo(name, out.undo);
    if (out.audit) this.audit.push(...out.audit);
  }

  addUndo(name: string, undo: Undo[]): void {
    this.undo.set(name, mergeUndo(this.undo.get(name) ?? [], undo));
  }

  regionPromoted(name: string, out: RegionOutcome): void {
    this.absorb(name, out);
    this.record('region-promoted', `${name} promoted`, { region: name });
    this.publish();
  }

  /** A region stage that ended because the rollout stopped it. */
  regionStopped(name: string, out: RegionOutcome | undefined): void {
    if (out) this.absorb(name, out);
    if (this.region(name).phase !== 'Cancelled') this.setRegion(name, { phase: 'Cancelled', reason: 'stopped by the rollout' });
    this.publish();
  }

  /** A child's live report: its status (unless a saga owns it now), undo stack, pending approval and audit entries. */
  report(report: RegionReport): void {
    const name = report.status.name;
    if (!this.regions.has(name)) return;
    const before = this.region(name).phase;
    if (!this.sagaRuns() || report.status.phase !== 'Cancelled') this.regions.set(name, report.status);
    this.steerOnHealth(name, before, this.region(name).phase);
    if (report.undo) this.addUndo(name, report.undo);
    for (const [key, a] of this.approvals) if (a.region === name) this.approvals.delete(key);
    for (const a of report.pendingApprovals ?? (report.pendingApproval ? [report.pendingApproval] : [])) this.approvals.set(approvalKey(name, a.service), a);
    this.audit.push(...report.audit);
    this.publish();
    this.notices?.approvals(name, this.approvals.values());
  }

  /** The alarm blocker holds a region: its edges steer away from it, and give its share back once it is healthy again. */
  private steerOnHealth(name: string, before: RegionPhase, now: RegionPhase): void {
    const edges = this.edges;
    if (!edges || before === now) return;
    if (now === 'WaitingForHealth') edges.background(`steering away from ${name}`, () => edges.drain(name, 'held by the alarm blocker'));
    else if (before === 'WaitingForHealth' && (now === 'Progressing' || now === 'Paused')) edges.background(`giving ${name} its share back`, () => edges.giveBack(name));
  }

  /** A stage's edge request, answered with an `edgeDone` command once the parent has changed its edges. */
  edgeRequest(req: EdgeRequest): void {
    const edges = this.edges;
    const answer = (error?: string) =>
      getExternalWorkflowHandle(regionWorkflowId(this.id, req.region)).signal(regionCommandSignal, { kind: 'edgeDone', key: req.key, ...(error === undefined ? {} : { error }) });
    if (!edges) return void answer('the rollout has no edges').catch(() => undefined);
    edges.background(`mirroring ${req.region}`, async () => {
      const error = await edges.mirror(req.region, req.percent, req.key).catch((err: unknown) => rootMessage(err));
      await answer(error);
    });
  }

  /**
   * Draining a failed region would break a guardrail: it keeps its share, and the region waits for
   * a person (resume or retry goes on without the drain, abort rolls everything back).
   */
  steerHeld(name: string, why: string, held: HeldDrain[]): void {
    this.held.set(name, 'waiting');
    const edges = held.map((h) => h.edge).join(', ');
    this.setRegion(name, { phase: 'Paused', reason: `${why}; edge ${edges} kept its share, since draining it would break a guardrail; resume or retry goes on without the drain, abort rolls everything back` });
    this.publish();
  }

  /** The pause policy holds a failed region, its traffic already back on stable. */
  hold(name: string, why: string): void {
    this.held.set(name, 'waiting');
    this.setRegion(name, { phase: 'Paused', weight: this.region(name).snapshot?.weight ?? 0, reason: `${why}; traffic moved back to stable, waiting for retry or abort` });
    this.record('hold', `${name} held by the pause policy; retry runs its stage again, abort rolls everything back`, { region: name, data: { policy: 'pause' } });
    this.publish();
  }

  /** A held region's wait is over; the operator's decision, when it was not an abort. */
  releaseHold(name: string): HoldDecision | undefined {
    const decision = this.held.get(name);
    this.held.delete(name);
    return decision;
  }

  // ---- the saga ----------------------------------------------------------------------------

  /** A saga runs, or waits for a retry while another still runs. */
  private sagaRuns(): boolean {
    return this.current === 'compensating' || (this.current === 'needsAttention' && this.afterAttention === 'compensating');
  }

  sagaStarted(): void {
    if (this.current === 'running' || this.current === 'stopping') {
      this.afterSaga = this.current;
      this.current = 'compensating';
    } else if (this.current === 'needsAttention') {
      this.afterAttention = 'compensating';
    }
  }

  sagaPlanned(records: UndoRecord[]): void {
    this.compensation = [...this.compensation, ...records];
    const touched = [...new Set(records.map((r) => r.undo.region))];
    this.record('rollback', `rolling back ${touched.join(', ') || 'nothing (no region was changed)'}, newest wave first`, { data: { regions: touched } });
    this.publish();
    this.notify('rollback-started', { data: { regions: touched } });
  }

  /** An undo keeps failing: the saga waits for an operator's retry. */
  sagaNeedsAttention(failed: UndoRecord[]): void {
    if (this.current !== 'needsAttention') this.afterAttention = this.current === 'stopping' || this.current === 'running' ? this.current : 'compensating';
    this.current = 'needsAttention';
    this.retries.delete('undo');
    this.reason = `rollback incomplete: ${failed.map((r) => `${r.undo.region}: ${r.error}`).join('; ')}. Fix the cause, then run: meridian retry ${this.id} --by <you>`;
    const data = { failed: failed.map((r) => ({ region: r.undo.region, undo: r.undo.kind, error: r.error })) };
    this.record('needs-attention', this.reason, { data });
    this.publish();
    this.notify('needs-attention', { reason: this.reason, data });
  }

  retried(stage: 'undo' | 'contract'): boolean {
    return this.retries.has(stage);
  }

  /** The saga takes the retry; it publishes when it next changes a region. */
  sagaRetrying(): void {
    if (this.current === 'needsAttention') this.current = this.afterAttention;
    this.reason = undefined;
  }

  sagaFinished(records: UndoRecord[]): void {
    if (this.current === 'compensating') this.current = this.afterSaga;
    else if (this.current === 'needsAttention') this.afterAttention = this.afterSaga;
    this.publish();
    this.notify('rollback-finished', { data: { regions: [...new Set(records.map((r) => r.undo.region))] } });
  }

  // ---- the contract ------------------------------------------------------------------------

  contractStarted(why: string, data: Record<string, unknown>): void {
    this.current = 'contracting';
    this.record('contract', why, { data });
    this.publish();
  }

  contractFailed(reason: string, failed: { region: string; error: string }[]): void {
    this.current = 'contractPending';
    this.retries.delete('contract');
    this.reason = reason;
    this.record('needs-attention', reason, { data: { failed } });
    this.publish();
    this.notify('needs-attention', { reason, data: { failed } });
  }

  /** The contract stage takes a retry or an abort; it publishes when it next fails or ends. */
  contractResumed(): void {
    this.current = 'contracting';
    this.reason = undefined;
  }

  // ---- publishing --------------------------------------------------------------------------

  /** Keeps the search attributes and the UI's current details in step with the state. */
  private publish(): void {
    const now = this.phase();
    if (this.searchAttributes && now !== this.lastPhase) upsertSearchAttributes([{ key: MeridianPhase, value: now }]);
    this.lastPhase = now;
    const wave = this.plan.waves[this.waveIndex]!;
    const lines = this.order.map((n) => {
      const r = this.region(n);
      const flags = Object.entries(r.flags ?? {}).map(([key, f]) => ` · flag ${key} ${f.variant} ${f.fraction}%`).join('');
      return `- ${n}: ${r.phase} ${r.weight}%${r.step ? ` · ${r.step.description}` : ''}${flags}`;
    });
    setCurrentDetails(
      [`**${now}** · wave ${this.waveIndex + 1}/${this.plan.waves.length} (${wave.name})`, ...lines, this.reason ? `\n${this.reason}` : '']
        .join('\n')
        .trim(),
    );
  }
}
