import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPrometheusReady, prometheusProvider, queryPrometheus, querySamples } from '../../activities/metrics/prometheus';
import type { MetricContext } from '../../activities/metrics/provider';
import { escapePromQLString, renderTemplate } from '../../activities/metrics/template';
import { metric as metricSchema, prometheusProvider as prometheusSchema, type PrometheusProviderSpec } from '../../domain/spec';
import { startDemoService, type DemoService } from '../support/demo-service';
import { startLoad, type Load } from '../support/load';
import { startPrometheus, type RunningPrometheus } from '../support/prometheus';
import { SECRETS } from '../support/secrets';

const STABLE = '2.3.1';
const CANARY = '2.4.0';
const ERROR_RATE =
  'sum(rate(http_requests_total{version="{{version}}",code=~"5.."}[15s])) / sum(rate(http_requests_total{version="{{version}}"}[15s]))';
const P99 = 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{version="{{version}}"}[15s])))';

const ctx = (version: string, role: MetricContext['role'] = 'canary'): MetricContext => ({
  rolloutId: 'rollout/checkout/2.4.0',
  service: 'checkout',
  region: 'eu-west-1',
  version,
  role,
});

let demo: DemoService;
let prom: RunningPrometheus;
let load: Load;
const spec = (query: string, extra: Record<string, unknown> = {}): PrometheusProviderSpec =>
  prometheusSchema.parse({ type: 'prometheus', address: prom.address, query, ...extra });

beforeAll(async () => {
  demo = await startDemoService([STABLE, CANARY]);
  await demo.control(STABLE, { errorRate: 0, latencyMs: 20 });
  await demo.control(CANARY, { errorRate: 0.05, latencyMs: 200 });
  prom = await startPrometheus([
    { url: demo.urls[STABLE]!, labels: { role: 'stable', region: 'eu-west-1' } },
    { url: demo.urls[CANARY]!, labels: { role: 'canary', region: 'eu-west-1' } },
  ]);
  await prom.waitForTargets();
  load = startLoad({ urls: [demo.urls[STABLE]!, demo.urls[CANARY]!], concurrency: 10, maxRequests: 50_000, maxDurationMs: 90_000 });
  // Six scrapes of steady traffic: enough for every rate() below.
  await new Promise((resolve) => setTimeout(resolve, 6_000));
});

afterAll(async () => {
  await load?.stop();
  await prom?.stop();
  await demo?.stop();
});

