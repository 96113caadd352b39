import { SimulatedFleet } from '../activities/fleet/index';
import { startLoad } from '../demo-service/load';
import { startPrometheus } from '../demo-service/prometheus';
import { startDemoService } from '../demo-service/server';
import { metricFaultApplies, parseFault, type MetricFault } from '../domain/faults';
import type { RolloutPlan } from '../domain/plan';
import type { MetricSpec } from '../domain/spec';
import { exportTool } from '../lib/tools';

const ROLES = ['stable', 'canary'] as const;
const ERROR_RATE =
  'sum(rate(http_requests_total{region="{{region}}",role="{{role}}",code=~"5.."}[3s])) / sum(rate(http_requests_total{region="{{region}}",role="{{role}}"}[3s]))';
const P99_MS =
  '1000 * histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{region="{{region}}",role="{{role}}"}[3s])))';

/** Which demo-service knob a simulated metric turns when a scripted fault fires. */
const KNOBS: Record<string, 'errorRate' | 'latencyMs'> = { error_rate: 'errorRate', latency_p99_ms: 'latencyMs' };
const HEALTHY = { errorRate: 0, latencyMs: 5 };

export interface DemoMetrics {
  plan: RolloutPlan;
  stop(): Promise<void>;
}

/**
 * The demo on real metrics, when a Prometheus binary is at hand: the demo service runs a stable and a
 * canary instance per region under a bounded load, Prometheus scrapes them every second, and the
 * demo's metrics become PromQL. A scripted metric fault turns the canary instance's own knob when the
 * fleet's weight makes it apply, so the breach Meridian sees is a real one.
 */
export async function startDemoMetrics(plan: RolloutPlan, fleetFile: string, log: (line: string) => void): Promise<DemoMetrics | undefined> {
  if (!exportTool('prometheus')) return undefined;
  const regions = Object.keys(plan.regions);
  const name = (region: string, role: string) => `${region}/${role}`;
  const service = await startDemoService({ versions: regions.flatMap((r) => ROLES.map((role) => ({ version: name(r, role) }))) });
  const urls = Object.fromEntries(service.versions.map((v) => [v.version, v.url]));
  const prom = await startPrometheus(regions.flatMap((region) => ROLES.map((role) => ({ url: urls[name(region, role)]!, labels: { region, role } }))));
  const load = startLoad({ urls: Object.values(urls), concurrency: 8, maxRequests: 5_000_000, maxDurationMs: 30 * 60_000 });
  log(`demo service: ${regions.length} regions x stable/canary, scraped every 1s by Prometheus at ${prom.address}`);

  const faults = (plan.simulation?.faults ?? []).map(parseFault).filter((f): f is MetricFault => !('error' in f) && f.kind === 'metric');
  const fleet = new SimulatedFleet(fleetFile);
  const watcher = setInterval(() => {
    for (const f of faults) {
      const knob = KNOBS[f.metric];
      const region = fleet.region(plan.service, f.region);
      if (!knob || !region || f.value === 'nodata') continue;
      const target = name(f.region, f.role ?? 'canary');
      const on = metricFaultApplies(f, region.weight);
      service.set(target, { [knob]: on ? f.value : HEALTHY[knob] });
    }
  }, 200);

  const prometheus = (query: string) => ({ type: 'prometheus' as const, address: prom.address, query, timeout: 5_000 });
  const metrics: Record<string, MetricSpec> = {};
  for (const [key, m] of Object.entries(plan.metrics)) {
    if (m.provider.type !== 'simulated') metrics[key] = m;
    else if (m.name === 'error_rate') metrics[key] = { ...m, provider: prometheus(ERROR_RATE) };
    else if (m.name === 'latency_p99_ms') metrics[key] = { ...m, provider: prometheus(P99_MS) };
    else metrics[key] = m;
  }
  await prom.waitForTargets();
  // Rates over 3s need a few scrapes of traffic before the first query.
  await new Promise((r) => setTimeout(r, 4_000));
  return {
    plan: { ...plan, metrics },
    async stop() {
      clearInterval(watcher);
      await load.stop();
      await prom.stop();
      await service.close();
    },
  };
}
