/**
 * Scenario 4 of the side-by-side comparison: the controller killed in the middle of a step. The
 * Meridian worker and the Argo Rollouts controller each get a SIGKILL at the same point, 2 s into a
 * 6 s timed pause at 25%, and are started again 1 s later. Each must still end on the new version
 * (the pause neither skipped nor stuck), and the figure is how long the step took, counting the restart.
 */
import { rolloutObject, rolloutPath, rolloutsPath, setImagePatch } from '../peers/argo/scenario';
import { kubePlan, NEW_IMAGE, OLD_IMAGE, REPLICAS, seedWeb, uniqueNamespace } from '../test/kubernetes/support';
import { startWorkerProcess } from '../test/support/processes';
import { tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import type { RolloutStatus } from '../domain/status';
import { regionWorkflowId } from '../workflows/definitions';
import { type ClusterState, clusterState, type PeerBed, REGION, releaseNamespace, type Tool } from './peers';
import { median, round, sleep } from './stats';

export const PAUSE_MS = 6_000;
/** Into the pause, counted from the canary seen at 25%. */
export const KILL_AFTER_MS = 2_000;
/** Between the SIGKILL and the start of the new process. */
export const DOWN_MS = 1_000;

export interface RestartTrial {
  tool: Tool;
  namespace: string;
  /** The canary seen at 25% → every replica on the new version, the kill and the restart included. */
  stepMs: number;
  /** The new process's start until it is ready (the worker polls; the controller's caches synced). */
  restartMs: number;
  /** All replicas on the new image and the tool's own status says it finished. */
  endedCorrectly: boolean;
  phase?: string;
  /** Meridian, when the rollout did not succeed: its reason and the audit entries of what failed. */
  reason?: string;
  failures?: { action: string; region?: string; data?: unknown }[];
  end: ClusterState;
  /** Meridian: workflow tasks that timed out in the rollout's and the region's histories (a task sent to the killed worker's sticky queue waits out its schedule-to-start timeout, STICKY_QUEUE_TIMEOUT_MS). */
  workflowTaskTimeouts?: number;
  /** Meridian: how long each of those that never started waited, scheduled → timed out. */
  workflowTaskWaitsMs?: number[];
}

const atQuarter = (s: ClusterState) => s.canary.replicas === REPLICAS / 4 && s.canary.available === s.canary.replicas && s.stable.replicas === REPLICAS - s.canary.replicas;
const onNew = (s: ClusterState) => s.canary.replicas === REPLICAS && s.canary.available === REPLICAS && s.stable.replicas === 0;

async function until(bed: PeerBed, ns: string, what: string, ok: (s: ClusterState) => boolean, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await clusterState(bed.kube, ns);
    const at = Date.now();
    if (ok(state)) return { state, at };
    if (at > deadline) throw new Error(`${ns}: ${what} not reached within ${timeoutMs} ms; last: ${JSON.stringify(state)}`);
    await sleep(20);
  }
}

async function killWorker(bed: PeerBed): Promise<number> {
  const child = bed.worker;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
  await sleep(DOWN_MS);
  const started = Date.now();
  bed.worker = await startWorkerProcess({ address: bed.server.address, fleetFile: bed.fleetFile });
  return Date.now() - started;
}

async function killController(bed: PeerBed): Promise<number> {
  await bed.controller.kill();
  await sleep(DOWN_MS);
  const started = Date.now();
  await bed.controller.start();
  return Date.now() - started;
}

export async function meridianRestartTrial(bed: PeerBed): Promise<RestartTrial> {
  const ns = uniqueNamespace('meridian-restart');
  await seedWeb(bed.tb, [REGION], ns);
  const plan = kubePlan(bed.tb, ns, {
    strategy: 'replicas',
    waves: [[REGION]],
    overrides: { steps: [{ kind: 'setWeight', weight: 25 }, { kind: 'pause', duration: `${PAUSE_MS}ms` }] },
  });
  const id = await bed.client.start(plan, { id: `peers/${ns}` });
  const quarter = await until(bed, ns, 'the canary at 25%', atQuarter);
  await sleep(Math.max(0, quarter.at + KILL_AFTER_MS - Date.now()));
  const restartMs = await killWorker(bed);
  // A rollout that ends any other way than on the new version is a wrong end, recorded as one.
  let failed: RolloutStatus | undefined;
  const ended = bed.client.result(id).then((s) => {
    if (s.phase !== 'Succeeded') failed = s;
    return s;
  });
  const done = await until(bed, ns, 'every replica on the new image', (s) => onNew(s) || failed !== undefined);
  const status = await ended;
  const timedOut = await timedOutWorkflowTasks(bed, [id, regionWorkflowId(id, REGION)]);
  return {
    tool: 'meridian',
    namespace: ns,
    stepMs: done.at - quarter.at,
    restartMs,
    endedCorrectly: onNew(done.state) && status.phase === 'Succeeded' && done.state.runningImages.join() === NEW_IMAGE,
    phase: status.phase,
    ...(status.phase === 'Succeeded' ? {} : { reason: status.reason, failures: status.audit.filter((a) => /failed|error|rollback/.test(a.action)).map((a) => ({ action: a.action, region: a.region, data: a.data })) }),
    end: done.state,
    workflowTaskTimeouts: timedOut.length,
    workflowTaskWaitsMs: timedOut.filter((t) => t.scheduleToStart).map((t) => t.waitedMs),
  };
}

