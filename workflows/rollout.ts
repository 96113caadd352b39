import {
  ApplicationFailure,
  CancellationScope,
  condition,
  executeChild,
  getExternalWorkflowHandle,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RolloutActivities } from '../activities/types';
import { compensationPlan, describeUndo, mergeUndo } from '../src/domain/compensation';
import { rootMessage } from '../src/domain/errors';
import { derivePhase } from '../src/domain/phase';
import type { WavePlan } from '../src/domain/plan';
import type {
  AuditEntry,
  PendingApproval,
  RegionStatus,
  RolloutPhase,
  RolloutStatus,
  Undo,
  UndoRecord,
} from '../src/domain/status';
import { assertNever } from '../src/domain/status';
import {
  abortSignal,
  abortUpdate,
  approveSignal,
  approveUpdate,
  MeridianPhase,
  MeridianRegions,
  MeridianService,
  MeridianVersion,
  pauseSignal,
  pauseUpdate,
  regionCommandSignal,
  regionReportSignal,
  regionWorkflowId,
  resumeSignal,
  resumeUpdate,
  retrySignal,
  retryUpdate,
  statusQuery,
  type AbortRequest,
  type ApproveRequest,
  type CommandResult,
  type OperatorRequest,
  type RegionCommand,
  type RegionOutcome,
  type RolloutInput,
} from './definitions';
import { PRESETS } from './presets';
import { REGION_FAILURE, regionRolloutWorkflow } from './region';

const { preflight } = proxyActivities<RolloutActivities>(PRESETS.preflight);
const undoActivities = proxyActivities<RolloutActivities>(PRESETS.undo);

/** Region phases in which a child workflow is running and can take commands. */
const IN_FLIGHT = new Set(['WaitingForWindow', 'Progressing', 'Paused', 'AwaitingApproval', 'Inconclusive', 'Baking']);

/**
 * One rollout: preflight, then each wave's regions as child workflows (up to maxParallel at once),
 * then, on a failure or an abort, the saga that undoes every touched region, newest wave first.
 */
