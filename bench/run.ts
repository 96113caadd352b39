/**
 * `npm run bench`: figures for the rollout engine on a real local dev server and the simulated fleet.
 * Prints a table and writes bench/report.json. Figures, not pass/fail: the machines are shared and noisy.
 *
 *   MERIDIAN_BENCH_TRIALS=10 npm run bench          (trials per latency figure)
 *   MERIDIAN_BENCH_ROLLOUTS=100 npm run bench       (concurrent rollouts for the memory figure)
 *   MERIDIAN_BENCH_ONLY=prometheusAnalysis npm run bench   (some figures only, comma-separated)
 *   MERIDIAN_BENCH_ONLY=releaseBreachToStable,releaseHistory npm run bench   (the release figures)
 *   MERIDIAN_BENCH_ONLY=edgeBreachToZero npm run bench       (breach -> zero requests at a real Envoy edge, beside the in-cluster figure)
 *   MERIDIAN_BENCH_ONLY=flagKillSwitch npm run bench         (breach -> kill switch in effect at a service reading flagd, beside traffic and workload)
 *   MERIDIAN_BENCH_ONLY=fleetOpCost npm run bench            (one keyed fleet operation, in a fleet of 10 regions and of 5,000)
 *   MERIDIAN_BENCH_ONLY=approvalCheck npm run bench          (the update validator's decision on an approval, unsigned and signed)
 *   MERIDIAN_BENCH_ONLY=scale npm run bench                  (1,000 concurrent rollouts, local cluster beside the dev server, up to about 50 min; see bench/scale.ts)
 *   MERIDIAN_BENCH_RECONCILE_ROWS=100000 npm run bench       (affected rows for the reconcile figure; 1,000,000 by default)
 *   MERIDIAN_BENCH_K8S_COLD=1 npm run bench                  (also time a cold build of the Kubernetes test bed)
 *   MERIDIAN_BENCH_ONLY=peers npm run bench                  (beside Argo Rollouts on the test bed; 5 trials unless MERIDIAN_BENCH_TRIALS; see bench/peers.ts)
 */
import '../lib/require-node.js';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedFleet } from '../activities/fleet';
import { RolloutClient } from '../client/rollout-client';
import { startDevServer } from '../worker/dev-server';
import { compilePlan, type RolloutPlan } from '../domain/plan';
import { rolloutSpec, type RolloutSpecInput } from '../domain/spec';
import { regionWorkflowId } from '../workflows/definitions';
import { prometheusFigures } from './prometheus';
import { kubernetesFigures } from './kubernetes';
import { benchReconcile } from './reconcile';
import { cliStartupFigures } from './cli';
import { releaseBreachFigures, releaseHistoryFigures } from './release';
import { edgeBreachFigures } from './edges';
import { flagBreachFigures } from './flags';
import { fleetOpCostFigures } from './fleet';
import { approvalCheckFigures } from './approval';
import { scaleFigures } from './scale';
import { peersBench } from './peers';
import { FLAGD_DIR_ENV } from '../activities/flags/activities';
import { freePort } from '../lib/ports';
import { loadSpec } from '../client/spec-file';
import { median, quantile, sleep } from './stats';

const ROOT = join(import.meta.dirname, '..');
const TRIALS = Number(process.env.MERIDIAN_BENCH_TRIALS ?? 10);
const ROLLOUTS = Number(process.env.MERIDIAN_BENCH_ROLLOUTS ?? 100);
const OLD = 'registry.bench/app:1.0.0';
const NEW = 'registry.bench/app@sha256:' + 'ef'.repeat(32);



function plan(service: string, regions: string[], over: Partial<RolloutSpecInput>): RolloutPlan {
  return compilePlan(
    rolloutSpec.parse({
      service,
      version: '1.1.0',
      image: NEW,
      regions: regions.map((name) => ({ name, target: { kind: 'simulated', initial: { image: OLD } } })),
      waves: [{ name: 'all', regions }],
      metrics: [{ name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 }],
      steps: [{ kind: 'setWeight', weight: 30 }, { kind: 'analysis', metrics: ['error_rate'], interval: '500ms', sustainedFor: '10m' }],
      simulation: { baseline: { error_rate: 0.004 }, faults: [] },
      ...over,
    }),
  );
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 120_000, everyMs = 20) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The worker runs in its own process, as in production, so its memory is measured alone. */
async function startWorker(address: string, fleetFile: string) {
  const child = spawn(process.execPath, ['bin/meridian.js', 'worker', '--fleet-file', fleetFile, '--address', address], {
    cwd: ROOT,
    env: { ...process.env, CI: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes('worker polling')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`worker exited ${code}: ${out}`)));
  });
  const rssMb = () => {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  };
  return { child, rssMb, stop: () => new Promise((r) => (child.once('exit', r), child.kill('SIGTERM'))) };
}

