import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
} from '@temporalio/workflow';
import type { RolloutActivities, AnalysisProgress, RegionRef } from '../activities/types';
import { formatDuration } from '../domain/duration';
import { rootMessage } from '../domain/errors';
import { DEFAULT_ALARM_BLOCKER, regionMetrics, type RegionPlan } from '../domain/plan';
import type { AnalysisStep, ApprovalStep, Step } from '../domain/spec';
import type { AuditEntry, DriftReport, KnownGood, PendingApproval, RegionPhase, RegionStatus, Undo } from '../domain/status';
import { assertNever } from '../domain/status';
import { describeStep, effectKey, gateName } from '../domain/steps';
import { describeWindows, windowWaitMs } from '../domain/windows';
import { targetTraits } from '../domain/targets';
import {
  regionCommandSignal,
  regionReportSignal,
  regionStatusQuery,
  type RegionCommand,
  type RegionInput,
  type RegionOutcome,
} from './definitions';
import { analysisOptions, DEFAULT_ANALYSIS_CHUNK_MS, mutateOptions, PRESETS } from './presets';
import { expandDatabase } from './database-stage';

const mutate = proxyActivities<RolloutActivities>(PRESETS.mutate);

/**
 * A change to the region runs to completion even when the stage is cancelled, so the undo the
 * parent runs next never races a change still on its way.
 */
const change = <T>(fn: () => Promise<T>): Promise<T> => CancellationScope.nonCancellable(fn);

/** The failure type a driver raises when an object it manages was changed by someone else. */
const DRIFT = 'Drift';

function driftOf(err: unknown): { message: string; report: DriftReport } | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure && cause.type === DRIFT && cause.details?.length) {
    return { message: cause.message, report: cause.details[0] as DriftReport };
  }
  return undefined;
}

/** Failure types a region stage ends with; the parent reads them to choose its reaction. */
export const REGION_FAILURE = {
  analysis: 'AnalysisFailed',
  approvalTimeout: 'ApprovalTimedOut',
  cancelled: 'RegionCancelled',
  error: 'RegionError',
  unhealthy: 'UnhealthyBeforeChange',
} as const;

/**
 * One region's stage: wait for its deployment window, snapshot known-good, deploy the canary, run
 * the steps, promote, bake. It never undoes anything itself: it pushes each undo before the change
 * it reverses and hands the stack to the parent, which runs the saga for every region in order.
 */
