import { randomBytes, randomInt } from 'node:crypto';
import { join } from 'node:path';
import type { RolloutClient } from '../../client/rollout-client';
import { startTestbed, type TestbedState } from '../../testbed/index';
import type { FaultProxy, ProxyStats } from '../../testbed/fault-proxy';
import { startRegionProxy, writeKubeconfigVia } from '../../testbed/proxied';
import { rolloutWorkflowId } from '../../workflows/definitions';
import { rowResult } from '../check';
import type { CampaignSize, Row, RowContext, RowResult, RolloutCheck } from '../types';
import { WorkerPool } from '../worker-pool';
import { regionFindings } from './kubernetes-checks';
import { refusalProblems, refusedActivities } from './kubernetes-refusals';
import { CI_SEED, DELAY_MS, GATE, kubePlan, PROXIED, REGIONS, SCENARIOS, SHARES, type KubeScenario, type ScenarioName } from './kubernetes-scenarios';
import { directClient, seedRegion, type Seeded } from './kubernetes-seed';
import { connectRollouts, settle, statusOf, terminateIfRunning, waitForStatus, type RolloutEnd } from './rollout-end';

/**
 * R4: rollouts over two test-bed clusters while the first one's API server sits behind a proxy
 * that answers about a fifth of the requests with 409, 429 (with Retry-After), 500 or 503, holds
 * answers past the client's timeout, or resets the connection; and, mid-rollout, answers a
 * rollout's namespace with 403 on patching Deployments, or 401 on everything. Every rollout must end
 * right in both clusters; a 401 or 403 must stop its region at once with the region, verb and
 * resource in the failure.
 */
const FAULT = `${PROXIED}'s API server behind a fault proxy: 409, 429, 500, 503, lost answers, resets; 401/403 mid-rollout`;
const TASK_QUEUE = 'chaos-r4';

const SIZES: Record<CampaignSize, { scenarios: ScenarioName[]; repeat: number; parallel: number; workers: number; boundMs: number }> = {
  ci: { scenarios: ['gateway', 'replicas', 'forbidden', 'unauthorized'], repeat: 1, parallel: 4, workers: 1, boundMs: 480_000 },
  full: { scenarios: ['gateway', 'replicas', 'breach', 'forbidden', 'unauthorized'], repeat: 6, parallel: 5, workers: 2, boundMs: 600_000 },
};

interface Run {
  service: string;
  scenario: KubeScenario;
}

interface RowEnv {
  tb: TestbedState;
  proxy: FaultProxy;
  client: RolloutClient;
  kubeconfig: string;
  boundMs: number;
  log: (line: string) => void;
}

export const kubernetesRow: Row = (ctx) => runKubernetesRow(ctx);

/** R4 on `testbed` when given (it must have REGIONS' clusters), else on a test bed of its own in the row's folder, stopped at the end. */
export async function runKubernetesRow(ctx: RowContext, testbed?: TestbedState): Promise<RowResult> {
  const started = Date.now();
  const size = SIZES[ctx.size];
  const seed = ctx.size === 'ci' ? CI_SEED : randomInt(1, 2 ** 31);
  const own = testbed ? undefined : await startTestbed({ dir: join(ctx.workDir, 'testbed'), regions: [...REGIONS], log: (line) => ctx.log(`test bed: ${line}`) });
  const tb = testbed ?? own!;
  let proxy: FaultProxy | undefined;
  let pool: WorkerPool | undefined;
  let rollouts: Awaited<ReturnType<typeof connectRollouts>> | undefined;
  try {
    proxy = await startRegionProxy(tb, PROXIED, { shares: SHARES, delayMs: DELAY_MS, retryAfterSeconds: 1, seed });
    const kubeconfig = join(ctx.workDir, 'kubeconfig');
    writeKubeconfigVia(tb, kubeconfig, { [PROXIED]: proxy.url });
    ctx.log(`${PROXIED} through the fault proxy at ${proxy.url} (seed ${seed})`);
    pool = new WorkerPool({ address: ctx.cluster.address, namespace: ctx.cluster.namespace, taskQueue: TASK_QUEUE, fleetFile: join(ctx.workDir, 'fleet.db'), logDir: join(ctx.workDir, 'logs'), size: size.workers, log: ctx.log });
    await pool.start();
    rollouts = await connectRollouts(ctx.cluster, TASK_QUEUE);
    const env: RowEnv = { tb, proxy, client: rollouts.client, kubeconfig, boundMs: size.boundMs, log: ctx.log };
    const tag = randomBytes(2).toString('hex');
    const runs = Array.from({ length: size.repeat }, (_, i) => size.scenarios.map((s) => ({ service: `r4-${tag}-${s}-${i + 1}`, scenario: SCENARIOS[s] as KubeScenario }))).flat();
    const checks = await inParallel(runs, size.parallel, (run) => runOne(env, run));
    return rowResult('R4', FAULT, faultCounts(proxy.stats()), checks, started, pool.unexpectedExits());
  } finally {
    await pool?.stop();
    await rollouts?.close();
    await proxy?.close();
    await own?.stop();
  }
}

