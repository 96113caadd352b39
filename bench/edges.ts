/**
 * Steering away at a real Envoy edge: from the breach verdict of eu-west-1 to the last answer the
 * load generator got from it through the edge, side by side with the in-cluster figure of the same
 * trials (the same verdict to the region's canary weight 0 in the simulated fleet).
 *
 *   MERIDIAN_BENCH_ONLY=edgeBreachToZero npm run bench
 *
 * Each trial: a fresh Envoy edge `eu` (eu-west-1 50, eu-central-1 50) in front of two demo-service
 * instances, one per region's stable ingress, load through the edge, and a rollout of two waves on
 * simulated targets whose canary in eu-west-1 breaches at 25%, failure policy rollback-all.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SimulatedFleet } from '../activities/fleet';
import { startEnvoyProcess } from '../activities/edges/envoy-process';
import type { RolloutClient } from '../client/rollout-client';
import { startLoad } from '../demo-service/load';
import { startDemoService } from '../demo-service/server';
import type { EdgeSpec } from '../domain/edges';
import type { RolloutSpecInput } from '../domain/spec';
import type { AuditEntry } from '../domain/status';
import { formatProblem, validateSpec } from '../domain/validate';
import { freePorts } from '../lib/ports';
import { requireTool } from '../lib/tools';
import { quantile, round, sleep } from './stats';

const WEST = 'eu-west-1';
const CENTRAL = 'eu-central-1';
const OLD = 'registry.bench/shop/checkout:2.3.1';
const NEW = `registry.bench/shop/checkout@sha256:${'4e'.repeat(32)}`;
const INTERVAL_MS = 500;
/** Keeps eu-west-1 rolling back, so drained, for this long after the traffic cut: the window in which the load runs on with its share at 0. */
const RESTORE_DELAY = '3s';
/** How long the load runs on once the edge's route file changed, before it stops. */
const HOLD_MS = 1_500;
const LOAD_CONCURRENCY = 4;
const DEMO_LATENCY_MS = 10;

const readOr = (file: string) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};

/** A real Envoy for the edge on free loopback ports, its configuration in a fresh temporary folder. */
async function startEdge(routes: EdgeSpec['routes']) {
  const [listenerPort, adminPort] = await freePorts(2);
  const configDir = mkdtempSync(join(tmpdir(), 'meridian-bench-envoy-'));
  const edge: EdgeSpec = { name: 'eu', residency: 'eu', minHealthyShare: 50, routes, provider: { type: 'envoy', admin: `http://127.0.0.1:${adminPort}`, configDir } };
  const envoy = await startEnvoyProcess(edge, { binary: requireTool('envoy'), listenerPort: listenerPort!, concurrency: 1 });
  const stop = async () => {
    await envoy.stop();
    rmSync(configDir, { recursive: true, force: true });
  };
  return { edge, url: envoy.url, routeFile: join(configDir, 'rds-edge.json'), stop };
}

function planFor(service: string, edge: EdgeSpec) {
  const region = (name: string) => ({ name, target: { kind: 'simulated', initial: { image: OLD } }, labels: { residency: 'eu' } });
  const spec = {
    service,
    version: '2.4.0',
    image: NEW,
    failurePolicy: 'rollback-all',
    regions: [region(WEST), region(CENTRAL)],
    waves: [{ name: 'first', regions: [WEST] }, { name: 'second', regions: [CENTRAL] }],
    metrics: [{ name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 }],
    steps: [
      { kind: 'setWeight', weight: 25 },
      { kind: 'analysis', metrics: ['error_rate'], interval: `${INTERVAL_MS}ms`, sustainedFor: '10m' },
    ],
    edges: [edge],
    steering: { returnSteps: [50], stepAnalysis: { interval: '500ms', sustainedFor: '1s' } },
    simulation: { baseline: { error_rate: 0.004 }, faults: [`${WEST}: error_rate 0.08 when weight >= 25`, `${WEST}: delay restoreWorkload ${RESTORE_DELAY}`] },
  };
  const v = validateSpec(spec as unknown as RolloutSpecInput);
  if (!v.ok) throw new Error(`bench edge spec: ${v.problems.map(formatProblem).join('; ')}`);
  return v.plan;
}

function entryOf(audit: AuditEntry[], action: string, id: string): AuditEntry {
  const entry = audit.find((a) => a.action === action && (a.region === WEST || (a.data as { region?: string } | undefined)?.region === WEST));
  if (!entry) throw new Error(`${id}: no '${action}' entry of ${WEST}`);
  return entry;
}

/**
 * Per trial: t0 is the `at` of eu-west-1's 'analysis-failed' entry (the breach verdict); the edge
 * figure ends at the last answer the load generator got from eu-west-1 (x-served-by), the
 * in-cluster figure at the fleet journal's first call that left eu-west-1's canary at weight 0.
 * The load runs on for HOLD_MS after the edge's route file changed, and the trial checks that the
 * share had not started to come back (first 'steer-back') before the load stopped, and that the
 * load kept getting answers from eu-central-1 until then.
 *
 * Beside the two figures, medians from the same verdict: the rollout's reaction (its
 * 'region-failed' entry, after which the traffic cut and the drain start together), the edge's route
 * file rewritten (seen by polling it every 10 ms; `routeFileToLastAnswerMs` per trial, negative when
 * the last answer came before the poll saw the file), the 'steer-away' entry (changeEdge returned once
 * Envoy served the change); and how long the share stayed at 0 before the first 'steer-back'.
 */
