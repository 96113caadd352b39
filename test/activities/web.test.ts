import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, SimulatedFleet } from '../../activities';
import type { MetricContext } from '../../activities/metrics/provider';
import { excerpt, queryWeb, readJsonPath, webProvider } from '../../activities/metrics/web';
import { metric as metricSchema, webProvider as webSchema, type MetricSpec, type WebProviderSpec } from '../../domain/spec';
import { tempFile } from '../support/temp-dir';
import { SECRETS } from '../support/secrets';

const ctx: MetricContext = { rolloutId: 'rollout/checkout/2.4.0', service: 'checkout', region: 'eu west/1', version: '2.4.0', role: 'canary' };

/** A tiny JSON API: `/metrics/<region>/<version>` answers with a latency; other paths misbehave on purpose. */
let server: Server;
let base: string;
const seen: { path: string; headers: IncomingHttpHeaders }[] = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', headers: req.headers });
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url?.startsWith('/metrics/')) {
      const [, , region, version] = req.url.split('/');
      return json(200, { data: { value: 0.013, region: decodeURIComponent(region!), version }, items: [{ latency: '187.5' }, { latency: null }] });
    }
    if (req.url === '/nan') return json(200, { value: 'NaN' });
    if (req.url === '/text') return json(200, { value: 'fast' });
    if (req.url === '/broken') return json(500, { error: 'database is down' });
    if (req.url === '/html') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
    if (req.url === '/secret') {
      return req.headers.authorization === `Bearer ${SECRETS.metricsToken}` ? json(200, { value: 7 }) : json(401, { error: 'unauthorized' });
    }
    // A careless server that echoes the credentials it was sent in its refusal.
    if (req.url === '/echo') return json(401, { error: 'unauthorized', sent: req.headers.authorization, decoded: Buffer.from((req.headers.authorization ?? '').split(' ')[1] ?? '', 'base64').toString() });
    if (req.url === '/hang') return;
    json(404, { error: 'no such thing' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const web = (path: string, jsonPath: string, extra: Record<string, unknown> = {}): WebProviderSpec =>
  webSchema.parse({ type: 'web', url: `${base}${path}`, jsonPath, ...extra });

describe('web provider', () => {
  it('renders the URL template with encoded values and picks the value by JSON path', async () => {
    expect(await queryWeb(web('/metrics/{{region}}/{{version}}', '$.data.value'), ctx)).toBe(0.013);
    expect(seen.at(-1)!.path).toBe('/metrics/eu%20west%2F1/2.4.0');
    expect(await queryWeb(web('/metrics/{{region}}/{{version}}', '$.items[0].latency'), ctx)).toBe(187.5);
    expect(await queryWeb(web('/metrics/{{region}}/{{version}}', "$['data']['value']"), ctx)).toBe(0.013);
  });

  it('treats null, a missing value and "NaN" as no data', async () => {
    expect(await queryWeb(web('/metrics/{{region}}/{{version}}', '$.items[1].latency'), ctx)).toBeUndefined();
    expect(await queryWeb(web('/metrics/{{region}}/{{version}}', '$.items[5].latency'), ctx)).toBeUndefined();
    expect(await queryWeb(web('/metrics/{{region}}/{{version}}', '$.data.missing.deeper'), ctx)).toBeUndefined();
    expect(await queryWeb(web('/nan', '$.value'), ctx)).toBeUndefined();
  });

  it('throws, naming the URL, when the value is not a number or the answer is not JSON', async () => {
    await expect(queryWeb(web('/text', '$.value'), ctx)).rejects.toThrow(`web metric at ${base}/text: $.value is "fast", not a number`);
    await expect(queryWeb(web('/metrics/{{region}}/{{version}}', '$.data'), ctx)).rejects.toThrow(/\$\.data is \{"value":0\.013,.*not a number/);
    await expect(queryWeb(web('/html', '$.value'), ctx)).rejects.toThrow(`web metric at ${base}/html: the answer is not JSON: <html>login</html>`);
  });

  it('throws when the system is down: HTTP error, timeout, connection refused', async () => {
    await expect(queryWeb(web('/broken', '$.value'), ctx)).rejects.toThrow(`web metric at ${base}/broken: HTTP 500: {"error":"database is down"}`);
    await expect(queryWeb(web('/hang', '$.value', { timeout: '250ms' }), ctx)).rejects.toThrow(`web metric at ${base}/hang: timed out after 250ms`);
    const closed = await closedPort();
    await expect(queryWeb(webSchema.parse({ type: 'web', url: `http://127.0.0.1:${closed}/x`, jsonPath: '$.v' }), ctx)).rejects.toThrow(
      `web metric at http://127.0.0.1:${closed}/x: connection refused`,
    );
  });

  it('sends the bearer token from the variable the spec names', async () => {
    const spec = web('/secret', '$.value', { auth: { bearerTokenEnv: 'METRICS_TOKEN' } });
    expect(await queryWeb(spec, ctx, { METRICS_TOKEN: SECRETS.metricsToken })).toBe(7);
    await expect(queryWeb(spec, ctx, { METRICS_TOKEN: SECRETS.wrongMetricsToken })).rejects.toThrow('HTTP 401');
    await expect(queryWeb(spec, ctx, {})).rejects.toThrow('environment variable METRICS_TOKEN');
    await expect(webProvider({ env: { METRICS_TOKEN: SECRETS.metricsToken } }).query(metric(spec), ctx)).resolves.toBe(7);
  });

  it('cuts the credentials out of an error when the server echoes them', async () => {
    const bearer = queryWeb(web('/echo', '$.value', { auth: { bearerTokenEnv: 'METRICS_TOKEN' } }), ctx, { METRICS_TOKEN: SECRETS.wrongMetricsToken });
    const refusal = await bearer.then(() => '', (err: Error) => err.message);
    expect(refusal).toContain('HTTP 401');
    expect(refusal).toContain('[redacted]');
    expect(refusal).not.toContain(SECRETS.wrongMetricsToken);
    // Prometheus's basic auth goes through the same excerpt.
    const basic = `Basic ${Buffer.from(`${SECRETS.metricsUser}:${SECRETS.metricsPassword}`).toString('base64')}`;
    const echoed = `denied: ${basic} = ${SECRETS.metricsUser}:${SECRETS.metricsPassword}; password ${SECRETS.metricsPassword}`;
    const message = excerpt(echoed, { authorization: basic });
    expect(message).toBe('denied: Basic [redacted] = [redacted]; password [redacted]');
    for (const leaked of [SECRETS.metricsPassword, Buffer.from(`${SECRETS.metricsUser}:${SECRETS.metricsPassword}`).toString('base64')]) expect(message).not.toContain(leaked);
  });

  it('reads JSON paths with names, indexes and quoted keys', () => {
    const doc = { a: { 'odd key': [1, { b: 2 }] } };
    expect(readJsonPath(doc, '$')).toBe(doc);
    expect(readJsonPath(doc, "$.a['odd key'][1].b")).toBe(2);
    expect(readJsonPath(doc, '$.a["odd key"][0]')).toBe(1);
    expect(readJsonPath(doc, '$.a[0]')).toBeUndefined();
    expect(() => readJsonPath(doc, '$.a..b')).toThrow('JSON path "$.a..b" is malformed at "..b"');
  });

  it('rejects a bad URL, JSON path or placeholder when the spec is validated', () => {
    const result = metricSchema.safeParse({ name: 'x', max: 1, provider: { type: 'web', url: 'ftp://h/{{cluster}}', jsonPath: 'data.value' } });
    expect(result.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([
      'provider.url: unknown placeholder {{cluster}} (known: region, service, version, namespace, role)',
      "provider.jsonPath: must be a JSON path like $.data.value or $.items[0]['p99']",
    ]);
  });
});

describe('the default provider registry', () => {
  it('knows prometheus and web, and preflight asks each Prometheus of a metric whether it is ready', async () => {
    const activities = createActivities({ fleet: new SimulatedFleet(tempFile('fleet.json', 'meridian-web-')) });
    const closed = await closedPort();
    const problems = await activities.preflight({
      rolloutId: 'rollout/checkout/2.4.0',
      service: 'checkout',
      image: 'checkout:2.4.0',
      regions: [{ name: 'eu-west-1', target: { kind: 'simulated' } }],
      metrics: [
        metric(web('/metrics/{{region}}/{{version}}', '$.data.value')),
        { ...metric(webSchema.parse({ type: 'web', url: 'http://127.0.0.1:1/', jsonPath: '$' })), name: 'other' },
        {
          name: 'errors',
          provider: { type: 'prometheus', address: `http://127.0.0.1:${closed}`, query: 'up', timeout: 2_000 },
        } as MetricSpec,
      ],
    });
    expect(problems).toEqual([
      { message: `metric "errors": provider "prometheus" is offline (prometheus at http://127.0.0.1:${closed} is not reachable: connection refused)` },
    ]);
  });
});

function metric(provider: WebProviderSpec): MetricSpec {
  return { name: 'latency', provider } as MetricSpec;
}

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
