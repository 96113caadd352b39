import {
  CancellationScope,
  getExternalWorkflowHandle,
  isCancellation,
  setCurrentDetails,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { mergeUndo } from '../domain/compensation';
import { rootMessage } from '../domain/errors';
import { derivePhase } from '../domain/phase';
import type { RolloutPlan } from '../domain/plan';
import type {
  AuditEntry,
  PendingApproval,
  RegionStatus,
  RolloutPhase,
  RolloutStatus,
  Undo,
  UndoRecord,
} from '../domain/status';
import {
  MeridianPhase,
  regionCommandSignal,
  regionWorkflowId,
  type AbortRequest,
  type RegionCommand,
  type RegionOutcome,
} from './definitions';

/** Region phases in which a child workflow is running and can take commands. */
const IN_FLIGHT = new Set(['WaitingForWindow', 'WaitingForHealth', 'Progressing', 'Paused', 'AwaitingApproval', 'Inconclusive', 'Baking']);

export type HoldDecision = 'waiting' | 'retry' | 'resume';

/**
 * Everything one rollout workflow knows, shared by its main flow, its saga and its message handlers.
 * Only workflow APIs touch the outside world from here: search attributes, current details, signals
 * to region stages.
 */
export class RolloutState {
  readonly order: string[];
  readonly regions: Map<string, RegionStatus>;
  readonly undo = new Map<string, Undo[]>();
  readonly approvals = new Map<string, PendingApproval>();
  readonly audit: AuditEntry[] = [];
  /** Regions the pause policy holds after a failure, and the operator's decision once it comes. */
  readonly held = new Map<string, HoldDecision>();
  readonly failures: { region: string; reason: string }[] = [];
  compensation: UndoRecord[] = [];
  baselines: Record<string, Record<string, number>> = {};
  waveIndex = 0;
  started = false;
  compensating = false;
  needsAttention = false;
  paused = false;
  retryCompensation = false;
  /** Waiting for an operator after contract migrations failed; abort and retry then concern the contract, not a rollback. */
  contractPending = false;
  rollbackAll = false;
  abort?: AbortRequest;
  reason?: string;
  waveScope?: CancellationScope;
  private ended?: RolloutPhase;
  private endedAt?: string;
  private lastPhase?: RolloutPhase;
  private readonly startedAt = new Date().toISOString();

  constructor(
    readonly id: string,
    readonly plan: RolloutPlan,
    readonly searchAttributes: boolean,
  ) {
    this.order = plan.waves.flatMap((w) => w.regions);
    this.regions = new Map(
      this.order.map((name) => [name, { name, wave: plan.regions[name]!.wave, phase: 'Pending', weight: 0, verdicts: [] }]),
    );
  }

  record(action: string, why: string, opts: { actor?: string; region?: string; data?: Record<string, unknown> } = {}): void {
    this.audit.push({ at: new Date().toISOString(), actor: opts.actor ?? 'meridian', action, region: opts.region, reason: why, data: opts.data });
  }

  phase(): RolloutPhase {
    return derivePhase({
      started: this.started,
      ended: this.ended,
      compensating: this.compensating,
      needsAttention: this.needsAttention,
      paused: this.paused,
      regions: [...this.regions.values()],
      pendingApprovals: [...this.approvals.values()],
    });
  }

  get endedPhase(): RolloutPhase | undefined {
    return this.ended;
  }

  end(phase: RolloutPhase, reason: string, action: string): void {
    this.ended = phase;
    this.endedAt = new Date().toISOString();
    this.reason = reason;
    for (const n of this.order) if (this.region(n).phase === 'Pending') this.setRegion(n, { phase: 'Cancelled', reason: 'not started' });
    this.record(action, reason);
    this.sync();
  }

  /** An abort or a rollback-all is under way: no new region starts. */
  stopping(): boolean {
    return this.abort !== undefined || this.rollbackAll;
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
      pendingApprovals: [...this.approvals.values()],
      compensation: this.compensation,
      baselines: this.baselines,
      audit: this.audit,
      reason: this.reason,
      startedAt: this.startedAt,
      endedAt: this.endedAt,
    };
  }

  /** Keeps the search attributes and the UI's current details in step with the state. */
  sync(): void {
    const now = this.phase();
    if (this.searchAttributes && now !== this.lastPhase) upsertSearchAttributes([{ key: MeridianPhase, value: now }]);
    this.lastPhase = now;
    const wave = this.plan.waves[this.waveIndex]!;
    const lines = this.order.map((n) => {
      const r = this.region(n);
      return `- ${n}: ${r.phase} ${r.weight}%${r.step ? ` · ${r.step.description}` : ''}`;
    });
    setCurrentDetails(
      [`**${now}** · wave ${this.waveIndex + 1}/${this.plan.waves.length} (${wave.name})`, ...lines, this.reason ? `\n${this.reason}` : '']
        .join('\n')
        .trim(),
    );
  }

  region(name: string): RegionStatus {
    return this.regions.get(name)!;
  }

  setRegion(name: string, patch: Partial<RegionStatus>): void {
    this.regions.set(name, { ...this.region(name), ...patch });
  }

  /** A region stage's final state and undo stack, from its result or its failure's details. */
  absorb(name: string, out: RegionOutcome): void {
    this.regions.set(name, out.status);
    this.addUndo(name, out.undo);
  }

  addUndo(name: string, undo: Undo[]): void {
    this.undo.set(name, mergeUndo(this.undo.get(name) ?? [], undo));
  }

  inFlight(): RegionStatus[] {
    return [...this.regions.values()].filter((r) => IN_FLIGHT.has(r.phase) && !this.held.has(r.name));
  }

  /** Forwards an operator command to a running region stage; an undeliverable one goes to the audit trail. */
  async command(region: string, cmd: RegionCommand): Promise<void> {
    try {
      await getExternalWorkflowHandle(regionWorkflowId(this.id, region)).signal(regionCommandSignal, cmd);
    } catch (err) {
      if (isCancellation(err)) throw err;
      this.record('command-undelivered', `${cmd.kind} could not reach ${region}: ${rootMessage(err)}`, { region });
    }
  }
}