function faultCounts(stats: ProxyStats): Record<string, number> {
  const denied = (status: number) => stats.denied.filter((d) => d.status === status).length;
  return {
    '409 Conflict': stats.faults.conflict,
    '429 Too Many Requests': stats.faults.throttle,
    '500 Internal Server Error': stats.faults.serverError,
    '503 Service Unavailable': stats.faults.unavailable,
    'answer lost past the client timeout': stats.faults.delay,
    'connection reset': stats.faults.reset,
    '401 mid-rollout': denied(401),
    '403 mid-rollout': denied(403),
  };
}

/** Runs `work` over `items`, at most `limit` at a time, keeping their order in the result. */
async function inParallel<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

/** Seeds both clusters, starts one rollout, refuses it mid-way where the scenario says, and checks its end. */
async function runOne(env: RowEnv, run: Run): Promise<RolloutCheck> {
  const { scenario } = run;
  const namespace = run.service;
  const seeded = Object.fromEntries(await Promise.all(REGIONS.map(async (r) => [r, await seedRegion(directClient(env.tb, r), namespace)] as const)));
  const plan = kubePlan(scenario, run.service, namespace, { kubeconfig: env.kubeconfig, contexts: env.tb.contexts });
  const id = rolloutWorkflowId(plan.service, plan.version);
  await env.client.start(plan, { id, startedBy: 'chaos' });
  const deadline = Date.now() + env.boundMs;
  const steering: string[] = [];
  if (scenario.refusal && !(await refuseAtGate(env, id, namespace, scenario, deadline))) steering.push(`${PROXIED}: the canary never reached its gate ${GATE}, so nothing was refused`);
  let end = await settle(env.client, id, deadline);
  if (scenario.stopsIn) {
    if (end.record?.phase === scenario.stopsIn) end = await liftAndRetry(env, id, namespace, deadline);
    else steering.push(`${PROXIED}: expected the rollout to stop in ${scenario.stopsIn} on the ${scenario.refusal?.status}, but it was ${end.record?.phase}`);
  }
  const check = await checkRun(env, run, end, seeded, steering);
  env.proxy.lift(namespace);
  await terminateIfRunning(env.client, id, 'chaos: the row moved on');
  env.log(`${id} (${scenario.name}): ${check.phase}${check.problems.length ? `; ${check.problems.join('; ')}` : ''}`);
  return check;
}

/** At the gate in PROXIED: the proxy starts refusing the rollout's namespace, then the gate is approved so the region meets the refusal. */
async function refuseAtGate(env: RowEnv, id: string, namespace: string, scenario: KubeScenario, deadline: number): Promise<boolean> {
  const refusal = scenario.refusal!;
  const gated = await waitForStatus(env.client, id, (s) => s.pendingApprovals.some((p) => p.region === PROXIED && p.gate === GATE), deadline);
  if (!gated) return false;
  env.proxy.deny({ status: refusal.status, verbs: refusal.verbs, resource: refusal.resource, namespace });
  env.log(`${id}: ${PROXIED} now answers ${refusal.status} to ${refusal.verbs?.join(', ') ?? 'every verb'} on ${refusal.resource ?? 'every resource'} in ${namespace}`);
  await env.client.approve(id, { region: PROXIED, gate: GATE, by: 'chaos-approver' });
  return true;
}

/** The operator's way out of a refusal: the credentials work again, and `retry` finishes the rollback. */
async function liftAndRetry(env: RowEnv, id: string, namespace: string, deadline: number): Promise<RolloutEnd> {
  env.proxy.lift(namespace);
  env.log(`${id}: NeedsAttention; credentials restored, retrying`);
  await env.client.retry(id, { by: 'chaos' });
  return settle(env.client, id, deadline, 'NeedsAttention');
}

async function checkRun(env: RowEnv, run: Run, end: RolloutEnd, seeded: Record<string, Seeded>, steering: string[]): Promise<RolloutCheck> {
  const { scenario } = run;
  const status = await statusOf(env.client, end);
  const phase = status?.phase ?? end.record?.phase ?? 'unknown';
  const problems = [...steering];
  if (!end.ended) problems.push(`still ${phase} when its bound passed`);
  else if (phase !== scenario.phase) problems.push(`ended ${phase}, expected ${scenario.phase}${status?.reason ? `: ${status.reason}` : ''}`);
  let duplicates = 0;
  for (const region of REGIONS) {
    const found = await regionFindings(directClient(env.tb, region), { region, namespace: run.service, end: scenario.regions[region]!, seeded: seeded[region]! }).catch((err: unknown) => ({
      problems: [`${region}: the checks in ${run.service} failed: ${(err as Error).message}`],
      duplicates: 0,
    }));
    problems.push(...found.problems);
    duplicates += found.duplicates;
  }
  if (scenario.refusal) {
    const refused = await refusedActivities(env.client, end.id, REGIONS);
    problems.push(...refusalProblems(refused, env.proxy.stats().denied, scenario.refusal, PROXIED, run.service));
  }
  return { rolloutId: end.id, scenario: scenario.name, expectedPhase: scenario.phase, phase, consistent: end.ended && problems.length === 0, duplicates, stuck: !end.ended, problems };
}
