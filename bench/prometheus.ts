/**
 * Analysis on a real Prometheus: how fast a breach in the service turns into traffic back on
 * stable, and how many queries analysis costs. Needs the prometheus binary (apt-get install prometheus).
 */
import type { SimulatedFleet } from '../activities/fleet';
import type { RolloutClient } from '../client/rollout-client';
import { compilePlan } from '../domain/plan';
import { rolloutSpec } from '../domain/spec';
import { startDemoService } from '../test/support/demo-service';
import { startLoad } from '../test/support/load';
import { startPrometheus } from '../test/support/prometheus';

const STABLE = '1.0.0';
const CANARY = '1.1.0';
const ERROR_RATE =
  'sum(rate(http_requests_total{role="{{role}}",code=~"5.."}[3s])) / sum(rate(http_requests_total{role="{{role}}"}[3s]))';
const SCRAPE_MS = 1000;
const INTERVAL_MS = 1000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

/** Instant queries Prometheus has answered, from its own /metrics (it does not scrape itself here). */
async function queriesServed(address: string): Promise<number> {
  const text = await (await fetch(`${address}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('prometheus_http_requests_total{') && line.includes('handler="/api/v1/query"'))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

export async function prometheusFigures(client: RolloutClient, fleet: SimulatedFleet, trials: number) {
  const demo = await startDemoService([STABLE, CANARY]);
  const prom = await startPrometheus([
    { url: demo.urls[STABLE]!, labels: { role: 'stable' } },
    { url: demo.urls[CANARY]!, labels: { role: 'canary' } },
  ]);
  const load = startLoad({ urls: [demo.urls[STABLE]!, demo.urls[CANARY]!], concurrency: 6, maxRequests: 2_000_000, maxDurationMs: 600_000 });
  try {
    await prom.waitForTargets();
    await sleep(5_000);
    const latencies: number[] = [];
    let queries = 0;
    let analysisMs = 0;
    for (let t = 0; t < trials; t++) {
      await demo.control(CANARY, { errorRate: 0 });
      await sleep(4_000);
      const service = `prom-breach-${t}`;
      const plan = compilePlan(
        rolloutSpec.parse({
          service,
          version: CANARY,
          image: 'registry.bench/app@sha256:' + 'ab'.repeat(32),
          regions: [{ name: 'r1', target: { kind: 'simulated', initial: { image: `registry.bench/app:${STABLE}` } } }],
          waves: [{ regions: ['r1'] }],
          metrics: [{ name: 'error_rate', provider: { type: 'prometheus', address: prom.address, query: ERROR_RATE }, max: 0.02 }],
          steps: [{ kind: 'setWeight', weight: 25 }, { kind: 'analysis', metrics: ['error_rate'], interval: '1s', sustainedFor: '1h' }],
        }),
      );
      const id = await client.start(plan, { id: `bench/${service}` });
      while (!(fleet.region(service, 'r1')?.weight === 25)) await sleep(20);
      const before = await queriesServed(prom.address);
      const analysing = performance.now();
      await sleep(5_000);
      const breach = performance.now();
      await demo.control(CANARY, { errorRate: 0.2 });
      while (fleet.region(service, 'r1')?.weight !== 0) await sleep(5);
      latencies.push(performance.now() - breach);
      analysisMs += performance.now() - analysing;
      queries += (await queriesServed(prom.address)) - before;
      await client.result(id);
    }
    const med = median(latencies);
    const budget = INTERVAL_MS + 2000;
    return {
      trials,
      scrapeIntervalMs: SCRAPE_MS,
      analysisIntervalMs: INTERVAL_MS,
      breachToWeightZeroMedianMs: Math.round(med),
      breachToWeightZeroMs: latencies.map(Math.round),
      relativeToScrapePlusInterval: +(med / (SCRAPE_MS + INTERVAL_MS)).toFixed(2),
      targetMs: budget,
      overTargetMs: Math.round(med - budget),
      queriesPerRegionHourPerMetric: Math.round((queries / analysisMs) * 3_600_000),
    };
  } finally {
    await load.stop();
    await prom.stop();
    await demo.stop();
  }
}
