import {
  ApplicationFailure,
  CancellationScope,
  condition,
  executeChild,
  isCancellation,
  patched,
  proxyActivities,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RolloutActivities } from '../activities/types';
import { rootMessage } from '../domain/errors';
import type { WavePlan } from '../domain/plan';
import type { RolloutStatus } from '../domain/status';
import { assertNever } from '../domain/status';
import {
  MeridianRegions,
  MeridianService,
  MeridianVersion,
  regionWorkflowId,
  type RegionOutcome,
  type RolloutInput,
} from './definitions';
import { registerOperatorHandlers } from './operator';
import { PRESETS } from './presets';
import { FAILURE } from '../domain/vocabulary';
import { regionRolloutWorkflow } from './region/index';
import { RolloutState } from './rollout-state';
import { Saga } from './saga';
import { applyContract, contractRegions } from './contract';

const { preflight, measureBaselines } = proxyActivities<RolloutActivities>(PRESETS.preflight);

/**
 * One rollout: preflight, then each wave's regions as child workflows (up to maxParallel at once),
 * then, on a failure or an abort, the saga that undoes every touched region, newest wave first.
 */
export async function rolloutWorkflow(input: RolloutInput): Promise<RolloutStatus> {
  const { plan } = input;
  const s = new RolloutState(workflowInfo().workflowId, plan, input.searchAttributes !== false);
  const saga = new Saga(s);
  registerOperatorHandlers(s, saga);

  /** A region stage, run again after an operator's retry when the pause policy held it. */
  const runRegion = async (name: string, wave: WavePlan, scope: CancellationScope): Promise<void> => {
    for (;;) {
      try {
        const out = await scope.run(() => startRegion(name, wave));
        s.absorb(name, out);
        s.record('region-promoted', `${name} promoted`, { region: name });
        s.sync();
        return;
      } catch (err) {
        const cause = (err as { cause?: unknown }).cause;
        const failure = cause instanceof ApplicationFailure ? cause : undefined;
        const out = failure?.details?.[0] as RegionOutcome | undefined;
        if (out) s.absorb(name, out);
        if (failure?.type === FAILURE.regionCancelled || isCancellation(err) || s.stopping()) {
          if (s.region(name).phase !== 'Cancelled') s.setRegion(name, { phase: 'Cancelled', reason: 'stopped by the rollout' });
          s.sync();
          return;
        }
        const why = failure?.message ?? rootMessage(err);
        s.record('region-failed', why, { region: name });
        if (await react(name, why, failure?.type === FAILURE.approvalTimedOut, scope)) continue;
        return;
      }
    }
  };

  const startRegion = (name: string, wave: WavePlan) =>
    executeChild(regionRolloutWorkflow, {
      workflowId: regionWorkflowId(s.id, name),
      args: [
        {
          rolloutId: s.id,
          parentId: s.id,
          plan,
          region: name,
          analysisChunkMs: input.analysisChunkMs,
          knownGood: s.region(name).snapshot,
          undo: s.undo.get(name),
          baselines: s.baselines[name],
        },
      ],
      staticSummary: `${plan.service} ${plan.version} in ${name} (wave ${wave.index + 1}: ${wave.name})`,
      staticDetails: `Region stage of ${s.id}. Steps: ${plan.regions[name]!.steps.length}, failure policy ${plan.failurePolicy}.`,
      typedSearchAttributes: s.searchAttributes
        ? [
            { key: MeridianService, value: plan.service },
            { key: MeridianVersion, value: plan.version },
            { key: MeridianRegions, value: [name] },
          ]
        : undefined,
    });

  /** The failure policy's answer to a failed region; true when the region should run its stage again. */
  const react = async (name: string, why: string, approvalTimedOut: boolean, scope: CancellationScope): Promise<boolean> => {
    if (approvalTimedOut) {
      s.failures.push({ region: name, reason: why });
      s.abort = { reason: why, by: 'meridian' };
      void saga.cutTraffic();
      s.waveScope?.cancel();
      s.sync();
      return false;
    }
    switch (plan.failurePolicy) {
      case 'rollback-all':
        s.failures.push({ region: name, reason: why });
        s.rollbackAll = true;
        void saga.cutTraffic();
        scope.cancel();
        s.sync();
        return false;
      case 'rollback-region':
        s.failures.push({ region: name, reason: why });
        await CancellationScope.nonCancellable(() => saga.compensate(new Set([name])));
        return false;
      case 'pause':
        return hold(name, why);
      default:
        return assertNever(plan.failurePolicy);
    }
  };

  /** The pause policy: traffic back to stable, then wait for an operator's retry (run again) or abort. */
  const hold = async (name: string, why: string): Promise<boolean> => {
    const traffic = (s.undo.get(name) ?? []).filter((u) => u.kind === 'restoreTraffic');
    await CancellationScope.nonCancellable(async () => {
      for (const u of traffic) await saga.run(u);
    });
    s.held.set(name, 'waiting');
    s.setRegion(name, { phase: 'Paused', weight: s.region(name).snapshot?.weight ?? 0, reason: `${why}; traffic moved back to stable, waiting for retry or abort` });
    s.record('hold', `${name} held by the pause policy; retry runs its stage again, abort rolls everything back`, { region: name });
    s.sync();
    await condition(() => s.held.get(name) !== 'waiting' || s.abort !== undefined);
    const decision = s.held.get(name);
    s.held.delete(name);
    if (s.abort) return false;
    s.record('rerun', `${name} runs its stage again after ${decision}`, { region: name });
    return true;
  };

  const runWave = async (wave: WavePlan) => {
    const scope = new CancellationScope();
    s.waveScope = scope;
    const queue = [...wave.regions];
    const running = new Map<string, Promise<void>>();
    while (queue.length > 0 || running.size > 0) {
      while (queue.length > 0 && running.size < wave.maxParallel && !s.stopping()) {
        const name = queue.shift()!;
        running.set(name, runRegion(name, wave, scope).finally(() => running.delete(name)));
      }
      if (running.size === 0) break;
      await Promise.race(running.values());
    }
    for (const name of queue) s.setRegion(name, { phase: 'Cancelled', reason: 'not started: the rollout stopped' });
  };

  if (s.searchAttributes) {
    upsertSearchAttributes([
      { key: MeridianService, value: plan.service },
      { key: MeridianVersion, value: plan.version },
      { key: MeridianRegions, value: s.order },
    ]);
  }
  s.sync();

  const problems = await preflight({
    rolloutId: s.id,
    service: plan.service,
    image: plan.image,
    regions: s.order.map((n) => ({ name: n, target: plan.regions[n]!.target })),
    metrics: Object.values(plan.metrics),
    simulation: plan.simulation,
  });
  if (problems.length > 0) {
    const reason = `preflight failed, nothing was changed: ${problems.map((p) => (p.region ? `${p.region}: ${p.message}` : p.message)).join('; ')}`;
    s.end('Failed', reason, 'preflight-failed');
    throw ApplicationFailure.nonRetryable(reason, 'PreflightFailed', s.status());
  }
  if (patched('baselines')) {
    const { baselines, notes } = await measureBaselines({
      rolloutId: s.id,
      service: plan.service,
      version: plan.version,
      regions: s.order.map((n) => ({ name: n, target: plan.regions[n]!.target, namespace: plan.regions[n]!.labels.namespace })),
      metrics: Object.values(plan.metrics),
    });
    s.baselines = baselines;
    const measured = Object.entries(baselines).map(([r, m]) => `${r}: ${Object.entries(m).map(([k, v]) => `${k}=${v}`).join(', ')}`);
    s.record('baselines', `measured before any change${measured.length ? `: ${measured.join('; ')}` : ': no data'}`, { data: { baselines, notes } });
  }
  s.started = true;
  s.record('started', `rolling out ${plan.image} to ${s.order.length} regions in ${plan.waves.length} waves`, { actor: input.startedBy });
  s.sync();

  try {
    for (const wave of plan.waves) {
      if (s.stopping() || s.failures.length > 0) break;
      s.waveIndex = wave.index;
      if (s.paused) await condition(() => !s.paused || s.stopping());
      if (s.stopping()) break;
      s.record('wave', `wave ${wave.index + 1}/${plan.waves.length} (${wave.name}): ${wave.regions.join(', ')}`);
      s.sync();
      await runWave(wave);
      if (CancellationScope.current().consideredCancelled) s.abort ??= { reason: 'the workflow was cancelled', by: 'temporal' };
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    s.abort ??= { reason: 'the workflow was cancelled', by: 'temporal' };
  }

  return CancellationScope.nonCancellable(async () => {
    if (s.stopping()) {
      await saga.compensate(new Set(s.order.filter((n) => (s.undo.get(n) ?? []).length > 0)));
      const reason = s.abort
        ? `aborted by ${s.abort.by}: ${s.abort.reason}; every touched region is back on its known-good version`
        : `rolled back after ${s.failures.map((f) => f.reason).join('; ')}`;
      s.end('RolledBack', reason, 'rolled-back');
      throw ApplicationFailure.nonRetryable(reason, 'RolledBack', s.status());
    }
    if (s.failures.length > 0) {
      const kept = s.order.filter((n) => s.region(n).phase === 'Promoted');
      const reason = `${s.failures.map((f) => f.reason).join('; ')}; rolled back ${s.failures.map((f) => f.region).join(', ')}, kept ${kept.join(', ') || 'no region'} on the new version, started no later wave`;
      s.end('Failed', reason, 'failed');
      throw ApplicationFailure.nonRetryable(reason, 'RolloutFailed', s.status());
    }
    if (contractRegions(plan, s.order).length > 0 && !(await applyContract(s))) {
      const reason = `contract migrations abandoned by ${s.abort!.by}: ${s.abort!.reason}; every region runs ${plan.image} with the expand migrations only`;
      s.end('Failed', reason, 'failed');
      throw ApplicationFailure.nonRetryable(reason, 'ContractAbandoned', s.status());
    }
    s.end('Succeeded', `${plan.image} runs in every region`, 'succeeded');
    return s.status();
  });
}
