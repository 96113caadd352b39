/**
 * Meridian beside Argo Rollouts v1.10.1, the same scenario on the same test-bed cluster, the same
 * Prometheus, the same query and threshold, trial by trial in one run:
 *
 *   1. breach → stable: from the first scrape above the threshold to the canary at 0 replicas and
 *      stable back at full replicas, read from the cluster's ReplicaSets;
 *   2. abort → stable: from the moment the abort is sent to the same end state.
 *
 * The test bed's pods are kwok's, so the metric comes from real demo-service processes standing for
 * the stable and the canary version (labels role="stable" / role="canary", scraped every second).
 * The canary process starts answering errors once the cluster shows the canary at 25%: the same
 * trigger for both tools.
 *
 *   MERIDIAN_BENCH_ONLY=peers npm run bench           (MERIDIAN_BENCH_TRIALS trials, 5 by default)
 */
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeClient } from '../activities/kubernetes/client';
import { RolloutClient } from '../client/rollout-client';
import type { StepInput } from '../test/support/spec';
import { freePort as osFreePort } from '../lib/ports';
import { stopChild } from '../lib/stop-child';
import { controllerLogFile, ensureArgoRollouts, installRolloutsCrds, type RolloutsController, startRolloutsController } from '../peers/argo';
import { ABORT_PATCH, analysisRunsPath, analysisTemplate, analysisTemplatesPath, type CanaryStep, rolloutObject, rolloutPath, rolloutsPath, setImagePatch } from '../peers/argo/scenario';
import { startTestbed, type Testbed } from '../testbed';
import { kube, kubePlan, NEW_IMAGE, OLD_IMAGE, REPLICAS, seedWeb, uniqueNamespace } from '../test/kubernetes/support';
import { startDemoService, type DemoService } from '../test/support/demo-service';
import { startLoad, type Load } from '../test/support/load';
import { startWorkerProcess } from '../test/support/processes';
import { startPrometheus, type RunningPrometheus } from '../test/support/prometheus';
import { startDevServer, type DevServer } from '../worker/dev-server';
import { restartFigures } from './peers-restart';
import { regionsFigures, startRegionsBed } from './peers-regions';
import { median, round, sleep } from './stats';

export const REGION = 'eu-west-1';
const STABLE_VERSION = '1.0.0';
const CANARY_VERSION = '1.1.0';
/** The canary's error rate, the one query both tools ask Prometheus, and the threshold both apply. */
export const ERROR_RATE =
  '(sum(rate(http_requests_total{role="canary",code=~"5.."}[5s])) or vector(0)) / sum(rate(http_requests_total{role="canary"}[5s]))';
export const MAX_ERROR_RATE = 0.02;
/** What the canary process answers with errors once it is at 25%. */
const BREACH_ERROR_RATE = 0.2;
export const ANALYSIS_INTERVAL = '2s';
export const FAILURE_LIMIT = 0;
const SCRAPE_MS = 1000;
const INTERVAL_MS = 2000;
/** From the canary seen at 25% to the errors: one interval, so both analyses run, plus a uniformly random part of another. */
export const breachDelayMs = () => INTERVAL_MS + Math.random() * INTERVAL_MS;
const POLL_MS = 20;

export type Tool = 'meridian' | 'argo';
export type Scenario = 'breach' | 'abort';

/** What the cluster runs for the service, from its ReplicaSets, told apart by image. */
export interface ClusterState {
  canary: { replicas: number; available: number };
  stable: { replicas: number; available: number };
  /** Images of the ReplicaSets that want pods. */
  runningImages: string[];
}

