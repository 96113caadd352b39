import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoService, type DemoService } from '../support/demo-service';
import { startLoad } from '../support/load';

const STABLE = 'stable';
const CANARY = 'canary';

let demo: DemoService;

beforeAll(async () => {
  demo = await startDemoService([STABLE, CANARY]);
  await Promise.all([STABLE, CANARY].map((v) => demo.control(v, { latencyMs: 1 })));
});

afterAll(async () => {
  await demo?.stop();
});

/** A GET with the Host header given, or the URL's own host with `-shadow` after the port when `shadow`. */
function get(url: string, opts: { shadow?: boolean; host?: string } = {}): Promise<{ status: number; servedBy: string | undefined }> {
  const target = new URL(url);
  const host = opts.host ?? (opts.shadow ? `${target.host}-shadow` : target.host);
  return new Promise((resolve, reject) => {
    const req = request(target, { method: 'GET', headers: { host } }, (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode!, servedBy: res.headers['x-served-by'] as string | undefined }));
    });
    req.once('error', reject);
    req.end();
  });
}

/** Every sample of `metric` on the version's `/metrics`, as `code -> value`. */
async function samples(version: string, metric: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${demo.urls[version]}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(new RegExp(`^${metric}\\{([^}]*)\\} (\\d+)$`, 'gm'))) {
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    expect(labels.version).toBe(version);
    out[labels.code!] = Number(m[2]);
  }
  return out;
}

describe('the demo service and shadow traffic', () => {
  it('has both shadow series at 0 before any request', async () => {
    for (const v of [STABLE, CANARY]) {
      expect(await samples(v, 'http_shadow_requests_total')).toEqual({ 200: 0, 500: 0 });
      expect(await samples(v, 'http_requests_total')).toEqual({ 200: 0, 500: 0 });
    }
  });

  it('counts requests whose Host has the -shadow suffix in http_shadow_requests_total, and every request in http_requests_total', async () => {
    const stable = demo.urls[STABLE]!;
    const canary = demo.urls[CANARY]!;
    for (let i = 0; i < 3; i++) expect(await get(`${stable}/`)).toEqual({ status: 200, servedBy: STABLE });
    for (let i = 0; i < 2; i++) expect(await get(`${stable}/`, { shadow: true })).toEqual({ status: 200, servedBy: STABLE });
    expect(await get(`${stable}/order`, { shadow: true })).toEqual({ status: 200, servedBy: STABLE });
    // Envoy 1.40 puts the suffix before the port.
    expect(await get(`${stable}/`, { host: `127.0.0.1-shadow:${new URL(stable).port}` })).toEqual({ status: 200, servedBy: STABLE });
    // "-shadow" elsewhere in the Host is not a shadow request.
    expect(await get(`${stable}/`, { host: 'checkout-shadow.internal:80' })).toEqual({ status: 200, servedBy: STABLE });

    await demo.control(CANARY, { errorRate: 1 });
    expect(await get(`${canary}/`, { shadow: true })).toEqual({ status: 500, servedBy: CANARY });
    expect(await get(`${canary}/`)).toEqual({ status: 500, servedBy: CANARY });
    await demo.control(CANARY, { errorRate: 0 });
    expect(await get(`${canary}/`, { shadow: true })).toEqual({ status: 200, servedBy: CANARY });

    expect(await samples(STABLE, 'http_requests_total')).toEqual({ 200: 8, 500: 0 });
    expect(await samples(STABLE, 'http_shadow_requests_total')).toEqual({ 200: 4, 500: 0 });
    expect(await samples(CANARY, 'http_requests_total')).toEqual({ 200: 1, 500: 2 });
    expect(await samples(CANARY, 'http_shadow_requests_total')).toEqual({ 200: 1, 500: 1 });
  });

  it('names the version in x-served-by on every response, not only the work routes', async () => {
    const stable = demo.urls[STABLE]!;
    expect(await get(`${stable}/metrics`, { shadow: true })).toEqual({ status: 200, servedBy: STABLE });
    expect(await get(`${stable}/control`)).toEqual({ status: 200, servedBy: STABLE });
    expect(await get(`${demo.urls[CANARY]}/nowhere`)).toEqual({ status: 404, servedBy: CANARY });
    expect(await samples(STABLE, 'http_shadow_requests_total')).toEqual({ 200: 4, 500: 0 });
  });

  it("startLoad counts answers by x-served-by and keeps each server's last answer time", async () => {
    const before = Date.now();
    const counted: Record<string, number> = {
      [STABLE]: (await samples(STABLE, 'http_requests_total'))[200]!,
      [CANARY]: (await samples(CANARY, 'http_requests_total'))[200]!,
    };
    const report = await startLoad({ urls: [demo.urls[STABLE]!, demo.urls[CANARY]!], concurrency: 4, maxRequests: 40, maxDurationMs: 15_000 }).done;
    const after = Date.now();
    expect(report).toMatchObject({ sent: 40, failed: 0, byStatus: { 200: 40 }, byServer: { [STABLE]: 20, [CANARY]: 20 } });
    expect(Object.keys(report.lastByServer).sort()).toEqual([CANARY, STABLE]);
    for (const v of [STABLE, CANARY]) {
      expect(report.lastByServer[v]).toBeGreaterThanOrEqual(before);
      expect(report.lastByServer[v]).toBeLessThanOrEqual(after);
      expect((await samples(v, 'http_requests_total'))[200]! - counted[v]!).toBe(report.byServer[v]);
    }
  });

  it("startLoad counts answers without x-served-by under ''", async () => {
    const bare: Server = createServer((_req, res) => res.writeHead(200).end('ok'));
    await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', () => resolve()));
    try {
      const url = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/`;
      const report = await startLoad({ urls: [url, demo.urls[STABLE]!], concurrency: 2, maxRequests: 6, maxDurationMs: 15_000 }).done;
      expect(report.byServer).toEqual({ '': 3, [STABLE]: 3 });
      expect(Object.keys(report.lastByServer).sort()).toEqual(['', STABLE]);
    } finally {
      bare.closeAllConnections();
      await new Promise((resolve) => bare.close(resolve));
    }
  });
});