export async function rolloutWorkflow(input: RolloutInput): Promise<RolloutStatus> {
  const { plan } = input;
  const id = workflowInfo().workflowId;
  const searchAttributes = input.searchAttributes !== false;
  const order = plan.waves.flatMap((w) => w.regions);
  const regions = new Map<string, RegionStatus>(
    order.map((name) => [name, { name, wave: plan.regions[name]!.wave, phase: 'Pending', weight: 0, verdicts: [] }]),
  );
  const undo = new Map<string, Undo[]>();
  const approvals = new Map<string, PendingApproval>();
  const audit: AuditEntry[] = [];
  const held = new Map<string, 'waiting' | 'retry' | 'resume'>();
  const failures: { region: string; reason: string }[] = [];
  let compensation: UndoRecord[] = [];
  let waveIndex = 0;
  let started = false;
  let compensating = false;
  let needsAttention = false;
  let paused = false;
  let retryCompensation = false;
  let rollbackAll = false;
  let abort: AbortRequest | undefined;
  let ended: RolloutPhase | undefined;
  let reason: string | undefined;
  let waveScope: CancellationScope | undefined;
  let lastPhase: RolloutPhase | undefined;
  const startedAt = new Date().toISOString();

  const record = (action: string, why: string, opts: { actor?: string; region?: string; data?: Record<string, unknown> } = {}) =>
    audit.push({ at: new Date().toISOString(), actor: opts.actor ?? 'meridian', action, region: opts.region, reason: why, data: opts.data });

  const phase = (): RolloutPhase =>
    derivePhase({
      started,
      ended,
      compensating,
      needsAttention,
      paused,
      regions: [...regions.values()],
      pendingApprovals: [...approvals.values()],
    });

  const status = (): RolloutStatus => {
    const wave = plan.waves[waveIndex]!;
    return {
      id,
      service: plan.service,
      version: plan.version,
      image: plan.image,
      phase: phase(),
      failurePolicy: plan.failurePolicy,
      wave: { index: waveIndex, total: plan.waves.length, name: wave.name },
      regions: order.map((n) => regions.get(n)!),
      pendingApprovals: [...approvals.values()],
      compensation,
      audit,
      reason,
      startedAt,
      endedAt: ended ? new Date().toISOString() : undefined,
    };
  };

  /** Keeps the search attributes and the UI's current details in step with the state. */
  const sync = () => {
    const now = phase();
    if (searchAttributes && now !== lastPhase) upsertSearchAttributes([{ key: MeridianPhase, value: now }]);
    lastPhase = now;
    const wave = plan.waves[waveIndex]!;
    const lines = order.map((n) => {
      const r = regions.get(n)!;
      return `- ${n}: ${r.phase} ${r.weight}%${r.step ? ` · ${r.step.description}` : ''}`;
    });
    setCurrentDetails(
      [`**${now}** · wave ${waveIndex + 1}/${plan.waves.length} (${wave.name})`, ...lines, reason ? `\n${reason}` : '']
        .join('\n')
        .trim(),
    );
  };

  const setRegion = (name: string, patch: Partial<RegionStatus>) => regions.set(name, { ...regions.get(name)!, ...patch });

  const absorb = (name: string, out: RegionOutcome) => {
    regions.set(name, out.status);
    undo.set(name, mergeUndo(undo.get(name) ?? [], out.undo));
  };

  const command = async (region: string, cmd: RegionCommand) => {
    try {
      await getExternalWorkflowHandle(regionWorkflowId(id, region)).signal(regionCommandSignal, cmd);
    } catch (err) {
      if (isCancellation(err)) throw err;
      record('command-undelivered', `${cmd.kind} could not reach ${region}: ${rootMessage(err)}`, { region });
    }
  };

  const inFlight = (filter?: string) =>
    [...regions.values()].filter((r) => IN_FLIGHT.has(r.phase) && !held.has(r.name) && (!filter || r.name === filter));

  // ---- operator messages -------------------------------------------------------------------

  const validateApprove = (req: ApproveRequest) => {
    if (!req?.by) throw new Error('approve needs "by": who approves');
    if (!regions.has(req.region)) throw new Error(`unknown region "${req.region}" (regions: ${order.join(', ')})`);
    const pending = approvals.get(req.region);
    if (!pending) throw new Error(`region "${req.region}" is not waiting for approval (it is ${regions.get(req.region)!.phase})`);
    if (req.gate && req.gate !== pending.gate) {
      throw new Error(`region "${req.region}" waits on gate "${pending.gate}", not "${req.gate}"`);
    }
    if (pending.approvers && !pending.approvers.includes(req.by)) {
      throw new Error(`"${req.by}" may not approve gate "${pending.gate}" in ${req.region} (approvers: ${pending.approvers.join(', ')})`);
    }
  };
  const doApprove = async (req: ApproveRequest): Promise<CommandResult> => {
    const pending = approvals.get(req.region)!;
    approvals.delete(req.region);
    record('approve', req.comment ?? `gate "${pending.gate}" approved`, { actor: req.by, region: req.region, data: { gate: pending.gate } });
    await command(req.region, { kind: 'approve', gate: pending.gate, by: req.by, comment: req.comment });
    sync();
    return { accepted: true, phase: phase(), message: `approved gate "${pending.gate}" in ${req.region}` };
  };

  const validateAbort = (req: AbortRequest) => {
    if (!req?.by) throw new Error('abort needs "by": who aborts');
    if (!req.reason) throw new Error('abort needs a reason');
    if (ended) throw new Error(`rollout already ended ${ended}`);
  };
  const doAbort = (req: AbortRequest): CommandResult => {
    if (abort || compensating) {
      record('abort', `${req.reason} (already rolling back; compensation continues)`, { actor: req.by });
      return { accepted: true, phase: phase(), message: 'already rolling back; compensation continues to the end' };
    }
    abort = req;
    record('abort', req.reason, { actor: req.by });
    void cutTraffic();
    waveScope?.cancel();
    sync();
    return { accepted: true, phase: phase(), message: `aborting: every touched region goes back to its known-good state` };
  };

  const validatePause = (req: OperatorRequest) => {
    if (!req?.by) throw new Error('pause needs "by"');
    if (ended) throw new Error(`rollout already ended ${ended}`);
    if (compensating || abort) throw new Error('rollout is rolling back; a rollback cannot be paused');
    if (paused) throw new Error('rollout is already paused');
  };
  const doPause = async (req: OperatorRequest): Promise<CommandResult> => {
    paused = true;
    record('pause', req.reason ?? 'paused by an operator', { actor: req.by });
    sync();
    for (const r of inFlight()) await command(r.name, { kind: 'pause', by: req.by, reason: req.reason });
    return { accepted: true, phase: phase(), message: 'paused: regions hold at their current step' };
  };

  const resumable = (region?: string) => ({
    pause: paused && !region,
    held: [...held.entries()].filter(([n, s]) => s === 'waiting' && (!region || n === region)).map(([n]) => n),
    inconclusive: [...regions.values()].filter((r) => r.phase === 'Inconclusive' && (!region || r.name === region)).map((r) => r.name),
  });
  const validateResume = (req: OperatorRequest) => {
    if (!req?.by) throw new Error('resume needs "by"');
    if (ended) throw new Error(`rollout already ended ${ended}`);
    if (req.region && !regions.has(req.region)) throw new Error(`unknown region "${req.region}" (regions: ${order.join(', ')})`);
    const r = resumable(req.region);
    if (!r.pause && !r.held.length && !r.inconclusive.length) throw new Error('nothing to resume: the rollout is not paused');
  };
  const doResumeOrRetry = async (kind: 'resume' | 'retry', req: OperatorRequest): Promise<CommandResult> => {
    const r = resumable(req.region);
    record(kind, req.reason ?? `${kind} by an operator`, { actor: req.by, region: req.region });
    if (kind === 'retry' && needsAttention) retryCompensation = true;
    if (r.pause) {
      paused = false;
      for (const s of inFlight()) await command(s.name, { kind: 'resume', by: req.by, reason: req.reason });
    }
    for (const n of r.held) held.set(n, kind);
    for (const n of r.inconclusive) await command(n, { kind, by: req.by, reason: req.reason });
    sync();
    const what = [...r.held, ...r.inconclusive];
    return {
      accepted: true,
      phase: phase(),
      message: retryCompensation ? 'retrying the failed rollback steps' : `${kind}d${what.length ? ` ${what.join(', ')}` : ''}`,
    };
  };
  const validateRetry = (req: OperatorRequest) => {
    if (!req?.by) throw new Error('retry needs "by"');
    if (ended) throw new Error(`rollout already ended ${ended}`);
    const r = resumable(req.region);
    if (!needsAttention && !r.held.length && !r.inconclusive.length) {
      throw new Error('nothing to retry: no failed rollback, held region or inconclusive analysis');
    }
  };

  /** A signal is fire-and-forget: a rejected one is kept in the audit trail instead of answered. */
  const asSignal =
    <T>(validate: (req: T) => void, run: (req: T) => unknown, name: string) =>
    async (req: T) => {
      try {
        validate(req);
      } catch (err) {
        record(`${name}-ignored`, (err as Error).message, { actor: (req as { by?: string })?.by ?? 'unknown' });
        return;
      }
      await run(req);
    };

  setHandler(statusQuery, status);
  setHandler(approveUpdate, doApprove, { validator: validateApprove });
  setHandler(approveSignal, asSignal(validateApprove, doApprove, 'approve'));
  setHandler(abortUpdate, doAbort, { validator: validateAbort });
  setHandler(abortSignal, asSignal(validateAbort, doAbort, 'abort'));
  setHandler(pauseUpdate, doPause, { validator: validatePause });
  setHandler(pauseSignal, asSignal(validatePause, doPause, 'pause'));
  setHandler(resumeUpdate, (req) => doResumeOrRetry('resume', req), { validator: validateResume });
  setHandler(resumeSignal, asSignal(validateResume, (req) => doResumeOrRetry('resume', req), 'resume'));
  setHandler(retryUpdate, (req) => doResumeOrRetry('retry', req), { validator: validateRetry });
  setHandler(retrySignal, asSignal(validateRetry, (req) => doResumeOrRetry('retry', req), 'retry'));
  setHandler(regionReportSignal, (report) => {
    const name = report.status.name;
    if (!regions.has(name)) return;
    if (!compensating || report.status.phase !== 'Cancelled') regions.set(name, report.status);
    undo.set(name, mergeUndo(undo.get(name) ?? [], report.undo));
    if (report.pendingApproval) approvals.set(name, report.pendingApproval);
    else approvals.delete(name);
    audit.push(...report.audit);
    sync();
  });

  // ---- compensation (saga) -----------------------------------------------------------------

  const runUndo = async (u: Undo) => {
    const ref = { rolloutId: id, service: plan.service, region: u.region, target: plan.regions[u.region]!.target, key: u.key };
    switch (u.kind) {
      case 'restoreTraffic':
        return undoActivities.restoreTraffic.executeWithOptions({ ...PRESETS.undo, summary: `rollback traffic ${u.region} to ${u.weight}%` }, [
          { ...ref, weight: u.weight },
        ]);
      case 'restoreWorkload':
        return undoActivities.restoreWorkload.executeWithOptions({ ...PRESETS.undo, summary: `restore ${u.region} to ${u.snapshot.image}` }, [
          { ...ref, snapshot: u.snapshot },
        ]);
      case 'revertMigrations':
      case 'reconcileData':
        throw ApplicationFailure.nonRetryable(`this worker cannot ${describeUndo(u)}: stateful rollouts are not supported yet`, 'UnsupportedUndo');
      default:
        return assertNever(u);
    }
  };

  let trafficCut: Promise<unknown> | undefined;
  /**
   * The first reaction to an abort or a rollback-all: every region with a live canary sends its
   * traffic back to stable at once, in parallel, before the saga's ordered pass repeats it under its
   * own key once the stages have stopped. Restoring traffic is each region's newest undo, so this
   * keeps the newest-first order.
   */
  const cutTraffic = () =>
    (trafficCut ??= CancellationScope.nonCancellable(() =>
      Promise.all(
        order
          .filter((n) => !['Pending', 'Promoted', 'RolledBack'].includes(regions.get(n)!.phase))
          .flatMap((n) => (undo.get(n) ?? []).filter((u) => u.kind === 'restoreTraffic'))
          .map(async (u) => {
            try {
              await runUndo({ ...u, key: `${u.key}-first` });
              record('traffic-cut', `traffic in ${u.region} moved back to stable at once`, { region: u.region });
            } catch (err) {
              if (isCancellation(err)) throw err;
              record('traffic-cut-failed', `${rootMessage(err)}; the rollback retries it in order`, { region: u.region });
            }
          }),
      ),
    ));

  /** Undo one region newest first; stop at its first failure, since later undos assume earlier ones held. */
  const undoRegion = async (name: string, records: UndoRecord[]) => {
    setRegion(name, { phase: 'RollingBack', step: undefined });
    sync();
    for (const rec of records) {
      if (rec.outcome === 'done') continue;
      rec.attempts += 1;
      try {
        await runUndo(rec.undo);
        rec.outcome = 'done';
        rec.error = undefined;
        record('undo', describeUndo(rec.undo), { region: name });
      } catch (err) {
        if (isCancellation(err)) throw err;
        rec.outcome = 'failed';
        rec.error = rootMessage(err);
        const why = `could not ${describeUndo(rec.undo)} (${rec.attempts} run${rec.attempts > 1 ? 's' : ''} of ${PRESETS.undo.retry.maximumAttempts} attempts): ${rec.error}`;
        record('undo-failed', why, { region: name, data: { undo: rec.undo.kind } });
        setRegion(name, { phase: 'NeedsAttention', reason: why });
        sync();
        return;
      }
    }
    const snapshot = regions.get(name)!.snapshot;
    setRegion(name, { phase: 'RolledBack', weight: snapshot?.weight ?? 0, reason: snapshot ? `back on ${snapshot.image}` : undefined });
    sync();
  };

  const compensate = async (scope: Set<string>) => {
    compensating = true;
    await trafficCut;
    const groups = compensationPlan(
      order.map((n) => ({ region: n, wave: plan.regions[n]!.wave, undo: undo.get(n) ?? [] })),
      scope,
    );
    const records = groups.flat();
    compensation = [...compensation, ...records];
    const touched = [...new Set(records.map((r) => r.undo.region))];
    record('rollback', `rolling back ${touched.join(', ') || 'nothing (no region was changed)'}, newest wave first`);
    sync();
    for (;;) {
      for (const group of groups) {
        const byRegion = new Map<string, UndoRecord[]>();
        for (const rec of group) byRegion.set(rec.undo.region, [...(byRegion.get(rec.undo.region) ?? []), rec]);
        await Promise.all([...byRegion].map(([name, recs]) => undoRegion(name, recs)));
      }
      const failed = records.filter((r) => r.outcome === 'failed');
      if (failed.length === 0) break;
      needsAttention = true;
      reason = `rollback incomplete: ${failed.map((r) => `${r.undo.region}: ${r.error}`).join('; ')}. Fix the cause, then run: meridian retry ${id} --by <you>`;
      record('needs-attention', reason);
      retryCompensation = false;
      sync();
      await condition(() => retryCompensation);
      needsAttention = false;
      reason = undefined;
      for (const r of failed) r.outcome = 'pending';
    }
    compensating = false;
    sync();
  };

  // ---- regions and waves -------------------------------------------------------------------

  const runRegion = async (name: string, wave: WavePlan, scope: CancellationScope): Promise<void> => {
    for (;;) {
      const known = regions.get(name)!;
      try {
        const out = await scope.run(() =>
          executeChild(regionRolloutWorkflow, {
            workflowId: regionWorkflowId(id, name),
            args: [
              {
                rolloutId: id,
                parentId: id,
                plan,
                region: name,
                analysisChunkMs: input.analysisChunkMs,
                knownGood: known.snapshot,
                undo: undo.get(name),
              },
            ],
            staticSummary: `${plan.service} ${plan.version} in ${name} (wave ${wave.index + 1}: ${wave.name})`,
            staticDetails: `Region stage of ${id}. Steps: ${plan.regions[name]!.steps.length}, failure policy ${plan.failurePolicy}.`,
            typedSearchAttributes: searchAttributes
              ? [
                  { key: MeridianService, value: plan.service },
                  { key: MeridianVersion, value: plan.version },
                  { key: MeridianRegions, value: [name] },
                ]
              : undefined,
          }),
        );
        absorb(name, out);
        record('region-promoted', `${name} promoted`, { region: name });
        sync();
        return;
      } catch (err) {
        const cause = (err as { cause?: unknown }).cause;
        const failure = cause instanceof ApplicationFailure ? cause : undefined;
        const out = failure?.details?.[0] as RegionOutcome | undefined;
        if (out) absorb(name, out);
        if (failure?.type === REGION_FAILURE.cancelled || isCancellation(err) || abort || rollbackAll) {
          if (regions.get(name)!.phase !== 'Cancelled') setRegion(name, { phase: 'Cancelled', reason: 'stopped by the rollout' });
          sync();
          return;
        }
        const why = failure?.message ?? rootMessage(err);
        record('region-failed', why, { region: name });
        if (failure?.type === REGION_FAILURE.approvalTimeout) {
          failures.push({ region: name, reason: why });
          abort = { reason: why, by: 'meridian' };
          void cutTraffic();
          waveScope?.cancel();
          sync();
          return;
        }
        switch (plan.failurePolicy) {
          case 'rollback-all':
            failures.push({ region: name, reason: why });
            rollbackAll = true;
            void cutTraffic();
            scope.cancel();
            sync();
            return;
          case 'rollback-region':
            failures.push({ region: name, reason: why });
            await CancellationScope.nonCancellable(() => compensate(new Set([name])));
            return;
          case 'pause': {
            const traffic = (undo.get(name) ?? []).filter((u) => u.kind === 'restoreTraffic');
            await CancellationScope.nonCancellable(async () => {
              for (const u of traffic) await runUndo(u);
            });
            held.set(name, 'waiting');
            setRegion(name, { phase: 'Paused', weight: regions.get(name)!.snapshot?.weight ?? 0, reason: `${why}; traffic moved back to stable, waiting for retry or abort` });
            record('hold', `${name} held by the pause policy; retry runs its stage again, abort rolls everything back`, { region: name });
            sync();
            await condition(() => held.get(name) !== 'waiting' || abort !== undefined);
            const decision = held.get(name);
            held.delete(name);
            if (abort) return;
            record('rerun', `${name} runs its stage again after ${decision}`, { region: name });
            continue;
          }
          default:
            assertNever(plan.failurePolicy);
        }
      }
    }
  };

  const stopping = () => abort !== undefined || rollbackAll;

  const runWave = async (wave: WavePlan) => {
    const scope = new CancellationScope();
    waveScope = scope;
    const queue = [...wave.regions];
    const running = new Map<string, Promise<void>>();
    while (queue.length > 0 || running.size > 0) {
      while (queue.length > 0 && running.size < wave.maxParallel && !stopping()) {
        const name = queue.shift()!;
        running.set(name, runRegion(name, wave, scope).finally(() => running.delete(name)));
      }
      if (running.size === 0) break;
      await Promise.race(running.values());
    }
    for (const name of queue) setRegion(name, { phase: 'Cancelled', reason: 'not started: the rollout stopped' });
  };

  // ---- main ----------------------------------------------------------------------------------

  if (searchAttributes) {
    upsertSearchAttributes([
      { key: MeridianService, value: plan.service },
      { key: MeridianVersion, value: plan.version },
      { key: MeridianRegions, value: order },
    ]);
  }
  sync();

  const problems = await preflight({
    rolloutId: id,
    service: plan.service,
    image: plan.image,
    regions: order.map((n) => ({ name: n, target: plan.regions[n]!.target })),
    metrics: Object.values(plan.metrics),
    simulation: plan.simulation,
  });
  if (problems.length > 0) {
    reason = `preflight failed, nothing was changed: ${problems.map((p) => (p.region ? `${p.region}: ${p.message}` : p.message)).join('; ')}`;
    record('preflight-failed', reason, { data: { problems } });
    ended = 'Failed';
    sync();
    throw ApplicationFailure.nonRetryable(reason, 'PreflightFailed', status());
  }
  started = true;
  record('started', `rolling out ${plan.image} to ${order.length} regions in ${plan.waves.length} waves`, { actor: input.startedBy });
  sync();

  try {
    for (const wave of plan.waves) {
      if (stopping() || failures.length > 0) break;
      waveIndex = wave.index;
      if (paused) await condition(() => !paused || stopping());
      if (stopping()) break;
      record('wave', `wave ${wave.index + 1}/${plan.waves.length} (${wave.name}): ${wave.regions.join(', ')}`);
      sync();
      await runWave(wave);
      if (CancellationScope.current().consideredCancelled) abort ??= { reason: 'the workflow was cancelled', by: 'temporal' };
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    abort ??= { reason: 'the workflow was cancelled', by: 'temporal' };
  }

  return CancellationScope.nonCancellable(async () => {
    if (stopping()) {
      const touched = order.filter((n) => (undo.get(n) ?? []).length > 0);
      await compensate(new Set(touched));
      for (const n of order) if (regions.get(n)!.phase === 'Pending') setRegion(n, { phase: 'Cancelled', reason: 'not started' });
      reason = abort
        ? `aborted by ${abort.by}: ${abort.reason}; every touched region is back on its known-good version`
        : `rolled back after ${failures.map((f) => f.reason).join('; ')}`;
      ended = 'RolledBack';
      record('rolled-back', reason);
      sync();
      throw ApplicationFailure.nonRetryable(reason, 'RolledBack', status());
    }
    if (failures.length > 0) {
      const kept = order.filter((n) => regions.get(n)!.phase === 'Promoted');
      reason = `${failures.map((f) => f.reason).join('; ')}; rolled back ${failures.map((f) => f.region).join(', ')}, kept ${kept.join(', ') || 'no region'} on the new version, started no later wave`;
      for (const n of order) if (regions.get(n)!.phase === 'Pending') setRegion(n, { phase: 'Cancelled', reason: 'not started' });
      ended = 'Failed';
      record('failed', reason);
      sync();
      throw ApplicationFailure.nonRetryable(reason, 'RolloutFailed', status());
    }
    ended = 'Succeeded';
    record('succeeded', `${plan.image} runs in every region`);
    sync();
    return status();
  });
}