describe('templates', () => {
  it('renders every placeholder and escapes values for PromQL string literals', () => {
    const values = { region: 'eu"west\\1', service: 'checkout', version: '2.4.0', role: 'canary', namespace: 'shop\n' };
    const query = renderTemplate('x{r="{{region}}",s="{{ service }}",v="{{version}}",ro="{{role}}",n="{{namespace}}"}', values, escapePromQLString);
    expect(query).toBe('x{r="eu\\"west\\\\1",s="checkout",v="2.4.0",ro="canary",n="shop\\n"}');
  });

  it('rejects an unknown placeholder, and a known one without a value', () => {
    expect(() => renderTemplate('up{x="{{cluster}}"}', { region: 'a' }, escapePromQLString)).toThrow(
      'unknown placeholder {{cluster}} in "up{x="{{cluster}}"}" (known: region, service, version, namespace, role)',
    );
    expect(() => renderTemplate('up{ns="{{namespace}}"}', { region: 'a' }, escapePromQLString)).toThrow(
      'placeholder {{namespace}} in "up{ns="{{namespace}}"}" has no value here (give the region a "namespace" label)',
    );
  });

  it('rejects an unknown placeholder already when the spec is validated', () => {
    const result = metricSchema.safeParse({
      name: 'errors',
      max: 1,
      provider: { type: 'prometheus', address: 'http://127.0.0.1:9090', query: 'up{x="{{cluster}}"}' },
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([
      'provider.query: unknown placeholder {{cluster}} (known: region, service, version, namespace, role)',
    ]);
  });
});

describe('prometheus provider on a real Prometheus', () => {
  it('reads the configured error rate of each version', async () => {
    const canary = await queryPrometheus(spec(ERROR_RATE), ctx(CANARY));
    const stable = await queryPrometheus(spec(ERROR_RATE), ctx(STABLE, 'stable'));
    expect(canary).toBeGreaterThan(0.035);
    expect(canary).toBeLessThan(0.065);
    expect(stable).toBe(0);
  });

  it('reads p99 latency from the histogram near the configured latency', async () => {
    const canary = await queryPrometheus(spec(P99), ctx(CANARY));
    const stable = await queryPrometheus(spec(P99), ctx(STABLE, 'stable'));
    // At least the configured latency; above it by scheduling delays on a busy machine, within a bucket or two.
    expect(canary).toBeGreaterThanOrEqual(0.18);
    expect(canary).toBeLessThanOrEqual(0.4);
    expect(stable).toBeGreaterThanOrEqual(0.015);
    expect(stable).toBeLessThanOrEqual(0.1);
    expect(canary).toBeGreaterThan(2 * stable!);
  });

  it('selects by the target labels role and region', async () => {
    const byRole = 'sum(rate(http_requests_total{role="{{role}}",region="{{region}}",version="{{version}}"}[15s]))';
    expect(await queryPrometheus(spec(byRole), ctx(CANARY, 'canary'))).toBeGreaterThan(1);
    expect(await queryPrometheus(spec(byRole), ctx(CANARY, 'stable'))).toBeUndefined();
  });

  it('reduces a range query by max, avg and last', async () => {
    const range = (reduce: string) => spec(ERROR_RATE, { range: { window: '4s', step: '1s', reduce } });
    for (const reduce of ['max', 'avg', 'last']) {
      const value = await queryPrometheus(range(reduce), ctx(CANARY));
      expect(value, reduce).toBeGreaterThan(0.03);
      expect(value, reduce).toBeLessThan(0.07);
    }
    const samples = await querySamples(spec(ERROR_RATE), ctx(CANARY), { window: 4_000, step: 1_000 });
    expect(await queryPrometheus(range('max'), ctx(CANARY))).toBeCloseTo(Math.max(...samples), 2);
  });

  it('returns the sample sets of canary and stable from a range query', async () => {
    const p99 = spec('histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{version="{{version}}"}[3s])))', {
      range: { window: '5s', step: '1s' },
    });
    const canary = await querySamples(p99, ctx(CANARY));
    const stable = await querySamples(p99, ctx(STABLE, 'stable'));
    expect(canary.length).toBeGreaterThanOrEqual(5);
    expect(stable.length).toBeGreaterThanOrEqual(5);
    expect(Math.min(...canary)).toBeGreaterThan(Math.max(...stable));
  });

  it('reports no data as undefined: an empty result and NaN', async () => {
    expect(await queryPrometheus(spec(ERROR_RATE), ctx('9.9.9'))).toBeUndefined();
    expect(await queryPrometheus(spec('sum(http_requests_total{version="{{version}}"}) * 0 / 0'), ctx(CANARY))).toBeUndefined();
    expect(await querySamples(spec(ERROR_RATE, { range: { window: '5s' } }), ctx('9.9.9'))).toEqual([]);
  });

  it('keeps a value out of a label matcher even when it carries quotes', async () => {
    const injected = { ...ctx(CANARY), version: `${CANARY}"} or vector(42) or up{x="` };
    expect(await queryPrometheus(spec('sum(http_requests_total{version="{{version}}"})'), injected)).toBeUndefined();
  });

  it('throws on a query Prometheus rejects, and on one that is not aggregated', async () => {
    await expect(queryPrometheus(spec('sum(rate(http_requests_total[15s]'), ctx(CANARY))).rejects.toThrow(
      `prometheus at ${prom.address}, query sum(rate(http_requests_total[15s]: bad_data:`,
    );
    await expect(queryPrometheus(spec('http_requests_total{version="{{version}}"}'), ctx(CANARY))).rejects.toThrow(
      /returned 2 series .*; aggregate it to one/,
    );
  });

  it('resolves auth secrets from the named variables and fails clearly when one is unset', async () => {
    const withToken = spec(ERROR_RATE, { auth: { bearerTokenEnv: 'METRICS_TOKEN' } });
    expect(await queryPrometheus(withToken, ctx(CANARY), { env: { METRICS_TOKEN: SECRETS.metricsToken } })).toBeGreaterThan(0);
    await expect(queryPrometheus(withToken, ctx(CANARY), { env: {} })).rejects.toThrow(
      "environment variable METRICS_TOKEN (named in the provider's auth) is not set in the worker",
    );
  });

  it('is online while Prometheus is ready; the registry provider checks the metric it is given', async () => {
    expect(await isPrometheusReady(spec('up'))).toBe(true);
    const provider = prometheusProvider();
    expect(await provider.isOnline({ name: 'errors', max: 0.02, provider: spec('up') })).toBe(true);
  });
});

describe('prometheus provider when Prometheus misbehaves', () => {
  let server: Server;
  let address: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url?.startsWith('/api/v1/query?query=hang')) return;
      res.writeHead(503, { 'content-type': 'text/html' }).end('<html>upstream unavailable</html>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('throws when the query times out', async () => {
    const slow = prometheusSchema.parse({ type: 'prometheus', address, query: 'hang', timeout: '300ms' });
    const started = Date.now();
    await expect(queryPrometheus(slow, ctx(CANARY))).rejects.toThrow(`prometheus at ${address}, query hang: no answer: timed out after 300ms`);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('throws on an HTTP error that is not a Prometheus answer, and reports not ready', async () => {
    const broken = prometheusSchema.parse({ type: 'prometheus', address, query: 'up' });
    await expect(queryPrometheus(broken, ctx(CANARY))).rejects.toThrow(`prometheus at ${address}, query up: HTTP 503: <html>upstream unavailable</html>`);
    expect(await isPrometheusReady(broken)).toBe(false);
  });
});

describe('prometheus provider once Prometheus is stopped', () => {
  it('throws a provider-down error naming the address and the query', async () => {
    const errorRate = spec(ERROR_RATE);
    await prom.stop();
    const query = ERROR_RATE.replaceAll('{{version}}', CANARY);
    await expect(queryPrometheus(errorRate, ctx(CANARY))).rejects.toThrow(`prometheus at ${prom.address}, query ${query}: no answer: connection refused`);
    await expect(isPrometheusReady(errorRate)).rejects.toThrow(`prometheus at ${prom.address} is not reachable: connection refused`);
  });
});
