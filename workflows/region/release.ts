import {
  ApplicationFailure,
  CancellationScope,
  condition,
  executeChild,
  getExternalWorkflowHandle,
  isCancellation,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { rootMessage } from '../../domain/errors';
import type { RolloutPlan } from '../../domain/plan';
import { releaseOrder, unitRolloutId } from '../../domain/release';
import type { Dependency, ServiceStep } from '../../domain/release-graph';
import type { AuditEntry, PendingApproval, RegionPhase, RegionStatus, ServiceStatus, Undo } from '../../domain/status';
import { FAILURE, type AuditAction, type FailureType } from '../../domain/vocabulary';
import {
  regionCommandSignal,
  regionPendingAuditQuery,
  regionReportSignal,
  regionStatusQuery,
  serviceWorkflowId,
  type RegionCommand,
  type RegionInput,
  type RegionOutcome,
  type RegionReport,
} from '../definitions';
import { regionRolloutWorkflow } from './index';

/** One service's stage in the region, as the release's region stage follows it. */
interface Member {
  step: ServiceStep;
  plan: RolloutPlan;
  status: ServiceStatus;
  undo: Undo[];
  pending?: PendingApproval;
  started: boolean;
  done: boolean;
}

const PAST_PROMOTE: ReadonlySet<RegionPhase> = new Set(['Baking', 'Promoted']);
/** A dependency point as a dependent waits for it, and once it was reached. */
const POINT_TEXT: Record<Dependency['until'], { awaited: string; reached: string }> = {
  canary: { awaited: 'take canary traffic', reached: 'takes canary traffic' },
  promoted: { awaited: 'be promoted', reached: 'is promoted' },
  baked: { awaited: 'finish its bake', reached: 'finished its bake' },
};

/**
 * A release's stage in one region: each service's own region stage as a child, started in
 * dependency order once its providers reached their points here, independent ones in parallel. A
 * failure of any service fails the region: the others stop, and the outcome hands the parent every
 * service's undo stack, which its saga runs consumers first.
 */
export async function regionReleaseWorkflow(input: RegionInput): Promise<RegionOutcome> {
  const stage = new ReleaseStage(input);
  stage.listen();
  const scope = new CancellationScope();
  let failure: { err: unknown; service: string } | undefined;
  const runs = stage.order.map((step) =>
    scope.run(() => stage.runMember(step)).catch((err: unknown) => {
      if (failure || isCancellation(err) || failureType(err) === FAILURE.regionCancelled) return;
      failure = { err, service: step.service };
      scope.cancel();
    }),
  );
  await Promise.all(runs);
  if (failure) throw stage.failed(failure.service, failure.err);
  if (CancellationScope.current().consideredCancelled) throw stage.cancelled();
  return stage.complete();
}

function failureType(err: unknown): string | undefined {
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

export class ReleaseStage {
  readonly order: ServiceStep[];
  private readonly input: RegionInput;
  private readonly members = new Map<string, Member>();
  private readonly entries: AuditEntry[] = [];
  private reported = 0;
  private paused = false;
  private readonly id = workflowInfo().workflowId;

  constructor(input: RegionInput) {
    this.input = input;
    const release = input.plan.release!;
    this.order = releaseOrder(release, input.region);
    for (const step of this.order) {
      const plan = release.services.find((s) => s.name === step.service)!.plan;
      const region = plan.regions[input.region]!;
      const status: ServiceStatus = { service: step.service, version: plan.version, name: input.region, wave: region.wave, phase: 'Pending', weight: 0, verdicts: [] };
      if (step.waitsFor.length) status.waitsFor = step.waitsFor.map((w) => ({ ...w }));
      const undo = (input.undo ?? []).filter((u) => u.service === step.service);
      this.members.set(step.service, { step, plan, status, undo, started: false, done: false });
    }
  }

  get region(): string {
    return this.input.region;
  }

  listen(): void {
    setHandler(regionStatusQuery, () => this.status());
    setHandler(regionPendingAuditQuery, () => this.entries.slice(this.reported));
    setHandler(regionReportSignal, (report) => this.absorbReport(report));
    setHandler(regionCommandSignal, (cmd) => this.route(cmd));
  }

  /** Waits for the service's providers to reach their points here, then runs its stage to its end. */
  async runMember(step: ServiceStep): Promise<void> {
    const m = this.members.get(step.service)!;
    await condition(() => !this.paused && step.waitsFor.every((w) => this.reached(w)));
    m.started = true;
    m.status.waitsFor = undefined;
    m.status.phase = 'Progressing';
    const after = step.waitsFor.map((w) => `${w.service} ${POINT_TEXT[w.until].reached}`);
    this.record('service-start', `${step.service} starts in ${this.region}${after.length ? ` now that ${after.join(' and ')} here` : ''}`, step.service, { waitedFor: step.waitsFor });
    await this.report();
    try {
      const out = await executeChild(regionRolloutWorkflow, {
        workflowId: serviceWorkflowId(this.input.rolloutId, this.region, step.service),
        args: [this.memberInput(m)],
        staticSummary: `${step.service} ${m.plan.version} in ${this.region} (release ${this.input.plan.service} ${this.input.plan.version})`,
        staticDetails: `Service stage of ${this.input.rolloutId} in ${this.region}. Steps: ${m.plan.regions[this.region]!.steps.length}.`,
      });
      this.absorbOutcome(m, out);
      m.done = true;
      await this.report();
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      const out = cause instanceof ApplicationFailure ? (cause.details?.[0] as RegionOutcome | undefined) : undefined;
      if (out) this.absorbOutcome(m, out);
      throw err;
    }
  }

  private memberInput(m: Member): RegionInput {
    const { input } = this;
    return {
      rolloutId: unitRolloutId(input.rolloutId, input.plan, m.step.service),
      parentId: this.id,
      plan: m.plan,
      region: this.region,
      analysisChunkMs: input.analysisChunkMs,
      knownGood: input.knownGoods?.[m.step.service],
      undo: m.undo,
      baselines: input.baselines,
      releaseOf: input.rolloutId,
    };
  }

  private reached(w: Dependency): boolean {
    const m = this.members.get(w.service);
    if (!m) return true;
    if (m.done) return true;
    if (w.until === 'baked') return false;
    if (PAST_PROMOTE.has(m.status.phase) || m.status.weight >= 100) return true;
    return w.until === 'canary' && m.status.weight > 0;
  }

  private absorbReport(report: RegionReport): void {
    const m = report.service === undefined ? undefined : this.members.get(report.service);
    if (!m) return;
    Object.assign(m.status, report.status, { service: m.step.service, version: m.plan.version });
    if (report.undo) m.undo = report.undo;
    m.pending = report.pendingApproval;
    this.entries.push(...report.audit);
    void this.report();
  }

  private absorbOutcome(m: Member, out: RegionOutcome): void {
    Object.assign(m.status, out.status, { service: m.step.service, version: m.plan.version });
    m.undo = out.undo;
    m.pending = undefined;
    if (out.audit) this.entries.push(...out.audit);
  }

  /** The parent's command, to the services it concerns: a gate's service, or every service it applies to. */
  private async route(cmd: RegionCommand): Promise<void> {
    if (cmd.kind === 'pause') this.paused = true;
    if (cmd.kind === 'resume') this.paused = false;
    const targets = [...this.members.values()].filter((m) => m.started && !m.done && this.concerns(m, cmd));
    await Promise.all(
      targets.map(async (m) => {
        try {
          await getExternalWorkflowHandle(serviceWorkflowId(this.input.rolloutId, this.region, m.step.service)).signal(regionCommandSignal, cmd);
        } catch (err) {
          if (isCancellation(err)) throw err;
          this.record('command-undelivered', `${cmd.kind} could not reach ${m.step.service} in ${this.region}: ${rootMessage(err)}`, m.step.service);
        }
      }),
    );
  }

  private concerns(m: Member, cmd: RegionCommand): boolean {
    const service = 'service' in cmd ? cmd.service : undefined;
    if (service !== undefined && service !== m.step.service) return false;
    switch (cmd.kind) {
      case 'approve':
        return m.pending?.gate === cmd.gate;
      case 'acceptDrift':
        return m.status.drift !== undefined;
      case 'reanalyse':
        return m.status.phase === 'Inconclusive';
      default:
        return true;
    }
  }

  private record(action: AuditAction, reason: string, service?: string, data?: Record<string, unknown>): void {
    this.entries.push({ at: new Date().toISOString(), actor: 'meridian', action, region: this.region, ...(service ? { service } : {}), reason, ...(data ? { data } : {}) });
  }

  /** The region as one row, with a row per service. */
  status(): RegionStatus {
    const rows = this.order.map((s) => ({ ...this.members.get(s.service)!.status }));
    const { phase, reason } = aggregate(rows, this.region);
    const started = rows.filter((r) => r.phase !== 'Pending');
    return {
      name: this.region,
      wave: this.input.plan.regions[this.region]!.wave,
      phase,
      weight: started.length ? Math.min(...started.map((r) => r.weight)) : 0,
      verdicts: rows.flatMap((r) => r.verdicts),
      ...(reason ? { reason } : {}),
      ...(rows.find((r) => r.drift)?.drift ? { drift: rows.find((r) => r.drift)!.drift } : {}),
      services: rows,
    };
  }

  /** Every service's undo stack, providers first, so the saga's newest-first pass starts with the consumers. */
  undo(): Undo[] {
    return this.order.flatMap((s) => this.members.get(s.service)!.undo);
  }

  private pendingApprovals(): PendingApproval[] {
    return this.order.flatMap((s) => this.members.get(s.service)!.pending ?? []);
  }

  private sending?: Promise<void>;
  private dirty = false;
  private lastReport?: string;

  /**
   * Tells the parent the region's state now. One report is in flight at a time and each carries the
   * state when it is sent, so the parent never applies an older state after a newer one; the
   * returned promise settles once a report with this call's state was sent.
   */
  report(): Promise<void> {
    this.dirty = true;
    this.sending ??= this.flush();
    return this.sending;
  }

  private async flush(): Promise<void> {
    try {
      while (this.dirty) {
        this.dirty = false;
        await this.send();
      }
    } finally {
      this.sending = undefined;
    }
  }

  /**
   * Sends what the parent acts on when it changed: phases, reasons, drift, waits, gates and the undo
   * stack. Weights and steps alone are left out, as a one-service stage leaves them out; the client
   * reads them live from each service's stage, and the audit entries go with the next report or
   * the outcome, in time order.
   */
  private async send(): Promise<void> {
    const status = this.status();
    setCurrentDetails(status.services!.map((r) => `**${r.service}** ${r.phase} at ${r.weight}%${r.reason ? ` · ${r.reason}` : ''}`).join('\n\n'));
    const pending = this.pendingApprovals();
    const undo = this.undo();
    const decisive = JSON.stringify([status.phase, status.reason, status.drift, pending, undo.length, status.services!.map((r) => [r.service, r.phase, r.reason, r.drift, r.waitsFor])]);
    if (decisive === this.lastReport) return;
    this.lastReport = decisive;
    const fresh = this.unreported();
    // A stopping region still tells the parent how far each service got: the saga undoes from it.
    await CancellationScope.nonCancellable(async () => {
      try {
        await getExternalWorkflowHandle(this.input.parentId).signal(regionReportSignal, { status, pendingApproval: pending[0], pendingApprovals: pending, audit: fresh, undo });
      } catch {
        // The parent has closed: nobody is left to report to, and the outcome still carries everything.
      }
    });
  }

  private outcome(): RegionOutcome {
    return { status: this.status(), undo: this.undo() };
  }

  complete(): RegionOutcome {
    return { ...this.outcome(), audit: this.unreported() };
  }

  /** The entries no report carried yet, oldest first: a service's last entries may arrive after another service's newer ones. */
  private unreported(): AuditEntry[] {
    const fresh = this.entries.slice(this.reported).map((e, i) => ({ e, i }));
    this.reported = this.entries.length;
    return fresh.sort((a, b) => a.e.at.localeCompare(b.e.at) || a.i - b.i).map(({ e }) => e);
  }

  /** The region fails with the service's own failure type, its reason naming the service. */
  failed(service: string, err: unknown): ApplicationFailure {
    const cause = (err as { cause?: unknown }).cause;
    const type = (cause instanceof ApplicationFailure ? cause.type : undefined) ?? FAILURE.regionError;
    const reason = `${service} in ${this.region}: ${cause instanceof Error ? cause.message : rootMessage(err)}`;
    this.record('service-failed', reason, service, { failure: type });
    for (const m of this.members.values()) {
      if (!m.started) Object.assign(m.status, { phase: 'Cancelled', reason: `not started: ${service} failed in ${this.region}`, waitsFor: undefined });
    }
    return ApplicationFailure.nonRetryable(reason, type as FailureType, this.complete());
  }

  cancelled(): ApplicationFailure {
    for (const m of this.members.values()) if (!m.done && m.status.phase === 'Pending') Object.assign(m.status, { phase: 'Cancelled', reason: 'stopped by the rollout', waitsFor: undefined });
    return ApplicationFailure.nonRetryable(`${this.region} stopped by the rollout`, FAILURE.regionCancelled, this.complete());
  }
}

/** The region's phase from its services': the one that needs someone first, then the least advanced. */
function aggregate(rows: ServiceStatus[], region: string): { phase: RegionPhase; reason?: string } {
  const first = (phases: RegionPhase[]) => rows.find((r) => phases.includes(r.phase));
  const urgent = first(['Degraded', 'NeedsAttention']) ?? first(['AwaitingApproval']) ?? first(['Inconclusive']) ?? first(['Paused']);
  if (urgent) return { phase: urgent.phase, reason: `${urgent.service}: ${urgent.reason ?? urgent.phase}` };
  if (rows.every((r) => r.phase === 'Promoted')) return { phase: 'Promoted' };
  if (rows.every((r) => r.phase === 'Cancelled' || r.phase === 'Promoted')) return { phase: 'Cancelled', reason: rows.find((r) => r.phase === 'Cancelled')?.reason };
  const waiting = rows.filter((r) => r.waitsFor?.length);
  const waitText = waiting.map((r) => `${r.service} waits for ${r.waitsFor!.map((w) => `${w.service} to ${POINT_TEXT[w.until as Dependency['until']].awaited}`).join(' and ')} in ${region}`);
  const active = first(['Progressing']) ?? first(['WaitingForWindow', 'WaitingForHealth']) ?? first(['Baking']);
  if (active) return { phase: active.phase === 'Baking' && waiting.length ? 'Progressing' : active.phase, reason: waitText.join('; ') || active.reason };
  return { phase: 'Pending', ...(waitText.length ? { reason: waitText.join('; ') } : {}) };
}
