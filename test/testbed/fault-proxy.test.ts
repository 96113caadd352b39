import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createServer, request, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientFor, KubeError, type KubeClient } from '../../activities/kubernetes/client';
import { generatePki, type ClusterPki } from '../../testbed/certs';
import { requestAttributes } from '../../lib/kube-request';
import { FAULT_KINDS, startFaultProxy, type FaultProxy, type FaultProxyOptions } from '../../testbed/fault-proxy';
import { writeKubeconfig } from '../../testbed/kubeconfig';
import { tempDir } from '../support/temp-dir';

/**
 * The proxy against a real TLS upstream that, like a kube-apiserver, accepts only client
 * certificates its CA signed, with the test bed's own certificates; Meridian's Kubernetes client
 * talks to it through a kubeconfig.
 */
let dir: string;
let pki: ClusterPki;
let upstream: Server;
let upstreamUrl: string;
const seen: { method: string; url: string; user: string }[] = [];
const proxies: FaultProxy[] = [];

beforeAll(async () => {
  dir = tempDir('meridian-fault-proxy-');
  pki = await generatePki(join(dir, 'pki'), 'proxy-test');
  upstream = createServer({ cert: readFileSync(pki.apiserver.cert), key: readFileSync(pki.apiserver.key), ca: readFileSync(pki.ca.cert), requestCert: true, rejectUnauthorized: true }, (req: IncomingMessage, res) => {
    const cn = (req.socket as TLSSocket).getPeerCertificate().subject?.CN ?? '';
    const user = Array.isArray(cn) ? cn.join(',') : cn;
    seen.push({ method: req.method!, url: req.url!, user });
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify({ kind: 'Echo', method: req.method, url: req.url, user });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(body);
    });
  });
  await new Promise<void>((resolve) => upstream.listen({ host: '127.0.0.1', port: 0 }, resolve));
  upstreamUrl = `https://127.0.0.1:${(upstream.address() as { port: number }).port}`;
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  upstream?.closeAllConnections();
  await new Promise((resolve) => upstream?.close(resolve));
});

async function proxy(over: Partial<FaultProxyOptions> = {}): Promise<FaultProxy> {
  const p = await startFaultProxy({
    upstream: upstreamUrl,
    upstreamCa: pki.ca.cert,
    clientCert: pki.admin.cert,
    clientKey: pki.admin.key,
    servingCert: pki.apiserver.cert,
    servingKey: pki.apiserver.key,
    ...over,
  });
  proxies.push(p);
  return p;
}

/** Meridian's client, through a kubeconfig whose context points at `url` and trusts the cluster CA. */
function kube(url: string): KubeClient {
  const path = join(tempDir('meridian-fault-proxy-kc-'), 'kubeconfig');
  writeKubeconfig(path, [{ context: 'proxied', cluster: 'proxied', server: url, caFile: pki.ca.cert, credentials: { certFile: pki.admin.cert, keyFile: pki.admin.key } }]);
  return clientFor({ kubeconfig: path, context: 'proxied' });
}

const DEPLOYMENT = '/apis/apps/v1/namespaces/shop/deployments/web';

const failure = (p: Promise<unknown>) => p.then(() => undefined, (err: unknown) => err as KubeError & { code?: string });

