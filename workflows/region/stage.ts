import {
  ApplicationFailure,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  setCurrentDetails,
  setHandler,
} from '@temporalio/workflow';
import type { RegionRef } from '../../activities/types';
import type { RegionPlan, RolloutPlan } from '../../domain/plan';
import type { FlagWrite } from '../../activities/flags/types';
import type { FlagProvider, FlagSpec } from '../../domain/flags';
import type { AuditEntry, DriftReport, KnownGood, PendingApproval, RegionPhase, RegionStatus, Undo } from '../../domain/status';
import { assertNever } from '../../domain/status';
import { effectKey } from '../../domain/steps';
import { FAILURE, type AuditAction, type AuditData, type FailureType } from '../../domain/vocabulary';
import {
  edgeRequestSignal,
  regionCommandSignal,
  regionReportSignal,
  regionPendingAuditQuery,
  regionStatusQuery,
  type RegionCommand,
  type RegionInput,
  type RegionOutcome,
} from '../definitions';
import { DEFAULT_ANALYSIS_CHUNK_MS } from '../presets';

/** The structured data an audit action carries; free-form for actions without a declared shape. */
export type DataOf<A extends AuditAction> = A extends keyof AuditData ? AuditData[A] : Record<string, unknown>;

/** An approval as the operator gave it. */
export interface Approval {
  gate: string;
  by: string;
  comment?: string;
  /** Every distinct approver, when the gate needed more than one. */
  approvers?: string[];
}

/**
 * An operator's go-ahead for a region waiting on a human (drift, an inconclusive analysis): the way
 * it came and who gave it. `acceptDrift` comes as `resume`.
 */
export interface GoAhead {
  via: 'resume' | 'retry';
  by: string;
}

/** What a rollout sent its stages before `acceptDrift` and `reanalyse` replaced it. */
interface PreviousRegionCommand {
  kind: 'retry';
  by: string;
  reason?: string;
}

/**
 * One region stage's state and its only writer: the region's status, its undo stack, its audit
 * entries, the operator commands it has received, and its reports to the parent rollout.
 */
export class RegionStage {
  readonly plan: RolloutPlan;
  readonly region: RegionPlan;
  readonly rolloutId: string;
  readonly baselines: Record<string, number> | undefined;
  /** Wall time of one analysis activity. */
  readonly chunkMs: number;
  /** A held region running again keeps the known-good of its first run. */
  readonly priorKnownGood: KnownGood | undefined;
  private readonly parentId: string;
  private readonly state: RegionStatus;
  private undoStack: Undo[];
  private readonly entries: AuditEntry[] = [];
  private reported = 0;
  private pendingApproval: PendingApproval | undefined;
  private approval: Approval | undefined;
  private paused = false;
  private goAhead: GoAhead | undefined;
  private previousCommands = false;
  private readonly edgeReplies = new Map<string, string | undefined>();
  /** Each flag's last change by this stage, what drift is judged against. */
  readonly flagWrites = new Map<string, FlagWrite>();
  /** The percent of the region's traffic its edges mirror to the canary, from the stage's last mirror step. */
  mirrored = 0;
  /** A service's stage in a release's region. */
  readonly member: boolean;

  constructor(input: RegionInput) {
    this.plan = input.plan;
    this.region = input.plan.regions[input.region]!;
    this.rolloutId = input.rolloutId;
    this.baselines = input.baselines;
    this.chunkMs = input.analysisChunkMs ?? DEFAULT_ANALYSIS_CHUNK_MS;
    this.priorKnownGood = input.knownGood;
    this.parentId = input.parentId;
    this.state = { name: this.region.name, wave: this.region.wave, phase: 'Pending', weight: 0, verdicts: [] };
    this.undoStack = [...(input.undo ?? [])];
    this.member = input.releaseOf !== undefined;
  }

  get name(): string {
    return this.region.name;
  }

  get status(): Readonly<RegionStatus> {
    return this.state;
  }

  get undo(): readonly Undo[] {
    return this.undoStack;
  }

  /** The known-good recorded by the snapshot stage. */
  get knownGood(): KnownGood {
    const snapshot = this.state.snapshot;
    if (!snapshot) throw new Error(`${this.name} has no known-good snapshot yet`);
    return snapshot;
  }

  /** Answers the status query and takes the parent's commands. */
  listen(): void {
    setHandler(regionStatusQuery, () => this.state);
    setHandler(regionPendingAuditQuery, () => this.entries.slice(this.reported));
    setHandler(regionCommandSignal, (cmd) => this.take(cmd));
  }