/** Each workflow task that timed out in these histories: how long it waited from being scheduled, and whether it was never started. */
async function timedOutWorkflowTasks(bed: PeerBed, workflowIds: string[]): Promise<{ waitedMs: number; scheduleToStart: boolean }[]> {
  const found: { waitedMs: number; scheduleToStart: boolean }[] = [];
  for (const wid of workflowIds) {
    const events = (await bed.client.client.workflow.getHandle(wid).fetchHistory()).events ?? [];
    const at = new Map(events.map((e) => [Number(e.eventId), tsToMs(e.eventTime)]));
    for (const e of events) {
      const timedOut = e.workflowTaskTimedOutEventAttributes;
      if (!timedOut) continue;
      const scheduleToStart = timedOut.timeoutType === temporal.api.enums.v1.TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START;
      found.push({ waitedMs: tsToMs(e.eventTime) - (at.get(Number(timedOut.scheduledEventId)) ?? NaN), scheduleToStart });
    }
  }
  return found;
}

export async function argoRestartTrial(bed: PeerBed): Promise<RestartTrial> {
  const c = bed.kube;
  const ns = uniqueNamespace('argo-restart');
  await c.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
  await c.request('POST', rolloutsPath(ns), {
    body: rolloutObject(ns, { name: 'web', replicas: REPLICAS, image: OLD_IMAGE, steps: [{ setWeight: 25 }, { pause: { duration: `${PAUSE_MS / 1000}s` } }] }),
  });
  await until(bed, ns, 'the Rollout on the old image', (s) => s.stable.available === REPLICAS && s.canary.replicas === 0);
  const deadline = Date.now() + 60_000;
  while ((await c.request('GET', rolloutPath(ns, 'web'))).status?.phase !== 'Healthy') {
    if (Date.now() > deadline) throw new Error(`${ns}/web: the Rollout is not Healthy within 60 s`);
    await sleep(100);
  }
  await c.request('PATCH', rolloutPath(ns, 'web'), { contentType: 'application/json-patch+json', body: setImagePatch(NEW_IMAGE) });
  const quarter = await until(bed, ns, 'the canary at 25%', atQuarter);
  await sleep(Math.max(0, quarter.at + KILL_AFTER_MS - Date.now()));
  const restartMs = await killController(bed);
  const done = await until(bed, ns, 'every replica on the new image', onNew);
  let ro = await c.request('GET', rolloutPath(ns, 'web'));
  const healthyBy = Date.now() + 30_000;
  while (ro.status?.phase !== 'Healthy' && Date.now() < healthyBy) {
    await sleep(100);
    ro = await c.request('GET', rolloutPath(ns, 'web'));
  }
  const phase = ro.status?.phase as string | undefined;
  return {
    tool: 'argo',
    namespace: ns,
    stepMs: done.at - quarter.at,
    restartMs,
    endedCorrectly: phase === 'Healthy' && ro.status?.stableRS === ro.status?.currentPodHash && done.state.runningImages.join() === NEW_IMAGE,
    phase,
    end: done.state,
  };
}

/** `trials` pairs; the ratio of the step's time, Meridian/Argo Rollouts, pair by pair. */
export async function restartFigures(bed: PeerBed, trials: number, log: (line: string) => void = () => {}) {
  const m: RestartTrial[] = [];
  const a: RestartTrial[] = [];
  for (let t = 0; t < trials; t++) {
    m.push(await meridianRestartTrial(bed));
    a.push(await argoRestartTrial(bed));
    log(`controller restart trial ${t + 1}: Meridian ${m.at(-1)!.stepMs} ms (restart ${m.at(-1)!.restartMs} ms), Argo Rollouts ${a.at(-1)!.stepMs} ms (restart ${a.at(-1)!.restartMs} ms)`);
    for (const x of [m.at(-1)!, a.at(-1)!]) await releaseNamespace(bed.kube, x.namespace);
    for (const x of [m.at(-1)!, a.at(-1)!]) if (!x.endedCorrectly) log(`  ${x.tool} ended wrong in ${x.namespace}: ${x.phase}${x.reason ? `: ${x.reason}` : ''}${x.failures ? ` ${JSON.stringify(x.failures)}` : ''}`);
  }
  const ratios = m.map((x, i) => round(x.stepMs / a[i]!.stepMs, 3));
  return {
    scenario: `controller restart mid-step (${PAUSE_MS / 1000} s pause, SIGKILL at ${KILL_AFTER_MS / 1000} s, down ${DOWN_MS / 1000} s)`,
    meridianMedianMs: Math.round(median(m.map((x) => x.stepMs))),
    argoMedianMs: Math.round(median(a.map((x) => x.stepMs))),
    ratioMedian: round(median(ratios), 3),
    meridianMs: m.map((x) => x.stepMs),
    argoMs: a.map((x) => x.stepMs),
    ratios,
    restartMs: { meridian: m.map((x) => x.restartMs), argo: a.map((x) => x.restartMs) },
    endedCorrectly: { meridian: m.every((x) => x.endedCorrectly), argo: a.every((x) => x.endedCorrectly) },
    wrongEnds: [...m, ...a].filter((x) => !x.endedCorrectly).map(({ tool, namespace, phase, reason, failures, end }) => ({ tool, namespace, phase, reason, failures, end })),
    meridianWorkflowTaskTimeouts: m.map((x) => x.workflowTaskTimeouts),
    meridianWorkflowTaskWaitsMs: m.map((x) => x.workflowTaskWaitsMs),
  };
}