async function abortToZero(client: RolloutClient, fleet: SimulatedFleet) {
  const samples: number[] = [];
  const regions = ['r1', 'r2', 'r3'];
  for (let t = 0; t < TRIALS; t++) {
    const service = `abort-${t}`;
    const id = await client.start(plan(service, regions, {}), { id: `bench/${service}` });
    await waitFor('canaries at 30%', () => regions.every((r) => fleet.region(service, r)?.weight === 30));
    await sleep(300);
    const t0 = performance.now();
    await client.abort(id, { by: 'bench', reason: 'measure' });
    await waitFor('weight 0 everywhere', () => regions.every((r) => fleet.region(service, r)?.weight === 0), 60_000, 2);
    samples.push(performance.now() - t0);
    await client.result(id);
  }
  return { trials: samples.length, regionsInFlight: regions.length, medianMs: median(samples), p95Ms: quantile(samples, 0.95), samplesMs: samples };
}

async function breachToRollback(client: RolloutClient, fleet: SimulatedFleet) {
  const intervalMs = 1000;
  const samples: number[] = [];
  for (let t = 0; t < Math.max(3, Math.ceil(TRIALS / 2)); t++) {
    const service = `breach-${t}`;
    const p = plan(service, ['r1'], {
      steps: [
        { kind: 'setWeight', weight: 10 },
        { kind: 'analysis', metrics: ['error_rate'], interval: '1s', sustainedFor: '1s' },
        { kind: 'setWeight', weight: 25 },
        { kind: 'analysis', metrics: ['error_rate'], interval: '1s', sustainedFor: '10m' },
      ],
      simulation: { baseline: { error_rate: 0.004 }, faults: ['r1: error_rate 0.08 when weight >= 25'] },
    });
    const id = await client.start(p, { id: `bench/${service}` });
    await client.result(id);
    const journal = fleet.journal(service, 'r1');
    const breach = journal.find((j) => j.op === 'setWeight' && j.effect === 'applied' && j.weight === 25)!;
    const rollback = journal.find((j) => j.op === 'restoreTraffic' && j.effect === 'applied')!;
    samples.push(Date.parse(rollback.at) - Date.parse(breach.at));
  }
  const med = median(samples);
  return { trials: samples.length, analysisIntervalMs: intervalMs, medianMs: med, p95Ms: quantile(samples, 0.95), ratioToInterval: med / intervalMs, samplesMs: samples };
}

/**
 * History written while a region waits on sustained health. Two rollouts differ only in how long
 * the wait lasts; the difference in events, per analysis chunk, times the chunks in an hour.
 */
async function eventsPerRegionHour(client: RolloutClient) {
  const chunkMs = 3000;
  const count = async (sustained: string, n: number) => {
    const service = `events-${n}`;
    const p = plan(service, ['r1'], { steps: [{ kind: 'setWeight', weight: 30 }, { kind: 'analysis', metrics: ['error_rate'], interval: '500ms', sustainedFor: sustained }] });
    const id = await client.start(p, { id: `bench/${service}`, analysisChunkMs: chunkMs });
    await client.result(id);
    let events = 0;
    for (const wid of [id, regionWorkflowId(id, 'r1')]) {
      const history = await client.client.workflow.getHandle(wid).fetchHistory();
      events += history.events?.length ?? 0;
    }
    return events;
  };
  const short = await count('6s', 1);
  const long = await count('30s', 2);
  const chunks = (30_000 - 6_000) / chunkMs;
  const perChunk = (long - short) / chunks;
  const defaultChunkMs = 5 * 60_000;
  return {
    eventsShortWait: short,
    eventsLongWait: long,
    eventsPerChunk: perChunk,
    chunkMsMeasured: chunkMs,
    defaultChunkMs,
    eventsPerRegionHour: Math.round(perChunk * (3_600_000 / defaultChunkMs)),
    eventPerSampleDesignAt30sInterval: Math.round(perChunk * (3_600_000 / 30_000)),
  };
}