  /**
   * The stage replays a history recorded before each region command had one meaning: there `resume`
   * both lifted a pause and gave the go-ahead, and `retry` gave the go-ahead to run an analysis again.
   */
  takePreviousCommands(): void {
    this.previousCommands = true;
  }

  private take(cmd: RegionCommand | PreviousRegionCommand): void {
    if (this.previousCommands && (cmd.kind === 'resume' || cmd.kind === 'retry')) {
      if (cmd.kind === 'resume') this.paused = false;
      this.goAhead = { via: cmd.kind, by: cmd.by };
      return;
    }
    if (cmd.kind === 'retry') throw new Error(`${this.name}: the region command retry is no longer sent; the rollout sends acceptDrift or reanalyse`);
    switch (cmd.kind) {
      case 'approve':
        if (this.pendingApproval?.gate === cmd.gate) this.approval = { gate: cmd.gate, by: cmd.by, comment: cmd.comment, ...(cmd.approvers ? { approvers: cmd.approvers } : {}) };
        return;
      case 'pause':
        this.paused = true;
        return;
      case 'resume':
        this.paused = false;
        return;
      case 'acceptDrift':
        this.goAhead = { via: 'resume', by: cmd.by };
        return;
      case 'reanalyse':
        this.goAhead = { via: cmd.via, by: cmd.by };
        return;
      case 'edgeDone':
        this.edgeReplies.set(cmd.key, cmd.error);
        return;
      default:
        assertNever(cmd);
    }
  }

  /** The calls of one step of this region: its names and the idempotency key of `step`. */
  ref(step: string): RegionRef {
    return { rolloutId: this.rolloutId, service: this.plan.service, region: this.name, target: this.region.target, key: this.key(step) };
  }

  key(step: string): string {
    return effectKey(this.rolloutId, this.name, step);
  }

  record<A extends AuditAction>(action: A, reason: string, data?: DataOf<A>, actor = 'meridian'): void {
    const service = this.member ? { service: this.plan.service } : {};
    this.entries.push({ at: new Date().toISOString(), actor, action, region: this.name, ...service, reason, data: data as Record<string, unknown> | undefined });
  }

  update(patch: Partial<Omit<RegionStatus, 'name' | 'wave' | 'phase' | 'reason'>>): void {
    Object.assign(this.state, patch);
  }

  setPhase(phase: RegionPhase, reason?: string): void {
    this.state.phase = phase;
    this.state.reason = reason;
  }

  /** Pushes an undo before the change it reverses; an undo already on the stack (by key) is not pushed twice. */
  pushUndo(u: Undo): void {
    if (this.undoStack.some((known) => known.key === u.key)) return;
    this.undoStack = [...this.undoStack, this.member ? { ...u, service: this.plan.service } : u];
  }

  hasUndo(kind: Undo['kind'], flagKey?: string): boolean {
    return this.undoStack.some((u) => u.kind === kind && (flagKey === undefined || (u.kind === 'restoreFlag' && u.snapshot.flagKey === flagKey)));
  }

  /** A flag of the plan with this region's provider and cap. */
  flag(key: string): { spec: FlagSpec; provider: FlagProvider; maxFraction?: number } {
    const flags = this.plan.flags!;
    const region = flags.regions[this.name]!;
    return { spec: flags.flags.find((f) => f.key === key)!, provider: region.provider, ...(region.maxFraction !== undefined ? { maxFraction: region.maxFraction } : {}) };
  }

  /** Records the stage's change to a flag: for drift, and for the status. */
  flagWritten(key: string, write: FlagWrite): void {
    this.flagWrites.set(key, write);
    const state = write.action === 'apply' ? { variant: write.variant, fraction: write.fraction } : { variant: write.flag.killSwitch, fraction: 100 };
    this.update({ flags: { ...this.state.flags, [key]: state } });
  }

  /** The drift failure for a flag someone else changed, as drivers report drift. */
  flagDrift(key: string, differences: string[]): ApplicationFailure {
    const report: DriftReport = { object: `flag ${key} (flag provider ${this.flag(key).provider.type} of ${this.name})`, changes: differences, by: [], detectedAt: new Date().toISOString() };
    return ApplicationFailure.nonRetryable(`${report.object} was changed outside Meridian: ${differences.join('; ')}`, FAILURE.drift, report);
  }

  /**
   * Reports that skip what the parent does not act on. The parent needs a region's phase, reason,
   * drift, pending approval and undo stack to decide (approve, pause, resume, abort, the saga's
   * traffic cut); weight, step and analysis progress are read live from this stage by the client,
   * so a report that changes none of the former is left out and its audit entries go with the next.
   */
  private coalesce = false;
  private lastReport?: string;
  private reportedUndo = -1;

