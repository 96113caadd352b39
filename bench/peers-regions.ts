/**
 * Scenario 3 of the side-by-side comparison: three regions, one test-bed cluster each; the third
 * breaches after the first two are promoted.
 *
 * - Meridian: one rollout over the three clusters, a wave per region. Measured: the first scrape of
 *   the third region's canary above the threshold → all three regions back on the known-good version.
 * - Argo Rollouts: one Rollout per cluster, released one after the other. What it does is reported,
 *   not timed: the third Rollout aborts, the two promoted ones stay on the new version.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeClient } from '../activities/kubernetes/client';
import { RolloutClient } from '../client/rollout-client';
import { freePort as osFreePort } from '../lib/ports';
import { stopChild } from '../lib/stop-child';
import { controllerLogFile, ensureArgoRollouts, installRolloutsCrds, type RolloutsController, startRolloutsController } from '../peers/argo';
import { analysisTemplate, analysisTemplatesPath, rolloutObject, rolloutPath, rolloutsPath, setImagePatch } from '../peers/argo/scenario';
import { startTestbed, type Testbed } from '../testbed';
import { kube, kubePlan, NEW_IMAGE, OLD_IMAGE, REPLICAS, seedWeb, uniqueNamespace } from '../test/kubernetes/support';
import { startDemoService, type DemoService } from '../test/support/demo-service';
import { startLoad, type Load } from '../test/support/load';
import { startWorkerProcess } from '../test/support/processes';
import { startPrometheus, type RunningPrometheus } from '../test/support/prometheus';
import { startDevServer, type DevServer } from '../worker/dev-server';
import { ANALYSIS_INTERVAL, backOnStable, breachDelayMs, type ClusterState, clusterState, FAILURE_LIMIT, MAX_ERROR_RATE, releaseNamespace } from './peers';
import { median, sleep } from './stats';

export const REGIONS = ['eu-west-1', 'us-east-1', 'ap-south-1'] as const;
const BREACHING = REGIONS[2];
const STABLE_VERSION = '1.0.0';
/** One canary process per region, so only the third region's canary fails. */
const canaryVersion = (region: string) => `1.1.${REGIONS.indexOf(region as (typeof REGIONS)[number]) + 1}`;
const regionRate = (region: string) =>
  `(sum(rate(http_requests_total{role="canary",region="${region}",code=~"5.."}[5s])) or vector(0)) / sum(rate(http_requests_total{role="canary",region="${region}"}[5s]))`;
/** Meridian's query: the same, its region filled in by Meridian for each region. */
const MERIDIAN_QUERY = regionRate('{{region}}');
/** How long a healthy canary's analysis lasts before the region is promoted: longer than the random wait before the breach plus its detection, so the third region cannot be promoted first. */
const HEALTHY_FOR = '10s';

export interface RegionsBed {
  tb: Testbed;
  kube: Record<string, KubeClient>;
  controllers: RolloutsController[];
  server: DevServer;
  client: RolloutClient;
  demo: DemoService;
  prom: RunningPrometheus;
  load: Load;
  stop(): Promise<void>;
}

