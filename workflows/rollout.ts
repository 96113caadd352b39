import {
  ApplicationFailure,
  CancellationScope,
  condition,
  executeChild,
  isCancellation,
  patched,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { RolloutActivities } from '../activities/types';
import { rootMessage } from '../domain/errors';
import { reactToFailure } from '../domain/failure-policy';
import type { WavePlan } from '../domain/plan';
import type { RolloutStatus } from '../domain/status';
import { assertNever } from '../domain/status';
import { FAILURE } from '../domain/vocabulary';
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
import { regionRolloutWorkflow } from './region/index';
import { regionReleaseWorkflow } from './region/release';
import { RolloutState } from './rollout-state';
import { units, unitRolloutId } from '../domain/release';
import { applyContract, contractRegions } from './contract';
import { Steering } from './edges';
import { afterDeliveries, Notices } from './notifications';

const { preflight, measureBaselines, checkContracts, recordContracts, checkFlagProviders, pinApprovers } = proxyActivities<RolloutActivities>(PRESETS.preflight);

/**
 * One rollout: preflight, baselines, then each wave's regions as child workflows (up to
 * maxParallel at once), then the finish: on a failure or an abort the saga that undoes every
 * touched region, newest wave first; otherwise the contract migrations, if any.
 */
export async function rolloutWorkflow(input: RolloutInput): Promise<RolloutStatus> {
  const s = new RolloutState(workflowInfo().workflowId, input.plan, input.searchAttributes !== false);
  if (s.plan.edges && patched('edges')) s.edges = new Steering(s, s.plan.edges);
  if (s.plan.notifications && patched('notifications')) s.notices = new Notices(s, s.plan.notifications);
  registerOperatorHandlers(s);
  s.announce();
  await checkPreflight(s, input.startedBy);
  if (patched('baselines')) await measure(s);
  s.start(input.startedBy, `rolling out ${s.plan.image} to ${s.order.length} regions in ${s.plan.waves.length} waves`);
  await runWaves(s, input);
  return CancellationScope.nonCancellable(() => afterDeliveries(s, () => finish(s)));
}

/** Every region's target and metric is reachable before anything changes; otherwise the rollout fails untouched. */
async function checkPreflight(s: RolloutState, startedBy: string): Promise<void> {
  const checks = units(s.plan).map(({ service, plan }) =>
    preflight({
      rolloutId: unitRolloutId(s.id, s.plan, service),
      service: plan.service,
      image: plan.image,
      regions: s.order.filter((n) => plan.regions[n]).map((n) => ({ name: n, target: plan.regions[n]!.target })),
      metrics: Object.values(plan.metrics),
      simulation: plan.simulation,
    }),
  );
  if (s.plan.release) checks.push(checkContracts({ rolloutId: s.id, plan: s.plan, order: s.order }));
  const flags = s.plan.flags;
  if (flags) checks.push(checkFlagProviders({ regions: Object.entries(flags.regions).map(([name, r]) => ({ name, provider: r.provider })), flags: flags.flags.map((f) => f.key) }));
  if (patched('approval-trust')) checks.push(pinTrust(s, startedBy));
  const problems = (await Promise.all(checks)).flat();
  if (problems.length === 0 && s.edges) problems.push(...(await snapshotEdges(s.edges)));
  if (problems.length === 0) return;
  const reason = `preflight failed, nothing was changed: ${problems.map((p) => (p.region ? `${p.region}: ${p.message}` : p.message)).join('; ')}`;
  s.end('Failed', reason, 'preflight-failed');
  throw ApplicationFailure.nonRetryable(reason, FAILURE.preflightFailed, s.status());
}

/**
 * The approvers and keys the rollout's gates trust, and who started it, pinned in its state before
 * any region starts; a rollout without gates trusts nobody's key and needs no activity for it.
 */
async function pinTrust(s: RolloutState, startedBy: string): Promise<{ message: string }[]> {
  const gated = units(s.plan).some(({ plan }) => Object.values(plan.regions).some((r) => r.steps.some((step) => step.kind === 'approval')));
  if (!gated) {
    s.trust = { startedBy, approvers: [], enforced: false };
    return [];
  }
  const approval = s.plan.approval;
  const pinned = await pinApprovers({ approvers: approval?.approvers ?? [], ...(approval?.keyring ? { keyring: approval.keyring } : {}) });
  if ('problems' in pinned) return pinned.problems;
  s.trust = { startedBy, approvers: pinned.approvers, enforced: pinned.enforced };
  const approvers = pinned.approvers.map((a) => ({ name: a.name, ...(a.fingerprint ? { fingerprint: a.fingerprint } : {}), ...(a.groups ? { groups: a.groups } : {}) }));
  const source = pinned.enforced ? `the worker's keyring ${pinned.keyring}` : pinned.keyring ? `the spec and keyring ${pinned.keyring}` : 'the spec';
  s.record('approvers-pinned', `gates trust ${approvers.length} approvers from ${source}`, { data: { approvers, ...(pinned.keyring ? { keyring: pinned.keyring } : {}), enforced: pinned.enforced } });
  return [];
}

/** Every edge's configuration before any change, kept to restore; an edge that cannot be read fails preflight. */
async function snapshotEdges(edges: Steering): Promise<{ message: string }[]> {
  try {
    await edges.begin();
    return [];
  } catch (err) {
    if (isCancellation(err)) throw err;
    return [{ message: `edges: ${rootMessage(err)}` }];
  }
}

/** Every region's metric values before any change, for relative thresholds. */
async function measure(s: RolloutState): Promise<void> {
  const results = await Promise.all(
    units(s.plan).map(({ service, plan }) =>
      measureBaselines({
        rolloutId: unitRolloutId(s.id, s.plan, service),
        service: plan.service,
        version: plan.version,
        regions: s.order.filter((n) => plan.regions[n]).map((n) => ({ name: n, target: plan.regions[n]!.target, namespace: plan.regions[n]!.labels.namespace })),
        metrics: Object.values(plan.metrics).filter((m) => !s.plan.release || m.service === service),
      }),
    ),
  );
  const baselines: Record<string, Record<string, number>> = {};
  for (const m of results) for (const [region, values] of Object.entries(m.baselines)) baselines[region] = { ...baselines[region], ...values };
  const notes = results.flatMap((m) => m.notes);
  s.baselines = baselines;
  const measured = Object.entries(baselines).map(([r, m]) => `${r}: ${Object.entries(m).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  s.record('baselines', `measured before any change${measured.length ? `: ${measured.join('; ')}` : ': no data'}`, { data: { baselines, notes } });
}

/** The waves in order, each after the one before it finished; none starts once the rollout stops, fails or while it is paused. */
async function runWaves(s: RolloutState, input: RolloutInput): Promise<void> {
  try {
    for (const wave of s.plan.waves) {
      if (s.stopping() || s.failures.length > 0) break;
      s.waveIndex = wave.index;
      if (s.paused) await condition(() => !s.paused || s.stopping());
      if (s.stopping()) break;
      s.waveStarted(wave);
      await runWave(s, input, wave);
      if (CancellationScope.current().consideredCancelled) s.cancelledByTemporal();
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    s.cancelledByTemporal();
  }
}

/** One wave's regions, at most maxParallel at once; the ones never started once the rollout stops are cancelled. */
async function runWave(s: RolloutState, input: RolloutInput, wave: WavePlan): Promise<void> {
  const scope = new CancellationScope();
  s.waveScope = scope;
  const queue = [...wave.regions];
  const running = new Map<string, Promise<void>>();
  while (queue.length > 0 || running.size > 0) {
    while (queue.length > 0 && running.size < wave.maxParallel && !s.stopping()) {
      const name = queue.shift()!;
      running.set(name, runRegion(s, input, name, wave, scope).finally(() => running.delete(name)));
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
  }
  for (const name of queue) s.setRegion(name, { phase: 'Cancelled', reason: 'not started: the rollout stopped' });
}

/** A region stage, run again after an operator's resume or retry when the pause policy held it. */
async function runRegion(s: RolloutState, input: RolloutInput, name: string, wave: WavePlan, scope: CancellationScope): Promise<void> {
  for (;;) {
    try {
      const out = await scope.run(() => startRegion(s, input, name, wave));
      s.regionPromoted(name, out);
      return;
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      const failure = cause instanceof ApplicationFailure ? cause : undefined;
      const out = failure?.details?.[0] as RegionOutcome | undefined;
      if (failure?.type === FAILURE.regionCancelled || isCancellation(err) || s.stopping()) {
        s.regionStopped(name, out);
        return;
      }
      if (out) s.absorb(name, out);
      if (!(await react(s, name, failure?.message ?? rootMessage(err), failure?.type ?? undefined))) return;
    }
  }
}

function startRegion(s: RolloutState, input: RolloutInput, name: string, wave: WavePlan): Promise<RegionOutcome> {
  const { plan } = s;
  const services = s.region(name).services;
  const knownGoods = services && Object.fromEntries(services.flatMap((r) => (r.snapshot ? [[r.service, r.snapshot]] : [])));
  return executeChild(plan.release ? regionReleaseWorkflow : regionRolloutWorkflow, {
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
        ...(knownGoods ? { knownGoods } : {}),
      },
    ],
    staticSummary: plan.release
      ? `release ${plan.service} ${plan.version} in ${name} (wave ${wave.index + 1}: ${wave.name}): ${plan.release.services.map((r) => r.name).join(', ')}`
      : `${plan.service} ${plan.version} in ${name} (wave ${wave.index + 1}: ${wave.name})`,
    staticDetails: `Region stage of ${s.id}. Steps: ${plan.regions[name]!.steps.length}, failure policy ${plan.failurePolicy}.`,
    typedSearchAttributes: s.searchAttributes
      ? [
          { key: MeridianService, value: plan.service },
          { key: MeridianVersion, value: plan.version },
          { key: MeridianRegions, value: [name] },
        ]
      : undefined,
  });
}

/** The failure policy's answer to a failed region, applied; true when the region should run its stage again. */
async function react(s: RolloutState, name: string, why: string, type: string | undefined): Promise<boolean> {
  const reaction = reactToFailure(s.plan.failurePolicy, { region: name, reason: why, type });
  await s.apply(reaction.effects);
  s.notify('region-failed', { region: name, reason: why, data: type === undefined ? {} : { failure: type } });
  // Under the pause policy the region waits for a person anyway: a held drain does not ask twice.
  if (s.edges && usersHurt(s, name, type)) await steerAway(s, s.edges, name, why, reaction.kind !== 'hold');
  switch (reaction.kind) {
    case 'stop':
      return false;
    case 'rollbackRegion':
      await CancellationScope.nonCancellable(() => s.saga.compensate(new Set([name])));
      return false;
    case 'hold':
      return hold(s, name, why);
    default:
      return assertNever(reaction);
  }
}

/**
 * Whether a failure may have reached the region's users, so its edges steer away: not a timed-out
 * approval, and not an analysis that failed with no user on the canary or on a flag's new variant
 * (a shadow judged on mirrored requests only), since the region's stable never stopped serving well.
 */
function usersHurt(s: RolloutState, name: string, type: string | undefined): boolean {
  if (type === FAILURE.approvalTimedOut) return false;
  const r = s.region(name);
  const flagged = Object.values(r.flags ?? {}).some((f) => f.fraction > 0);
  return !(type === FAILURE.analysisFailed && r.weight === 0 && !flagged);
}

/**
 * The failed region's edges steer its share to healthy regions of their residency. When a drain
 * would break a guardrail, the region's canary traffic goes back to stable and it waits for a
 * person: resume or retry goes on without the drain, abort rolls everything back.
 */
async function steerAway(s: RolloutState, edges: Steering, name: string, why: string, wait: boolean): Promise<void> {
  const held = await CancellationScope.nonCancellable(() => edges.drain(name, 'failed'));
  if (held.length === 0 || !wait) return;
  await toStable(s, name);
  s.steerHeld(name, why, held);
  await condition(() => s.held.get(name) !== 'waiting' || s.abort !== undefined);
  s.releaseHold(name);
}

/** The region's flags on their kill switches and its canary traffic back to stable, now, under the undos' own keys. */
async function toStable(s: RolloutState, name: string): Promise<void> {
  const undo = s.undo.get(name) ?? [];
  const traffic = [...undo.filter((u) => u.kind === 'killSwitch'), ...undo.filter((u) => u.kind === 'restoreTraffic')];
  await CancellationScope.nonCancellable(async () => {
    for (const u of traffic) await s.saga.run(u);
  });
}

/** The pause policy: traffic back to stable, then wait for an operator's resume or retry (run again) or abort. */
async function hold(s: RolloutState, name: string, why: string): Promise<boolean> {
  await toStable(s, name);
  s.hold(name, why);
  await condition(() => s.held.get(name) !== 'waiting' || s.abort !== undefined);
  const decision = s.releaseHold(name);
  if (s.abort) return false;
  await s.edges?.giveBack(name);
  s.record('rerun', `${name} runs its stage again after ${decision}`, { region: name, data: { command: decision } });
  return true;
}

/** The end: roll back after a stop, report a failure, apply the contract, or succeed. */
async function finish(s: RolloutState): Promise<RolloutStatus> {
  if (s.stopping()) return rollBack(s);
  if (s.failures.length > 0) {
    await s.edges?.settle(true);
    return s.plan.flags?.onFailure === 'killSwitchOnly' && !s.abort ? killedOnly(s) : fail(s);
  }
  const abandoned = contractRegions(s.plan, s.order).length > 0 && !(await applyContract(s));
  await s.edges?.settle(false);
  if (abandoned) return abandonContract(s);
  if (s.plan.release) await record(s);
  s.end('Succeeded', `${s.plan.image} ${s.plan.release ? 'run' : 'runs'} in every region`, 'succeeded');
  return s.status();
}

/** What each service of a release now runs in every region, for the next release's checks; a failure to record does not undo the release. */
async function record(s: RolloutState): Promise<void> {
  try {
    await recordContracts({ rolloutId: s.id, plan: s.plan, order: s.order, regions: s.order });
  } catch (err) {
    if (isCancellation(err)) throw err;
    s.record('contracts-unrecorded', `the release's contracts could not be recorded: ${rootMessage(err)}; the next release checks against its spec's running files`);
  }
}

async function rollBack(s: RolloutState): Promise<never> {
  await s.saga.compensate(new Set(s.order.filter((n) => (s.undo.get(n) ?? []).length > 0)));
  await s.edges?.settle(true);
  if (s.plan.flags?.onFailure === 'killSwitchOnly' && !s.abort) return killedOnly(s);
  const reason = s.abort
    ? `aborted by ${s.abort.by}: ${s.abort.reason}; every touched region is back on its known-good version`
    : `rolled back after ${s.failures.map((f) => f.reason).join('; ')}`;
  s.end('RolledBack', reason, 'rolled-back');
  throw ApplicationFailure.nonRetryable(reason, FAILURE.rolledBack, s.status());
}

/** onFailure: killSwitchOnly: the flags are off in every touched region, and every region keeps what it runs. */
function killedOnly(s: RolloutState): never {
  const killed = [...new Set(s.compensation.filter((r) => r.undo.kind === 'killSwitch' && r.outcome === 'done').map((r) => r.undo.region))];
  const reason = `${s.failures.map((f) => f.reason).join('; ')}; flags on their kill switches in ${killed.join(', ') || 'no region'}; every region keeps what it runs (onFailure: killSwitchOnly)`;
  s.end('Failed', reason, 'failed');
  throw ApplicationFailure.nonRetryable(reason, FAILURE.rolloutFailed, s.status());
}

function fail(s: RolloutState): never {
  const kept = s.order.filter((n) => s.region(n).phase === 'Promoted');
  const reason = `${s.failures.map((f) => f.reason).join('; ')}; rolled back ${s.failures.map((f) => f.region).join(', ')}, kept ${kept.join(', ') || 'no region'} on the new version, started no later wave`;
  s.end('Failed', reason, 'failed');
  throw ApplicationFailure.nonRetryable(reason, FAILURE.rolloutFailed, s.status());
}

function abandonContract(s: RolloutState): never {
  const reason = `contract migrations abandoned by ${s.abort!.by}: ${s.abort!.reason}; every region runs ${s.plan.image} with the expand migrations only`;
  s.end('Failed', reason, 'failed');
  throw ApplicationFailure.nonRetryable(reason, FAILURE.contractAbandoned, s.status());
}