export interface Trial {
  tool: Tool;
  scenario: Scenario;
  namespace: string;
  /** From the breach (first scrape above the threshold) or the abort sent, to the end state seen in the cluster. */
  ms: number;
  /** The end state as read from the cluster. */
  end: ClusterState;
  /** From the same start: the canary first seen at 0 replicas, and stable first seen with all replicas available. */
  milestones: { canaryZeroMs?: number; stableFullMs?: number };
  /**
   * How the tool itself says the trial ended. Meridian: the rollout's phase and whether its audit
   * has an analysis failure. Argo Rollouts: the Rollout's phase and its AnalysisRuns' phases.
   */
  outcome: { phase?: string; analysisFailed: boolean };
}

export interface PeerBed {
  tb: Testbed;
  kube: KubeClient;
  controller: RolloutsController;
  server: DevServer;
  /** `meridian worker` in its own process; replaced when a scenario restarts it, and the current one is stopped at the end. */
  worker: ChildProcess;
  fleetFile: string;
  client: RolloutClient;
  demo: DemoService;
  prom: RunningPrometheus;
  load: Load;
  stop(): Promise<void>;
}

export interface PeerBedOptions {
  log?: (line: string) => void;
  /** Ports for the dev server; tests pass their own pool's. */
  freePort?: () => Promise<number>;
  dir?: string;
}