/**
 * History written by the demo's rollout (examples/demo.yaml without its fault: five regions, six
 * steps each, three waves): events in the parent's history per region, and in each region stage's.
 */
async function demoHistory(client: RolloutClient) {
  const loaded = await loadSpec(join(ROOT, 'examples', 'demo.yaml'));
  if (!loaded.ok) throw new Error('examples/demo.yaml does not load');
  const demo = loaded.plan;
  const p = { ...demo, service: 'demo-events', simulation: { ...demo.simulation!, faults: [] } };
  const id = await client.start(p, { id: 'bench/demo-events' });
  await client.result(id);
  const regions = Object.keys(p.regions);
  const count = async (wid: string) => (await client.client.workflow.getHandle(wid).fetchHistory()).events?.length ?? 0;
  const parent = await count(id);
  const children = await Promise.all(regions.map((r) => count(regionWorkflowId(id, r))));
  return {
    regions: regions.length,
    stepsPerRegion: Object.values(p.regions)[0]!.steps.length,
    parentEvents: parent,
    parentEventsPerRegion: Math.round((parent / regions.length) * 10) / 10,
    regionStageEventsMedian: median(children),
  };
}

async function memoryAt(client: RolloutClient, fleet: SimulatedFleet, worker: { rssMb(): number }) {
  const regions = ['r1', 'r2', 'r3', 'r4', 'r5'];
  const idle = worker.rssMb();
  const ids: string[] = [];
  for (let i = 0; i < ROLLOUTS; i++) {
    const service = `mem-${i}`;
    ids.push(
      await client.start(plan(service, regions, { steps: [{ kind: 'setWeight', weight: 20 }, { kind: 'analysis', metrics: ['error_rate'], interval: '2s', sustainedFor: '10m' }] }), {
        id: `bench/${service}`,
      }),
    );
  }
  let peak = idle;
  const sampler = setInterval(() => (peak = Math.max(peak, worker.rssMb())), 250);
  const inAnalysis = () => ids.reduce((n, _, i) => n + regions.filter((r) => fleet.region(`mem-${i}`, r)?.weight === 20).length, 0);
  const started = performance.now();
  await waitFor('every rollout past preflight', () => ids.every((_, i) => fleet.region(`mem-${i}`, regions[0]!) !== undefined), 600_000, 500);
  await sleep(60_000);
  const steady = worker.rssMb();
  clearInterval(sampler);
  const reachedAnalysis = inAnalysis();
  const elapsedS = (performance.now() - started) / 1000;
  return { rollouts: ROLLOUTS, regionsEach: regions.length, idleRssMb: idle, steadyRssMb: steady, peakRssMb: peak, regionsInAnalysisAtEnd: reachedAnalysis, secondsObserved: elapsedS };
}

/** Reconciliation runs in this process against its own PostgreSQL, so its memory figure is the reconciliation's alone. */
async function reconcileFigures() {
  const rows = Number(process.env.MERIDIAN_BENCH_RECONCILE_ROWS ?? 1_000_000);
  const figures = await benchReconcile({ rows, batchSizes: [1_000, 10_000] });
  for (const f of figures) console.log(`\n  batch ${f.batchSize}: ${f.rowsPerSecond} rows/s (${f.rows} rows in ${f.seconds}s), peak RSS ${f.peakRssMb} MB, peak heap ${f.peakHeapMb} MB`);
  return figures;
}

/** Figures that need neither the dev server nor the worker process. */
const STANDALONE = ['reconcile', 'kubernetes', 'fleetOpCost', 'approvalCheck', 'scale', 'peers'];