export async function edgeBreachFigures(client: RolloutClient, fleet: SimulatedFleet, trials: number) {
  const demo = await startDemoService({ versions: [WEST, CENTRAL].map((version) => ({ version, behaviour: { latencyMs: DEMO_LATENCY_MS } })) });
  const urls = Object.fromEntries(demo.versions.map((v) => [v.version, v.url]));
  const edgeMs: number[] = [];
  const inClusterMs: number[] = [];
  const toSteerAwayEntryMs: number[] = [];
  const toReactionMs: number[] = [];
  const toRouteFileMs: number[] = [];
  const drainedForMs: number[] = [];
  const fileToLastAnswerMs: number[] = [];
  const zeroWindowMs: number[] = [];
  const requests: number[] = [];
  let failedRequests = 0;
  try {
    for (let t = 0; t < trials; t++) {
      const service = `edge-breach-${t}`;
      const envoy = await startEdge([WEST, CENTRAL].map((region) => ({ region, share: 50, address: new URL(urls[region]!).host })));
      const load = startLoad({ urls: [envoy.url], concurrency: LOAD_CONCURRENCY, maxRequests: Number.MAX_SAFE_INTEGER, maxDurationMs: 180_000 });
      try {
        const initial = readOr(envoy.routeFile);
        await sleep(500);
        const id = await client.start(planFor(service, envoy.edge), { id: `bench/${service}` });
        const deadline = Date.now() + 120_000;
        while (readOr(envoy.routeFile) === initial) {
          if (Date.now() > deadline) throw new Error(`${id}: the eu edge was not rewritten within 120 s`);
          await sleep(10);
        }
        const rewrittenAt = Date.now();
        await sleep(HOLD_MS);
        const report = await load.stop();
        const stoppedAt = Date.now();
        const status = await client.result(id);
        if (status.phase !== 'RolledBack') throw new Error(`${id} ended ${status.phase}, not RolledBack: ${status.reason ?? ''}`);

        const t0 = Date.parse(entryOf(status.audit, 'analysis-failed', id).at);
        const away = entryOf(status.audit, 'steer-away', id);
        const after = (away.data as { after?: { shares?: Record<string, number> } }).after?.shares;
        if (after?.[WEST] !== 0) throw new Error(`${id}: the steer-away left ${WEST} at ${JSON.stringify(after)}`);
        const back = status.audit.find((a) => a.action === 'steer-back' && a.region === WEST);
        if (back && Date.parse(back.at) <= stoppedAt) throw new Error(`${id}: ${WEST}'s share started to come back (${back.at}) before the load stopped`);
        const t1 = report.lastByServer[WEST];
        const central = report.lastByServer[CENTRAL];
        if (t1 === undefined || central === undefined) throw new Error(`${id}: the load got no answer from ${t1 === undefined ? WEST : CENTRAL}`);
        if (t1 < t0) throw new Error(`${id}: ${WEST} stopped answering before its breach verdict`);
        if (central - t1 < HOLD_MS / 2) throw new Error(`${id}: the load did not run on after ${WEST}'s last answer (${central - t1} ms)`);

        const journal = fleet.journal(service, WEST);
        const at25 = journal.findIndex((j) => j.op === 'setWeight' && j.effect === 'applied' && j.weight === 25);
        const cut = journal.slice(at25 + 1).find((j) => j.effect === 'applied' && j.weight === 0);
        if (at25 < 0 || !cut) throw new Error(`${id}: no weight 0 after 25 in ${WEST}'s journal`);

        edgeMs.push(t1 - t0);
        inClusterMs.push(Date.parse(cut.at) - t0);
        toSteerAwayEntryMs.push(Date.parse(away.at) - t0);
        toReactionMs.push(Date.parse(entryOf(status.audit, 'region-failed', id).at) - t0);
        toRouteFileMs.push(rewrittenAt - t0);
        fileToLastAnswerMs.push(t1 - rewrittenAt);
        if (back) drainedForMs.push(Date.parse(back.at) - Date.parse(away.at));
        zeroWindowMs.push(stoppedAt - t1);
        requests.push(report.sent);
        failedRequests += report.failed + Object.entries(report.byStatus).reduce((n, [code, k]) => n + (code === '200' ? 0 : k), 0);
      } finally {
        await load.stop();
        await envoy.stop();
      }
    }
  } finally {
    await demo.close();
  }
  const edgeMed = quantile(edgeMs, 0.5);
  const clusterMed = quantile(inClusterMs, 0.5);
  return {
    trials,
    analysisIntervalMs: INTERVAL_MS,
    loadConcurrency: LOAD_CONCURRENCY,
    demoLatencyMs: DEMO_LATENCY_MS,
    edgeZeroRequests: { medianMs: round(edgeMed), p95Ms: round(quantile(edgeMs, 0.95)), samplesMs: edgeMs },
    inClusterWeightZero: { medianMs: round(clusterMed), p95Ms: round(quantile(inClusterMs, 0.95)), samplesMs: inClusterMs },
    ratioOfMedians: round(edgeMed / clusterMed, 2),
    verdictToRolloutReactionMedianMs: round(quantile(toReactionMs, 0.5)),
    verdictToRouteFileWrittenMedianMs: round(quantile(toRouteFileMs, 0.5)),
    routeFileToLastAnswerMs: fileToLastAnswerMs,
    verdictToSteerAwayEntryMedianMs: round(quantile(toSteerAwayEntryMs, 0.5)),
    loadRanOnWithZeroMedianMs: round(quantile(zeroWindowMs, 0.5)),
    steerAwayToFirstSteerBackMedianMs: drainedForMs.length ? round(quantile(drainedForMs, 0.5)) : null,
    requestsPerTrialMedian: round(quantile(requests, 0.5)),
    failedRequests,
  };
}