/** One test-bed region with Argo Rollouts' CRDs and controller, a Temporal dev server with a Meridian worker, and the metric's service and Prometheus. */
export async function startPeerBed(opts: PeerBedOptions = {}): Promise<PeerBed> {
  const log = opts.log ?? (() => {});
  const port = opts.freePort ?? osFreePort;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'meridian-peers-'));
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((err) => log(`stopping: ${(err as Error).message}`));
  };
  try {
    const argo = await ensureArgoRollouts({ log });
    const tb = await startTestbed({ dir: join(dir, 'testbed'), regions: [REGION], log });
    stops.push(() => tb.stop());
    const context = tb.contexts[REGION]!;
    await installRolloutsCrds({ kubeconfig: tb.kubeconfigPath, context, crdFiles: argo.crdFiles });
    const controller = await startRolloutsController({ binary: argo.controller, kubeconfig: tb.kubeconfigPath, context, logFile: controllerLogFile(tb, REGION) });
    stops.push(() => controller.stop());
    const demo = await startDemoService([STABLE_VERSION, CANARY_VERSION]);
    stops.push(() => demo.stop());
    const prom = await startPrometheus([
      { url: demo.urls[STABLE_VERSION]!, labels: { role: 'stable' } },
      { url: demo.urls[CANARY_VERSION]!, labels: { role: 'canary' } },
    ]);
    stops.push(() => prom.stop());
    await prom.waitForTargets();
    const load = startLoad({ urls: [demo.urls[STABLE_VERSION]!, demo.urls[CANARY_VERSION]!], concurrency: 6, maxRequests: 50_000_000, maxDurationMs: 4 * 3_600_000 });
    stops.push(() => load.stop());
    const server = await startDevServer({ inMemory: true, port: await port(), uiPort: await port() });
    stops.push(() => server.stop());
    const fleetFile = join(dir, 'fleet.db');
    const worker = await startWorkerProcess({ address: server.address, fleetFile });
    let bed: PeerBed | undefined;
    stops.push(() => stopChild(bed?.worker ?? worker));
    const client = new RolloutClient(server.client, { namespace: server.namespace });
    bed = { tb, kube: kube(tb, context), controller, server, worker, fleetFile, client, demo, prom, load, stop };
    return bed;
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The service's ReplicaSets in `ns` (pods labelled app=web, for both tools), canary and stable told apart by image. */
export async function clusterState(c: KubeClient, ns: string): Promise<ClusterState> {
  const list = await c.request('GET', `/apis/apps/v1/namespaces/${ns}/replicasets`, { query: { labelSelector: 'app=web' } });
  const state: ClusterState = { canary: { replicas: 0, available: 0 }, stable: { replicas: 0, available: 0 }, runningImages: [] };
  for (const rs of list.items as Record<string, any>[]) {
    const image = rs.spec.template.spec.containers[0].image as string;
    const side = image === NEW_IMAGE ? state.canary : image === OLD_IMAGE ? state.stable : undefined;
    const replicas = (rs.spec.replicas ?? 0) as number;
    if (side) {
      side.replicas += replicas;
      side.available += (rs.status?.availableReplicas ?? 0) as number;
    }
    if (replicas > 0 && !state.runningImages.includes(image)) state.runningImages.push(image);
  }
  return state;
}

const atQuarter = (s: ClusterState) => s.canary.replicas * 4 === REPLICAS && s.canary.available === s.canary.replicas && s.stable.replicas === REPLICAS - s.canary.replicas;
export const backOnStable = (s: ClusterState) => s.canary.replicas === 0 && s.stable.replicas === REPLICAS && s.stable.available === REPLICAS;

interface Seen {
  canaryZero?: number;
  stableFull?: number;
}

/** Polls the cluster until `ok`; returns the state and the wall-clock time it was seen, and when each half of the end state was first seen. */
async function until(c: KubeClient, ns: string, what: string, ok: (s: ClusterState) => boolean, timeoutMs = 120_000): Promise<{ state: ClusterState; at: number; seen: Seen }> {
  const deadline = Date.now() + timeoutMs;
  const seen: Seen = {};
  for (;;) {
    const state = await clusterState(c, ns);
    const at = Date.now();
    if (state.canary.replicas === 0) seen.canaryZero ??= at;
    if (state.stable.replicas === REPLICAS && state.stable.available === REPLICAS) seen.stableFull ??= at;
    if (ok(state)) return { state, at, seen };
    if (at > deadline) throw new Error(`${ns}: ${what} not reached within ${timeoutMs} ms; last: ${JSON.stringify(state)}`);
    await sleep(POLL_MS);
  }
}

interface PromVector {
  data: { result: { value?: [number, string]; values?: [number, string][] }[] };
}

async function promQuery(address: string, query: string, time: number): Promise<PromVector> {
  const url = `${address}/api/v1/query?${new URLSearchParams({ query, time: String(time / 1000) })}`;
  const res = await fetch(url);
  if (!res.ok) throw new Error(`Prometheus at ${address} refused ${query}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as PromVector;
}

async function errorRateAt(address: string, timeMs: number): Promise<number | undefined> {
  const v = (await promQuery(address, ERROR_RATE, timeMs)).data.result[0]?.value?.[1];
  return v === undefined ? undefined : Number(v);
}

/**
 * The first scrape of the canary after `fromMs` at which the error rate is above the threshold,
 * read back from Prometheus: each scrape's timestamp, the query evaluated at it.
 */
export async function firstScrapeAbove(address: string, fromMs: number, toMs: number): Promise<number> {
  const seconds = Math.ceil((toMs - fromMs) / 1000) + 2;
  const scrapes = (await promQuery(address, `up{role="canary"}[${seconds}s]`, toMs)).data.result[0]?.values ?? [];
  for (const [ts] of scrapes) {
    const at = Math.round(ts * 1000);
    if (at < fromMs) continue;
    const rate = await errorRateAt(address, at);
    if (rate !== undefined && rate > MAX_ERROR_RATE) return at;
  }
  throw new Error(`no scrape of the canary between ${new Date(fromMs).toISOString()} and ${new Date(toMs).toISOString()} is above ${MAX_ERROR_RATE}`);
}

/** The canary process healthy again and its errors out of the query's window. */
async function healthyCanary(bed: PeerBed): Promise<void> {
  await bed.demo.control(CANARY_VERSION, { errorRate: 0 });
  const deadline = Date.now() + 30_000;
  while ((await errorRateAt(bed.prom.address, Date.now())) !== 0) {
    if (Date.now() > deadline) throw new Error(`the canary's error rate did not return to 0 within 30 s (query: ${ERROR_RATE})`);
    await sleep(250);
  }
}

/** Measures from the trigger to the end state: for a breach, errors start and the clock starts at the first scrape above the threshold; for an abort, at the abort sent. */
async function measure(bed: PeerBed, ns: string, scenario: Scenario, abort: () => Promise<unknown>): Promise<Pick<Trial, 'ms' | 'end' | 'milestones'>> {
  await until(bed.kube, ns, 'the canary at 25%', atQuarter);
  const result = (from: number, { state, at, seen }: Awaited<ReturnType<typeof until>>) => ({
    ms: at - from,
    end: state,
    milestones: { canaryZeroMs: seen.canaryZero && seen.canaryZero - from, stableFullMs: seen.stableFull && seen.stableFull - from },
  });
  if (scenario === 'abort') {
    const sent = Date.now();
    await abort();
    return result(sent, await until(bed.kube, ns, 'canary at 0 and stable at full replicas', backOnStable));
  }
  // Both tools start analysing about when the canary is ready; a breach at that very moment would
  // land at the same point of each tool's sampling interval in every trial. Later, by a random part
  // of an interval, it lands anywhere in it.
  await sleep(breachDelayMs());
  const trigger = Date.now();
  await bed.demo.control(CANARY_VERSION, { errorRate: BREACH_ERROR_RATE });
  const end = await until(bed.kube, ns, 'canary at 0 and stable at full replicas', backOnStable);
  // The scrape that carries the breach is in Prometheus a moment after it happened.
  await sleep(SCRAPE_MS);
  return result(await firstScrapeAbove(bed.prom.address, trigger, end.at), end);
}

function meridianSteps(scenario: Scenario): StepInput[] {
  return scenario === 'breach'
    ? [
        { kind: 'setWeight', weight: 25 },
        { kind: 'analysis', metrics: ['error_rate'], interval: ANALYSIS_INTERVAL, sustainedFor: '10m', failureLimit: FAILURE_LIMIT },
      ]
    : [
        { kind: 'setWeight', weight: 25 },
        { kind: 'approval', name: 'at-25' },
      ];
}

export async function meridianTrial(bed: PeerBed, scenario: Scenario): Promise<Trial> {
  await healthyCanary(bed);
  const ns = uniqueNamespace(`meridian-${scenario}`);
  await seedWeb(bed.tb, [REGION], ns);
  const plan = kubePlan(bed.tb, ns, {
    strategy: 'replicas',
    waves: [[REGION]],
    overrides: {
      metrics: [{ name: 'error_rate', provider: { type: 'prometheus', address: bed.prom.address, query: ERROR_RATE }, max: MAX_ERROR_RATE }],
      steps: meridianSteps(scenario),
      simulation: undefined,
    },
  });
  const id = await bed.client.start(plan, { id: `peers/${ns}` });
  try {
    const measured = await measure(bed, ns, scenario, () => bed.client.abort(id, { by: 'bench', reason: 'peer comparison' }));
    const status = await bed.client.result(id);
    const outcome = { phase: status.phase, analysisFailed: status.audit.some((a) => a.action === 'analysis-failed') };
    return { tool: 'meridian', scenario, namespace: ns, ...measured, outcome };
  } finally {
    await bed.client.result(id).catch(() => undefined);
    await healthyCanary(bed);
  }
}

export async function argoTrial(bed: PeerBed, scenario: Scenario): Promise<Trial> {
  await healthyCanary(bed);
  const c = bed.kube;
  const ns = uniqueNamespace(`argo-${scenario}`);
  await c.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
  const steps: CanaryStep[] = [{ setWeight: 25 }, { pause: {} }];
  if (scenario === 'breach') {
    await c.request('POST', analysisTemplatesPath(ns), {
      body: analysisTemplate(ns, { name: 'error-rate', address: bed.prom.address, query: ERROR_RATE, max: MAX_ERROR_RATE, interval: ANALYSIS_INTERVAL, failureLimit: FAILURE_LIMIT }),
    });
  }
  await c.request('POST', rolloutsPath(ns), {
    body: rolloutObject(ns, { name: 'web', replicas: REPLICAS, image: OLD_IMAGE, steps, ...(scenario === 'breach' ? { analysis: { template: 'error-rate', startingStep: 1 } } : {}) }),
  });
  await until(c, ns, 'the Rollout healthy on the old image', (s) => s.stable.available === REPLICAS && s.canary.replicas === 0);
  const deadline = Date.now() + 60_000;
  while ((await c.request('GET', rolloutPath(ns, 'web'))).status?.phase !== 'Healthy') {
    if (Date.now() > deadline) throw new Error(`${ns}/web: the Rollout is not Healthy within 60 s`);
    await sleep(100);
  }
  await c.request('PATCH', rolloutPath(ns, 'web'), { contentType: 'application/json-patch+json', body: setImagePatch(NEW_IMAGE) });
  try {
    const measured = await measure(bed, ns, scenario, () =>
      c.request('PATCH', `${rolloutPath(ns, 'web')}/status`, { contentType: 'application/merge-patch+json', body: ABORT_PATCH }),
    );
    const ro = await c.request('GET', rolloutPath(ns, 'web'));
    const runs = await c.request('GET', analysisRunsPath(ns));
    const outcome = { phase: ro.status?.phase as string | undefined, analysisFailed: (runs.items as Record<string, any>[]).some((r) => r.status?.phase === 'Failed') };
    return { tool: 'argo', scenario, namespace: ns, ...measured, outcome };
  } finally {
    await healthyCanary(bed);
  }
}

export interface ScenarioFigure {
  scenario: string;
  meridianMedianMs: number;
  argoMedianMs: number;
  /** Median of Meridian/Argo, each pair from the same trial. */
  ratioMedian: number;
  meridianMs: number[];
  argoMs: number[];
  ratios: number[];
  /** Per trial, from the same start: canary first at 0, stable first at full replicas. */
  milestones: { meridian: Trial['milestones'][]; argo: Trial['milestones'][] };
}

export const SCENARIO_NAMES: Record<Scenario, string> = {
  breach: 'breach → stable',
  abort: 'abort → stable',
};

/** What each tool can do beyond the timed scenarios. A peer's missing capability is written as such, never as a time. */
export const CAPABILITIES = [
  {
    capability: 'rollback of promoted regions',
    meridian: 'yes: a breach in a later region returns promoted regions to their snapshots',
    argo: 'not supported: a promoted Rollout stays on the new version; each cluster has its own Rollout',
  },
  {
    capability: 'gate timeouts with a default action',
    meridian: 'yes: an approval gate\'s `timeout` with `onTimeout` abort or proceed',
    argo: 'not supported: a pause either waits for a promote or, with a duration, always continues',
  },
  {
    capability: 'data reconciliation',
    meridian: 'yes: rows written by the canary reconciled on rollback',
    argo: 'not supported',
  },
] as const;

/**
 * Deletes a trial's namespace once its figures are taken. A test-bed node holds 110 pods, as a
 * real one does by default, and a run leaves four or more per trial: without this, pods of the
 * later trials stayed Pending and those trials never reached their end state.
 */
export async function releaseNamespace(kube: KubeClient, namespace: string): Promise<void> {
  try {
    await kube.request('DELETE', `/api/v1/namespaces/${namespace}`);
  } catch (err) {
    if ((err as { status?: number }).status !== 404) throw err;
  }
}

/** Each scenario `trials` times, Meridian then Argo Rollouts in each trial, the ratio taken pair by pair. */
export async function peerFigures(bed: PeerBed, trials: number, log: (line: string) => void = () => {}) {
  const scenarios: ScenarioFigure[] = [];
  for (const scenario of ['breach', 'abort'] as const) {
    const mt: Trial[] = [];
    const at: Trial[] = [];
    for (let t = 0; t < trials; t++) {
      mt.push(await meridianTrial(bed, scenario));
      at.push(await argoTrial(bed, scenario));
      const show = (x: Trial) => `${x.ms} ms (canary 0 at ${x.milestones.canaryZeroMs} ms, stable full at ${x.milestones.stableFullMs} ms)`;
      log(`${SCENARIO_NAMES[scenario]} trial ${t + 1}: Meridian ${show(mt.at(-1)!)}, Argo Rollouts ${show(at.at(-1)!)}`);
      for (const x of [mt.at(-1)!, at.at(-1)!]) await releaseNamespace(bed.kube, x.namespace);
    }
    const m = mt.map((x) => x.ms);
    const a = at.map((x) => x.ms);
    const ratios = m.map((x, i) => round(x / a[i]!, 3));
    scenarios.push({
      scenario: SCENARIO_NAMES[scenario],
      meridianMedianMs: Math.round(median(m)),
      argoMedianMs: Math.round(median(a)),
      ratioMedian: round(median(ratios), 3),
      meridianMs: m,
      argoMs: a,
      ratios,
      milestones: { meridian: mt.map((x) => x.milestones), argo: at.map((x) => x.milestones) },
    });
  }
  const restart = await restartFigures(bed, trials, log);
  const table = peerTable([...scenarios, restart]);
  return {
    trials,
    setup: {
      peer: 'Argo Rollouts v1.10.1, controller out of cluster',
      cluster: `one test-bed region (${REGION}), ${REPLICAS} replicas, replica-ratio canary at 25%`,
      query: ERROR_RATE,
      threshold: MAX_ERROR_RATE,
      scrapeIntervalMs: SCRAPE_MS,
      analysisInterval: ANALYSIS_INTERVAL,
      failureLimit: FAILURE_LIMIT,
      pollMs: POLL_MS,
    },
    scenarios,
    restart,
    capabilities: CAPABILITIES,
    table,
  };
}

/** A row of the side-by-side table: a time for the peer, or `argo`, what it does instead (then there is no ratio). */
export type TableRow = { scenario: string; meridianMedianMs: number } & ({ argoMedianMs: number; ratioMedian: number } | { argo: string });

export function peerTable(scenarios: TableRow[]): string {
  const peer = (s: TableRow) => ('argo' in s ? `${s.argo} | n/a` : `${s.argoMedianMs} ms | ${s.ratioMedian}`);
  const rows = [
    '| scenario | Meridian | Argo Rollouts | ratio |',
    '|---|---|---|---|',
    ...scenarios.map((s) => `| ${s.scenario} | ${s.meridianMedianMs} ms | ${peer(s)} |`),
    '',
    '| capability | Meridian | Argo Rollouts |',
    '|---|---|---|',
    ...CAPABILITIES.map((c) => `| ${c.capability} | ${c.meridian} | ${c.argo} |`),
  ];
  return rows.join('\n');
}

/** `npm run bench`'s entry: the bed, the figures, the table printed. */
/** `npm run bench`'s entry: scenarios 1, 2 and 4 on one cluster, then scenario 3 on three; the table printed. */
export async function peersBench(trials: number, log: (line: string) => void = () => {}) {
  const bed = await startPeerBed({ log });
  let figures: Awaited<ReturnType<typeof peerFigures>>;
  try {
    figures = await peerFigures(bed, trials, log);
  } finally {
    await bed.stop();
  }
  const regionsBed = await startRegionsBed({ log });
  let regions: Awaited<ReturnType<typeof regionsFigures>>;
  try {
    regions = await regionsFigures(regionsBed, trials, log);
  } finally {
    await regionsBed.stop();
  }
  const table = peerTable([...figures.scenarios, figures.restart, regions]);
  console.log(`\n${table}\n`);
  return { ...figures, regions, table };
}