async function main() {
  const only = process.env.MERIDIAN_BENCH_ONLY?.split(',');
  const report: Record<string, unknown> = { at: new Date().toISOString(), node: process.version, trials: TRIALS };
  // First, before the dev server and the worker start, so nothing else shares the process or the cores.
  if (!only || only.includes('reconcile')) {
    process.stdout.write('reconcile ... ');
    report.reconcile = await reconcileFigures();
  }
  if (!only || only.includes('kubernetes')) {
    console.log('kubernetes ...');
    report.kubernetes = await kubernetesFigures(Math.max(3, Math.ceil(TRIALS / 2)), (line) => console.log(`  ${line}`));
    console.log(`  ${JSON.stringify(report.kubernetes)}`);
  }
  if (!only || only.includes('fleetOpCost')) {
    process.stdout.write('fleetOpCost ... ');
    report.fleetOpCost = fleetOpCostFigures();
    console.log(JSON.stringify(report.fleetOpCost));
  }
  if (!only || only.includes('approvalCheck')) {
    process.stdout.write('approvalCheck ... ');
    report.approvalCheck = approvalCheckFigures();
    console.log(JSON.stringify(report.approvalCheck));
  }
  // It runs its own cluster and dev server, for up to twice MERIDIAN_BENCH_SCALE_DEADLINE.
  if (!only || only.includes('scale')) {
    console.log('scale ...');
    report.scale = await scaleFigures((line) => console.log(`  ${line}`));
  }
  // Its own test bed, Argo Rollouts controller, dev server and worker.
  if (!only || only.includes('peers')) {
    console.log('peers ...');
    report.peers = await peersBench(Number(process.env.MERIDIAN_BENCH_TRIALS ?? 5), (line) => console.log(`  ${line}`));
  }
  if (only && only.every((name) => STANDALONE.includes(name))) return writeReport(report);
  const dir = mkdtempSync(join(tmpdir(), 'meridian-bench-'));
  const fleetFile = join(dir, 'fleet.db');
  // The worker process writes flagd flag files here (the flag figure's service reads them).
  const flagdDir = join(dir, 'flagd');
  mkdirSync(flagdDir);
  process.env[FLAGD_DIR_ENV] = flagdDir;
  const server = await startDevServer({ dbFile: join(dir, 'temporal.db'), port: await freePort(), uiPort: await freePort() });
  const worker = await startWorker(server.address, fleetFile);
  const client = new RolloutClient(server.client, { namespace: server.namespace });
  const fleet = new SimulatedFleet(fleetFile);
  try {
    const step = async (name: string, run: () => Promise<unknown>) => {
      if (only && !only.includes(name)) return;
      process.stdout.write(`${name} ... `);
      report[name] = await run();
      console.log(JSON.stringify(report[name]));
    };
    await step('cliStartup', async () => {
      const id = await client.start(plan('bench-cli', ['cli-1'], {}), { id: 'bench/cli-startup' });
      try {
        return cliStartupFigures(server.address, id, TRIALS);
      } finally {
        await client.abort(id, { by: 'bench', reason: 'bench done' }).catch(() => undefined);
      }
    });
    await step('abortToWeightZero', () => abortToZero(client, fleet));
    await step('breachToRollback', () => breachToRollback(client, fleet));
    await step('releaseBreachToStable', () => releaseBreachFigures(client, fleet, TRIALS));
    await step('historyEvents', () => eventsPerRegionHour(client));
    await step('demoHistory', () => demoHistory(client));
    await step('releaseHistory', () => releaseHistoryFigures(client));
    await step('edgeBreachToZero', () => edgeBreachFigures(client, fleet, Math.max(3, Math.ceil(TRIALS / 2))));
    await step('flagKillSwitch', () => flagBreachFigures(client, fleet, Math.max(3, Math.ceil(TRIALS / 2)), flagdDir));
    await step('prometheusAnalysis', () => prometheusFigures(client, fleet, Math.max(3, Math.ceil(TRIALS / 2))));
    await step('workerMemory', () => memoryAt(client, fleet, worker));
  } finally {
    await worker.stop();
    await server.stop();
  }
  writeReport(report);
}

function writeReport(report: Record<string, unknown>) {
  const out = join(ROOT, 'bench', 'report.json');
  // A partial run updates its figures in the last full report.
  const previous = process.env.MERIDIAN_BENCH_ONLY && existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>) : {};
  writeFileSync(out, JSON.stringify({ ...previous, ...report }, null, 2));
  console.log(`\nreport written to ${out}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