  /** Turns coalesced reports on; called once at the stage's start, behind its `patched()` marker. */
  coalesceReports(on: boolean): void {
    this.coalesce = on;
  }

  /**
   * Shows the region in the Temporal UI and signals what the parent acts on, with the audit
   * entries since the last report. Every report of the stage goes through here.
   */
  async report(): Promise<void> {
    const s = this.state;
    const step = s.step ? ` · step ${s.step.index + 1}/${s.step.total} ${s.step.description}` : '';
    const flags = Object.entries(s.flags ?? {}).map(([key, f]) => `\n\nflag ${key}: ${f.variant} for ${f.fraction}%`).join('');
    setCurrentDetails(`**${this.name}** ${s.phase} at ${s.weight}%${step}${flags}${s.reason ? `\n\n${s.reason}` : ''}`);
    // A release's region stage starts a dependent when its provider's weight reaches a point, so a member reports weight too.
    const decisive = JSON.stringify([s.phase, s.reason, s.drift, s.waitingUntil, this.pendingApproval, this.undoStack.length, ...(this.member ? [s.weight] : [])]);
    if (this.coalesce && decisive === this.lastReport) return;
    this.lastReport = decisive;
    const undoChanged = this.undoStack.length !== this.reportedUndo;
    this.reportedUndo = this.undoStack.length;
    const fresh = this.entries.slice(this.reported);
    this.reported = this.entries.length;
    try {
      await getExternalWorkflowHandle(this.parentId).signal(regionReportSignal, {
        status: { ...s },
        ...(this.member ? { service: this.plan.service } : {}),
        pendingApproval: this.pendingApproval,
        audit: fresh,
        ...(this.coalesce && !undoChanged ? {} : { undo: this.undoStack }),
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      // The parent has closed: nobody is left to report to, and the stage's outcome still carries everything.
    }
  }

  /**
   * The outcome of a stage that ran to its end. A coalesced stage hands its last audit entries to
   * the parent in the outcome instead of one more report, since the parent learns of the end anyway.
   */
  async complete(): Promise<RegionOutcome> {
    if (!this.coalesce) {
      await this.report();
      return this.outcome();
    }
    const audit = this.entries.slice(this.reported);
    this.reported = this.entries.length;
    return { ...this.outcome(), audit };
  }

  outcome(): RegionOutcome {
    return { status: { ...this.state }, undo: this.undoStack };
  }

  /** The failure the stage ends with, carrying its outcome for the parent's saga. */
  failure(reason: string, type: FailureType): ApplicationFailure {
    return ApplicationFailure.nonRetryable(reason, type, this.outcome());
  }

  /** The region degrades and the stage ends with `type`. */
  fail(reason: string, type: FailureType): ApplicationFailure {
    this.setPhase('Degraded', reason);
    return this.failure(reason, type);
  }

  /** Holds the stage while an operator has paused it, then goes back to the phase it was in. */
  async waitWhilePaused(): Promise<void> {
    if (!this.paused) return;
    const before = this.state.phase;
    this.setPhase('Paused', 'paused by an operator');
    await this.report();
    await condition(() => !this.paused);
    this.setPhase(before);
  }

  /** Waits at a gate until an operator approves it, or until `timeoutMs` has passed (then undefined). */
  async awaitApproval(pending: PendingApproval, timeoutMs?: number): Promise<Approval | undefined> {
    this.pendingApproval = this.member ? { ...pending, service: this.plan.service } : pending;
    this.approval = undefined;
    this.setPhase('AwaitingApproval', `waiting for approval of gate "${pending.gate}"`);
    await this.report();
    const approved = timeoutMs
      ? await condition(() => this.approval !== undefined, timeoutMs)
      : (await condition(() => this.approval !== undefined), true);
    this.pendingApproval = undefined;
    return approved ? this.approval : undefined;
  }

  /** Asks the parent to mirror `percent` of the region's traffic to its canary at its edges; the error, if it could not. */
  async mirror(percent: number, step: string): Promise<string | undefined> {
    const key = this.key(step);
    await getExternalWorkflowHandle(this.parentId).signal(edgeRequestSignal, { region: this.name, kind: 'mirror', percent, key });
    await condition(() => this.edgeReplies.has(key));
    const error = this.edgeReplies.get(key);
    if (error === undefined) this.mirrored = percent;
    return error;
  }

  /** Reports the region waiting on a human (drift, an inconclusive analysis) and waits for the go-ahead. */
  async awaitGoAhead(): Promise<GoAhead> {
    this.goAhead = undefined;
    await this.report();
    await condition(() => this.goAhead !== undefined);
    return this.goAhead!;
  }
}