describe('the fault proxy', () => {
  it('passes requests to the API server with its own client certificate when no fault is drawn', async () => {
    const p = await proxy();
    const answer = await kube(p.url).request('GET', DEPLOYMENT);
    expect(answer).toMatchObject({ kind: 'Echo', method: 'GET', url: DEPLOYMENT, user: 'meridian-admin' });
    expect(p.stats()).toMatchObject({ requests: 1, forwarded: 1, denied: [] });
  });

  it.each([
    ['conflict', 409, 'Conflict'],
    ['throttle', 429, 'TooManyRequests'],
    ['serverError', 500, 'InternalError'],
    ['unavailable', 503, 'ServiceUnavailable'],
  ] as const)('answers %s with %i and a Status of reason %s, without reaching the API server', async (kind, status, reason) => {
    const p = await proxy({ shares: { [kind]: 1 } });
    const before = seen.length;
    const err = await failure(kube(p.url).request('PATCH', DEPLOYMENT, { body: {} }));
    expect(err).toBeInstanceOf(KubeError);
    expect({ status: err!.status, reason: err!.reason }).toEqual({ status, reason });
    expect(seen.length).toBe(before);
    expect(p.stats().faults[kind]).toBe(1);
  });

  it('sends Retry-After with a 429', async () => {
    const p = await proxy({ shares: { throttle: 1 }, retryAfterSeconds: 3 });
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(`${p.url}/version`, { ca: readFileSync(pki.ca.cert) }, resolve);
      req.on('error', reject);
      req.end();
    });
    res.resume();
    expect({ status: res.statusCode, retryAfter: res.headers['retry-after'] }).toEqual({ status: 429, retryAfter: '3' });
  });

  it('resets the connection', async () => {
    const p = await proxy({ shares: { reset: 1 } });
    const err = await failure(kube(p.url).request('GET', DEPLOYMENT));
    expect(err?.code).toBe('ECONNRESET');
    expect(p.stats().faults.reset).toBe(1);
  });

  it('delivers a delayed request to the API server but holds its answer past the client timeout', async () => {
    const p = await proxy({ shares: { delay: 1 }, delayMs: 2_000 });
    const before = seen.length;
    const err = await failure(kube(p.url).request('PUT', DEPLOYMENT, { body: {}, timeoutMs: 300 }));
    expect(err?.code).toBe('ETIMEDOUT');
    // The write took effect; only its answer was lost.
    expect(seen.slice(before).map((s) => s.method)).toEqual(['PUT']);
    expect(p.stats().faults.delay).toBe(1);
  });

  it('draws about the configured share of each fault, the same sequence for the same seed', async () => {
    const shares = { conflict: 0.1, throttle: 0.1, serverError: 0.05, unavailable: 0.05 };
    const run = async () => {
      const p = await proxy({ shares, seed: 7 });
      const c = kube(p.url);
      const outcomes: number[] = [];
      for (let i = 0; i < 400; i++) outcomes.push(await c.request('GET', '/version').then(() => 200, (e: KubeError) => e.status));
      return { outcomes, faults: p.stats().faults };
    };
    const [a, b] = [await run(), await run()];
    expect(a.outcomes).toEqual(b.outcomes);
    const counts = Object.fromEntries([200, 409, 429, 500, 503].map((s) => [s, a.outcomes.filter((o) => o === s).length]));
    expect(counts[409]).toBe(a.faults.conflict);
    expect(counts[409]).toBeGreaterThan(20);
    expect(counts[409]).toBeLessThan(65);
    expect(counts[500]).toBeGreaterThan(5);
    expect(counts[500]).toBeLessThan(40);
    expect(counts[200]).toBe(400 - FAULT_KINDS.reduce((sum, k) => sum + a.faults[k], 0));
  });

  it('denies only what the denial names, with the status and what was asked', async () => {
    const p = await proxy();
    const c = kube(p.url);
    p.deny({ status: 403, verbs: ['patch'], resource: 'deployments.apps' });
    const denied = await failure(c.request('PATCH', DEPLOYMENT, { body: {} }));
    expect({ status: denied!.status, reason: denied!.reason }).toEqual({ status: 403, reason: 'Forbidden' });
    expect(await c.request('GET', DEPLOYMENT)).toMatchObject({ method: 'GET' });
    p.lift();
    p.deny({ status: 401, namespace: 'other' });
    expect(await c.request('PATCH', DEPLOYMENT, { body: {} })).toMatchObject({ method: 'PATCH' });
    expect((await failure(c.request('GET', '/api/v1/namespaces/other/pods')))!.status).toBe(401);
    p.deny({ status: 401 });
    expect((await failure(c.request('GET', '/version')))!.status).toBe(401);
    p.lift();
    expect(await c.request('GET', '/version')).toMatchObject({ method: 'GET' });
    expect(p.stats().denied).toEqual([
      { status: 403, verb: 'patch', resource: 'deployments.apps', namespace: 'shop', name: 'web' },
      { status: 401, verb: 'list', resource: 'pods', namespace: 'other' },
      { status: 401, verb: 'get' },
    ]);
  });
});

describe('requestAttributes', () => {
  it.each([
    ['GET', '/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb', { verb: 'list', resource: 'pods', namespace: 'shop' }],
    ['GET', '/apis/apps/v1/namespaces/shop/deployments/web', { verb: 'get', resource: 'deployments.apps', namespace: 'shop', name: 'web' }],
    ['GET', '/apis/apps/v1/namespaces/shop/deployments?watch=true', { verb: 'watch', resource: 'deployments.apps', namespace: 'shop' }],
    ['PATCH', '/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/web', { verb: 'patch', resource: 'httproutes.gateway.networking.k8s.io', namespace: 'shop', name: 'web' }],
    ['POST', '/api/v1/namespaces', { verb: 'create', resource: 'namespaces' }],
    ['DELETE', '/api/v1/namespaces/shop/services/web-canary', { verb: 'delete', resource: 'services', namespace: 'shop', name: 'web-canary' }],
    ['PUT', '/apis/apps/v1/namespaces/shop/deployments/web', { verb: 'update', resource: 'deployments.apps', namespace: 'shop', name: 'web' }],
    ['GET', '/version', { verb: 'get' }],
  ])('%s %s', (method, url, expected) => {
    expect(requestAttributes(method, url)).toEqual(expected);
  });
});