export async function regionRolloutWorkflow(input: RegionInput): Promise<RegionOutcome> {
  const { plan, rolloutId } = input;
  const region: RegionPlan = plan.regions[input.region]!;
  const chunkMs = input.analysisChunkMs ?? DEFAULT_ANALYSIS_CHUNK_MS;
  const status: RegionStatus = { name: region.name, wave: region.wave, phase: 'Pending', weight: 0, verdicts: [] };
  let undo: Undo[] = [...(input.undo ?? [])];
  let pendingApproval: PendingApproval | undefined;
  let paused = false;
  let approvedGate: { gate: string; by: string; comment?: string } | undefined;
  let decision: 'retry' | 'resume' | undefined;
  let decidedBy = 'an operator';
  const opts = mutateOptions(region.target);
  const audit: AuditEntry[] = [];
  let reported = 0;

  const ref = (step: string): RegionRef => ({
    rolloutId,
    service: plan.service,
    region: region.name,
    target: region.target,
    key: effectKey(rolloutId, region.name, step),
  });
  const record = (action: string, reason: string, data?: Record<string, unknown>, actor = 'meridian') =>
    audit.push({ at: new Date().toISOString(), actor, action, region: region.name, reason, data });
  const setPhase = (phase: RegionPhase, reason?: string) => {
    status.phase = phase;
    status.reason = reason;
  };
  const report = async () => {
    const step = status.step ? ` · step ${status.step.index + 1}/${status.step.total} ${status.step.description}` : '';
    setCurrentDetails(`**${region.name}** ${status.phase} at ${status.weight}%${step}${status.reason ? `\n\n${status.reason}` : ''}`);
    const fresh = audit.slice(reported);
    reported = audit.length;
    try {
      await getExternalWorkflowHandle(input.parentId).signal(regionReportSignal, {
        status: { ...status },
        pendingApproval,
        audit: fresh,
        undo,
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      // The parent has closed: nobody is left to report to, and the stage's outcome still carries everything.
    }
  };
  const outcome = (): RegionOutcome => ({ status: { ...status }, undo });

  setHandler(regionStatusQuery, () => status);
  setHandler(regionCommandSignal, (cmd: RegionCommand) => {
    switch (cmd.kind) {
      case 'approve':
        if (pendingApproval?.gate === cmd.gate) approvedGate = { gate: cmd.gate, by: cmd.by, comment: cmd.comment };
        return;
      case 'pause':
        paused = true;
        return;
      case 'resume':
        paused = false;
        return;
      case 'acceptDrift':
        decision = 'resume';
        decidedBy = cmd.by;
        return;
      case 'reanalyse':
        decision = cmd.via;
        decidedBy = cmd.by;
        return;
      default:
        assertNever(cmd);
    }
  });

  const waitWhilePaused = async () => {
    if (!paused) return;
    const before = status.phase;
    setPhase('Paused', 'paused by an operator');
    await report();
    await condition(() => !paused);
    setPhase(before);
  };

  const waitForWindow = async () => {
    for (;;) {
      const waitMs = windowWaitMs(Date.now(), region.windows);
      if (waitMs === 0) return;
      const until = new Date(Date.now() + waitMs).toISOString();
      status.waitingUntil = until;
      setPhase('WaitingForWindow', `outside its deployment window (${describeWindows(region.windows)}); opens ${until}`);
      record('window-wait', `waiting ${formatDuration(waitMs)} for the deployment window ${describeWindows(region.windows)}`);
      await report();
      await sleep(waitMs, { summary: `deployment window ${region.name} opens ${until}` });
      status.waitingUntil = undefined;
    }
  };

  /** The alarm blocker: a region already failing its health checks before any change holds its stage, or fails it after the timeout. */
  const waitForHealth = async () => {
    const metrics = regionMetrics(plan, region.name);
    if (metrics.length === 0) return;
    const blocker = plan.alarmBlocker ?? DEFAULT_ALARM_BLOCKER;
    const deadline = Date.now() + blocker.timeoutMs;
    for (;;) {
      const verdicts = await mutate.checkHealth.executeWithOptions({ ...PRESETS.mutate, summary: `health of ${region.name} before any change` }, [
        { ...ref('health'), version: plan.version, metrics, baselines: input.baselines, namespace: region.labels.namespace },
      ]);
      const failing = verdicts.filter((v) => v.phase === 'Failed');
      if (failing.length === 0) {
        if (status.phase === 'WaitingForHealth') record('health-clear', 'healthy again before any change', { verdicts });
        return;
      }
      status.verdicts = verdicts;
      const why = `unhealthy before any change: ${failing.map((v) => v.reason).join('; ')}`;
      if (Date.now() >= deadline) {
        const reason = `${region.name} ${why}; still failing after ${formatDuration(blocker.timeoutMs)}, so its wave does not touch it`;
        record('blocked', reason, { verdicts });
        setPhase('Degraded', reason);
        throw ApplicationFailure.nonRetryable(reason, REGION_FAILURE.unhealthy, outcome());
      }
      if (status.phase !== 'WaitingForHealth') {
        setPhase('WaitingForHealth', `${why}; waiting up to ${formatDuration(blocker.timeoutMs)} before touching it`);
        record('blocked', status.reason!, { verdicts });
        await report();
      }
      await sleep(Math.min(blocker.intervalMs, deadline - Date.now()), { summary: `recheck health of ${region.name}` });
    }
  };

  /**
   * Runs a change; when the driver finds that someone else changed an object Meridian manages, the
   * region pauses with the drift in its status until an operator resumes (accepting the change, so
   * the change runs again over it) or aborts.
   */
  const guarded = async (run: (acceptDrift: boolean) => Promise<unknown>) => {
    try {
      await change(() => run(false));
    } catch (err) {
      const drift = driftOf(err);
      if (!drift) throw err;
      const before = status.phase;
      status.drift = drift.report;
      setPhase('Paused', drift.message);
      record('drift', drift.message, { ...drift.report });
      decision = undefined;
      await report();
      await condition(() => decision !== undefined);
      record('drift-accepted', `${drift.report.object}: the change was accepted; the rollout goes on from it`, { object: drift.report.object }, decidedBy);
      status.drift = undefined;
      setPhase(before);
      await report();
      await change(() => run(true));
    }
  };

  const setWeight = async (weight: number, snapshot: KnownGood) => {
    if (!undo.some((u) => u.kind === 'restoreTraffic')) {
      pushUndo({ kind: 'restoreTraffic', region: region.name, key: effectKey(rolloutId, region.name, 'undo-traffic'), weight: snapshot.weight });
    }
    await guarded((acceptDrift) =>
      mutate.setWeight.executeWithOptions({ ...opts, summary: `setWeight ${region.name} to ${weight}%` }, [
        { ...ref(`weight-${weight}`), weight, ...(acceptDrift ? { acceptDrift } : {}) },
      ]),
    );
    status.weight = weight;
    record('set-weight', `canary weight set to ${weight}%`, { weight });
  };

  const pushUndo = (u: Undo) => {
    if (!undo.some((known) => known.key === u.key)) undo = [...undo, u];
  };

  const approve = async (step: ApprovalStep, index: number) => {
    const gate = gateName(step, index);
    const since = new Date().toISOString();
    pendingApproval = {
      region: region.name,
      gate,
      since,
      approvers: step.approvers,
      timeoutAt: step.timeout ? new Date(Date.now() + step.timeout).toISOString() : undefined,
    };
    approvedGate = undefined;
    setPhase('AwaitingApproval', `waiting for approval of gate "${gate}"`);
    await report();
    const approved = step.timeout
      ? await condition(() => approvedGate !== undefined, step.timeout)
      : (await condition(() => approvedGate !== undefined), true);
    pendingApproval = undefined;
    if (approved) {
      record('approved', approvedGate!.comment ?? `gate "${gate}" approved`, { gate }, approvedGate!.by);
    } else if ((step.onTimeout ?? 'abort') === 'proceed') {
      record('approval-timeout', `gate "${gate}" timed out after ${formatDuration(step.timeout!)}; proceeding as configured`, { gate });
    } else {
      const reason = `approval gate "${gate}" in ${region.name} timed out after ${formatDuration(step.timeout!)}`;
      record('approval-timeout', `${reason}; aborting as configured`, { gate });
      setPhase('Degraded', reason);
      throw ApplicationFailure.nonRetryable(reason, REGION_FAILURE.approvalTimeout, outcome());
    }
    setPhase('Progressing');
  };

  const analyse = async (step: AnalysisStep, index: number) => {
    const metrics = step.metrics.map((m) => plan.metrics[m]!);
    const run = mutate.runAnalysis;
    for (;;) {
      let progress: AnalysisProgress | undefined;
      do {
        progress = await run.executeWithOptions(
          { ...analysisOptions(chunkMs, step.interval), summary: `analysis ${region.name} at ${status.weight}%` },
          [
            {
              ...ref(`analysis-${index}`),
              version: plan.version,
              step,
              metrics,
              simulation: plan.simulation,
              baselines: input.baselines,
              namespace: region.labels.namespace,
              progress,
              chunkMs,
            },
          ],
        );
        status.sustained = progress.sustained;
        status.verdicts = progress.verdicts;
        await report();
      } while (progress.outcome === 'Running');

      const values = Object.fromEntries(progress.verdicts.map((v) => [v.metric, v.value]));
      switch (progress.outcome) {
        case 'Successful':
          record('analysis-passed', progress.reason, { weight: status.weight, values });
          return;
        case 'Failed': {
          const reason = `${region.name} failed analysis at ${status.weight}%: ${progress.reason}`;
          record('analysis-failed', reason, { weight: status.weight, values, verdicts: progress.verdicts });
          setPhase('Degraded', reason);
          throw ApplicationFailure.nonRetryable(reason, REGION_FAILURE.analysis, outcome());
        }
        case 'Inconclusive': {
          record('analysis-inconclusive', `${progress.reason}; waiting for an operator to resume (analyse again) or abort`, { weight: status.weight, values });
          setPhase('Inconclusive', `analysis inconclusive at ${status.weight}%: ${progress.reason}`);
          decision = undefined;
          await report();
          await condition(() => decision !== undefined);
          setPhase('Progressing');
          // Resume and retry both analyse again: an inconclusive region is never promoted on no evidence.
          record(decision === 'resume' ? 'analysis-resumed' : 'analysis-retried', `an operator asked for the analysis to ${decision === 'resume' ? 'resume' : 'run again'}`);
          continue;
        }
      }
    }
  };

  const runStep = async (step: Step, index: number, snapshot: KnownGood) => {
    switch (step.kind) {
      case 'setWeight':
        return setWeight(step.weight, snapshot);
      case 'pause':
        return sleep(step.duration, { summary: `pause ${region.name} ${formatDuration(step.duration)} at ${status.weight}%` });
      case 'approval':
        return approve(step, index);
      case 'analysis':
        return analyse(step, index);
      default:
        return assertNever(step);
    }
  };

  try {
    await waitForWindow();
    if (!input.knownGood && patched('alarm-blocker')) await waitForHealth();
    await waitWhilePaused();
    setPhase('Progressing');

    let snapshot = input.knownGood;
    if (!snapshot) {
      snapshot = await change(() => mutate.snapshotRegion.executeWithOptions({ ...opts, summary: `snapshot ${region.name}` }, [ref('snapshot')]));
      record('snapshot', `known-good recorded: ${snapshot.image} at ${snapshot.weight}%`, { ...snapshot });
    }
    status.snapshot = snapshot;
    status.weight = snapshot.weight;

    const migrated = await expandDatabase({ plan, rolloutId, region: region.name, undo: () => undo, pushUndo, record, change });
    if (migrated.length > 0) status.migrations = [...(status.migrations ?? []), ...migrated];

    pushUndo({ kind: 'restoreWorkload', region: region.name, key: effectKey(rolloutId, region.name, 'undo-workload'), snapshot });
    await change(() => mutate.deployCanary.executeWithOptions({ ...opts, summary: `deploy canary ${region.name}` }, [
      { ...ref('deploy'), image: plan.image, config: plan.config },
    ]));
    record('deploy-canary', `canary ${plan.image} deployed`);

    for (const [index, step] of region.steps.entries()) {
      await waitWhilePaused();
      status.step = { index, total: region.steps.length, kind: step.kind, description: describeStep(step) };
      await report();
      await runStep(step, index, snapshot);
    }
    status.step = undefined;

    await waitWhilePaused();
    await guarded((acceptDrift) =>
      mutate.promote.executeWithOptions({ ...opts, summary: `promote ${region.name}` }, [
        { ...ref('promote'), image: plan.image, config: plan.config, ...(targetTraits(region.target).promoteNeedsSnapshot ? { snapshot } : {}), ...(acceptDrift ? { acceptDrift } : {}) },
      ]),
    );
    status.weight = 100;
    record('promoted', `${plan.image} promoted to 100%`);
    if (region.bakeMs > 0) {
      setPhase('Baking', `baking for ${formatDuration(region.bakeMs)}`);
      await report();
      await sleep(region.bakeMs, { summary: `bake ${region.name} ${formatDuration(region.bakeMs)}` });
    }
    setPhase('Promoted');
    await report();
    return outcome();
  } catch (err) {
    if (isCancellation(err)) {
      setPhase('Cancelled', 'stopped by the rollout');
      await CancellationScope.nonCancellable(report);
      throw ApplicationFailure.nonRetryable(`${region.name} stopped by the rollout`, REGION_FAILURE.cancelled, outcome());
    }
    if (err instanceof ApplicationFailure && err.details?.length) {
      await report();
      throw err;
    }
    const reason = `${region.name}: ${rootMessage(err)}`;
    setPhase('Degraded', reason);
    record('stage-error', reason);
    await report();
    throw ApplicationFailure.nonRetryable(reason, REGION_FAILURE.error, outcome());
  }
}