export async function startRegionsBed(opts: { log?: (line: string) => void; freePort?: () => Promise<number>; dir?: string } = {}): Promise<RegionsBed> {
  const log = opts.log ?? (() => {});
  const port = opts.freePort ?? osFreePort;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'meridian-peers-regions-'));
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((err) => log(`stopping: ${(err as Error).message}`));
  };
  try {
    const argo = await ensureArgoRollouts({ log });
    const tb = await startTestbed({ dir: join(dir, 'testbed'), regions: [...REGIONS], log });
    stops.push(() => tb.stop());
    const controllers: RolloutsController[] = [];
    for (const region of REGIONS) {
      const context = tb.contexts[region]!;
      await installRolloutsCrds({ kubeconfig: tb.kubeconfigPath, context, crdFiles: argo.crdFiles });
      const controller = await startRolloutsController({ binary: argo.controller, kubeconfig: tb.kubeconfigPath, context, logFile: controllerLogFile(tb, region) });
      stops.push(() => controller.stop());
      controllers.push(controller);
    }
    const demo = await startDemoService([STABLE_VERSION, ...REGIONS.map(canaryVersion)]);
    stops.push(() => demo.stop());
    const prom = await startPrometheus([
      { url: demo.urls[STABLE_VERSION]!, labels: { role: 'stable' } },
      ...REGIONS.map((region) => ({ url: demo.urls[canaryVersion(region)]!, labels: { role: 'canary', region } })),
    ]);
    stops.push(() => prom.stop());
    await prom.waitForTargets();
    const load = startLoad({ urls: Object.values(demo.urls), concurrency: 8, maxRequests: 50_000_000, maxDurationMs: 4 * 3_600_000 });
    stops.push(() => load.stop());
    const server = await startDevServer({ inMemory: true, port: await port(), uiPort: await port() });
    stops.push(() => server.stop());
    const worker = await startWorkerProcess({ address: server.address, fleetFile: join(dir, 'fleet.db') });
    stops.push(() => stopChild(worker));
    const client = new RolloutClient(server.client, { namespace: server.namespace });
    const clients = Object.fromEntries(REGIONS.map((r) => [r, kube(tb, tb.contexts[r]!)]));
    return { tb, kube: clients, controllers, server, client, demo, prom, load, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

type States = Record<string, ClusterState>;

async function states(bed: RegionsBed, ns: string): Promise<States> {
  return Object.fromEntries(await Promise.all(REGIONS.map(async (r) => [r, await clusterState(bed.kube[r]!, ns)] as const)));
}

async function until(bed: RegionsBed, ns: string, what: string, ok: (s: States) => boolean, timeoutMs = 180_000): Promise<{ states: States; at: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await states(bed, ns);
    const at = Date.now();
    if (ok(s)) return { states: s, at };
    if (at > deadline) throw new Error(`${ns}: ${what} not reached within ${timeoutMs} ms; last: ${JSON.stringify(s)}`);
    await sleep(20);
  }
}

const atQuarter = (s: ClusterState) => s.canary.replicas === REPLICAS / 4 && s.canary.available === s.canary.replicas && s.stable.replicas === REPLICAS - s.canary.replicas;
const onNew = (s: ClusterState) => s.canary.replicas === REPLICAS && s.canary.available === REPLICAS && s.stable.replicas === 0;

async function rateAt(prom: RunningPrometheus, query: string, timeMs: number): Promise<number | undefined> {
  const res = await fetch(`${prom.address}/api/v1/query?${new URLSearchParams({ query, time: String(timeMs / 1000) })}`);
  const body = (await res.json()) as { data: { result: { value?: [number, string]; values?: [number, string][] }[] } };
  const v = body.data.result[0]?.value?.[1];
  return v === undefined ? undefined : Number(v);
}

/** The first scrape of `region`'s canary after `fromMs` above the threshold. */
async function firstScrapeAbove(prom: RunningPrometheus, region: string, fromMs: number, toMs: number): Promise<number> {
  const seconds = Math.ceil((toMs - fromMs) / 1000) + 2;
  const res = await fetch(`${prom.address}/api/v1/query?${new URLSearchParams({ query: `up{role="canary",region="${region}"}[${seconds}s]`, time: String(toMs / 1000) })}`);
  const scrapes = ((await res.json()) as { data: { result: { values?: [number, string][] }[] } }).data.result[0]?.values ?? [];
  for (const [ts] of scrapes) {
    const at = Math.round(ts * 1000);
    if (at < fromMs) continue;
    const rate = await rateAt(prom, regionRate(region), at);
    if (rate !== undefined && rate > MAX_ERROR_RATE) return at;
  }
  throw new Error(`no scrape of ${region}'s canary is above ${MAX_ERROR_RATE} between ${new Date(fromMs).toISOString()} and ${new Date(toMs).toISOString()}`);
}

async function healthyCanaries(bed: RegionsBed): Promise<void> {
  for (const r of REGIONS) await bed.demo.control(canaryVersion(r), { errorRate: 0 });
  const deadline = Date.now() + 30_000;
  for (const r of REGIONS) {
    while ((await rateAt(bed.prom, regionRate(r), Date.now())) !== 0) {
      if (Date.now() > deadline) throw new Error(`${r}'s canary error rate did not return to 0 within 30 s`);
      await sleep(250);
    }
  }
}

export interface MeridianRegionsTrial {
  namespace: string;
  /** The third region's first scrape above the threshold → every region back on the known-good version. */
  ms: number;
  phase: string;
  end: States;
  /** Each region promoted (every replica on the new version) before the breach. */
  promotedBefore: string[];
}

export async function meridianRegionsTrial(bed: RegionsBed): Promise<MeridianRegionsTrial> {
  await healthyCanaries(bed);
  const ns = uniqueNamespace('meridian-regions');
  await seedWeb(bed.tb, [...REGIONS], ns);
  const plan = kubePlan(bed.tb, ns, {
    strategy: 'replicas',
    waves: REGIONS.map((r) => [r]),
    overrides: {
      metrics: [{ name: 'error_rate', provider: { type: 'prometheus', address: bed.prom.address, query: MERIDIAN_QUERY }, max: MAX_ERROR_RATE }],
      steps: [
        { kind: 'setWeight', weight: 25 },
        { kind: 'analysis', metrics: ['error_rate'], interval: ANALYSIS_INTERVAL, sustainedFor: HEALTHY_FOR, failureLimit: FAILURE_LIMIT, minSamples: 2 },
      ],
      simulation: undefined,
    },
  });
  const id = await bed.client.start(plan, { id: `peers/${ns}` });
  try {
    const quarter = await until(bed, ns, `${BREACHING} at 25%`, (s) => atQuarter(s[BREACHING]!));
    const promotedBefore = REGIONS.filter((r) => onNew(quarter.states[r]!));
    await sleep(breachDelayMs());
    const trigger = Date.now();
    await bed.demo.control(canaryVersion(BREACHING), { errorRate: 0.2 });
    const end = await until(bed, ns, 'every region back on the known-good version', (s) => REGIONS.every((r) => backOnStable(s[r]!)));
    await sleep(1_000);
    const breach = await firstScrapeAbove(bed.prom, BREACHING, trigger, end.at);
    const status = await bed.client.result(id);
    return { namespace: ns, ms: end.at - breach, phase: status.phase, end: end.states, promotedBefore };
  } finally {
    await bed.client.result(id).catch(() => undefined);
    await healthyCanaries(bed);
  }
}

export interface ArgoRegionsTrial {
  namespace: string;
  /** Each region promoted before the third was released. */
  promotedBefore: string[];
  /** The third region: its canary at 0 and stable at full replicas after its analysis failed. */
  breachingBackOnStable: boolean;
  /** Read 10 s after the third region's abort: the regions still on the new version. */
  stillOnNew: string[];
  phases: Record<string, string | undefined>;
  end: States;
}

/** One Rollout per cluster, released one after the other, each promoted after a healthy analysis; the third breaches. */
export async function argoRegionsTrial(bed: RegionsBed): Promise<ArgoRegionsTrial> {
  await healthyCanaries(bed);
  const ns = uniqueNamespace('argo-regions');
  for (const region of REGIONS) {
    const c = bed.kube[region]!;
    await c.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
    await c.request('POST', analysisTemplatesPath(ns), {
      body: analysisTemplate(ns, { name: 'error-rate', address: bed.prom.address, query: regionRate(region), max: MAX_ERROR_RATE, interval: ANALYSIS_INTERVAL, failureLimit: FAILURE_LIMIT }),
    });
    await c.request('POST', rolloutsPath(ns), {
      body: rolloutObject(ns, { name: 'web', replicas: REPLICAS, image: OLD_IMAGE, steps: [{ setWeight: 25 }, { pause: { duration: HEALTHY_FOR } }], analysis: { template: 'error-rate', startingStep: 1 } }),
    });
  }
  await until(bed, ns, 'every Rollout on the old image', (s) => REGIONS.every((r) => s[r]!.stable.available === REPLICAS && s[r]!.canary.replicas === 0));
  const phase = async (region: string) => (await bed.kube[region]!.request('GET', rolloutPath(ns, 'web'))).status?.phase as string | undefined;
  for (const region of REGIONS) {
    const deadline = Date.now() + 60_000;
    while ((await phase(region)) !== 'Healthy') {
      if (Date.now() > deadline) throw new Error(`${region} ${ns}/web: the Rollout is not Healthy within 60 s`);
      await sleep(100);
    }
  }
  const promotedBefore: string[] = [];
  for (const region of REGIONS.slice(0, 2)) {
    await bed.kube[region]!.request('PATCH', rolloutPath(ns, 'web'), { contentType: 'application/json-patch+json', body: setImagePatch(NEW_IMAGE) });
    await until(bed, ns, `${region} promoted`, (s) => onNew(s[region]!));
    const deadline = Date.now() + 60_000;
    while ((await phase(region)) !== 'Healthy') {
      if (Date.now() > deadline) throw new Error(`${region} ${ns}/web: the Rollout is not Healthy after its promotion within 60 s`);
      await sleep(100);
    }
    promotedBefore.push(region);
  }
  await bed.kube[BREACHING]!.request('PATCH', rolloutPath(ns, 'web'), { contentType: 'application/json-patch+json', body: setImagePatch(NEW_IMAGE) });
  await until(bed, ns, `${BREACHING} at 25%`, (s) => atQuarter(s[BREACHING]!));
  await sleep(breachDelayMs());
  await bed.demo.control(canaryVersion(BREACHING), { errorRate: 0.2 });
  try {
    await until(bed, ns, `${BREACHING} back on stable`, (s) => backOnStable(s[BREACHING]!));
    await sleep(10_000);
    const end = await states(bed, ns);
    const phases = Object.fromEntries(await Promise.all(REGIONS.map(async (r) => [r, await phase(r)] as const)));
    return {
      namespace: ns,
      promotedBefore,
      breachingBackOnStable: backOnStable(end[BREACHING]!),
      stillOnNew: REGIONS.filter((r) => onNew(end[r]!)),
      phases,
      end,
    };
  } finally {
    await healthyCanaries(bed);
  }
}

/** `trials` Meridian trials timed, and Argo Rollouts' behaviour in as many. */
export async function regionsFigures(bed: RegionsBed, trials: number, log: (line: string) => void = () => {}) {
  const m: MeridianRegionsTrial[] = [];
  const a: ArgoRegionsTrial[] = [];
  for (let t = 0; t < trials; t++) {
    m.push(await meridianRegionsTrial(bed));
    a.push(await argoRegionsTrial(bed));
    log(`three regions trial ${t + 1}: Meridian ${m.at(-1)!.ms} ms to every region on known-good; Argo Rollouts: ${a.at(-1)!.stillOnNew.join(', ') || 'none'} still on the new version`);
    for (const kube of Object.values(bed.kube)) for (const x of [m.at(-1)!, a.at(-1)!]) await releaseNamespace(kube, x.namespace);
  }
  const stillOnNew = [...new Set(a.flatMap((x) => x.stillOnNew))];
  return {
    scenario: 'three regions, the third breaches after two are promoted → every region on known-good',
    meridianMedianMs: Math.round(median(m.map((x) => x.ms))),
    meridianMs: m.map((x) => x.ms),
    meridianPhases: m.map((x) => x.phase),
    argo: stillOnNew.length > 0 ? `not supported: ${stillOnNew.join(', ')} stayed on the new version` : 'every region back on the known-good version',
    argoTrials: a.map((x) => ({ stillOnNew: x.stillOnNew, breachingBackOnStable: x.breachingBackOnStable, phases: x.phases })),
  };
}
