import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Histogram, Registry } from 'prom-client';
import { openFlag, type FlagReader, type FlagSource } from './flag';
import { isShadowHost, SERVED_BY_HEADER, SHADOW_HOST_SUFFIX } from './headers';

export interface Behaviour {
  /** Share of requests answered 500, 0..1; spread evenly, not at random, so short runs read exactly. */
  errorRate: number;
  /** Time `GET /` takes, give or take 10%. */
  latencyMs: number;
  /**
   * Base URL of the service this version depends on, or null for none. With one, `GET /` also asks
   * `GET <upstream>/order` and answers 500 when that fails or its JSON has no numeric `total`.
   */
  upstream: string | null;
  /** Fields `GET /order` leaves out of its answer, e.g. `['total']`: a version that breaks its callers while answering 200. */
  dropFields: string[];
  /** Share of requests on the flag's new path answered 500, 0..1, spread evenly like `errorRate`; only for a version with a flag. */
  newPathErrorRate: number;
}

export interface DemoServiceOptions {
  versions: { version: string; port?: number; behaviour?: Partial<Behaviour>; flag?: FlagOption }[];
  host?: string;
  /** Adds a `service` label with this value to every series, so services scraped by one Prometheus are told apart; without it the series carry only `version` (and `code`). */
  service?: string;
}

/**
 * A flag the version reads for every request, with the request's user (header `x-user`, or
 * `?user=`) as the OpenFeature targeting key. Requests the flag puts on `newPathVariant` (default
 * "on") take the new code path, which fails at `newPathErrorRate`; every request counts in
 * `flag_path_total{flag,variant,path}` (path "new" or "current").
 */
export type FlagOption = Pick<FlagSource, 'file' | 'key'> & Partial<Pick<FlagSource, 'newPathVariant' | 'type'>>;

export interface RunningDemoService {
  versions: { version: string; url: string }[];
  set(version: string, behaviour: Partial<Behaviour>): Behaviour;
  close(): Promise<void>;
}

const DEFAULT_BEHAVIOUR: Behaviour = { errorRate: 0, latencyMs: 5, upstream: null, dropFields: [], newPathErrorRate: 0 };

/** Latency buckets fine enough that histogram_quantile lands near a configured latency. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5];

/** The field of the upstream's `GET /order` answer that `GET /` reads. */
export const UPSTREAM_FIELD = 'total';

/**
 * Serves each version on its own port, each with its own `/metrics`, so Prometheus scrapes them as
 * separate targets: `GET /` does the work, `GET /order` does the same work and answers an order as
 * JSON (`id`, `version`, `items`, `total`, `currency`, minus `dropFields`), `POST /control {version,
 * errorRate?, latencyMs?, upstream?, dropFields?, newPathErrorRate?}` changes a version's behaviour
 * (on any port; `upstream: null` removes it), `GET /control` shows them all. Both work routes count in `http_requests_total`
 * and `http_request_duration_seconds`; those whose Host has the `-shadow` suffix (Envoy's mirrored copies)
 * also count in `http_shadow_requests_total`; a version with a `flag` also counts in `flag_path_total`.
 * Every response carries `x-served-by: <version>`.
 */
export async function startDemoService(options: DemoServiceOptions): Promise<RunningDemoService> {
  const host = options.host ?? '127.0.0.1';
  const state = new Map<string, Entry>();
  for (const v of options.versions) {
    state.set(v.version, { behaviour: checked({ ...DEFAULT_BEHAVIOUR, ...v.behaviour }), errorDebt: 0, newPathDebt: 0 });
  }
  const set = (version: string, change: Partial<Behaviour>): Behaviour => {
    const entry = state.get(version);
    if (!entry) throw new Error(`unknown version "${version}" (serving: ${[...state.keys()].join(', ')})`);
    entry.behaviour = checked({ ...entry.behaviour, ...change });
    return entry.behaviour;
  };

  const servers: Server[] = [];
  const flags: FlagReader[] = [];
  const versions: RunningDemoService['versions'] = [];
  const close = async () => {
    await closeAll(servers);
    await Promise.all(flags.map((f) => f.close()));
  };
  try {
    for (const v of options.versions) {
      const flag = v.flag && (await openFlag({ newPathVariant: 'on', type: 'boolean', ...v.flag }, `${options.service ?? 'demo'}/${v.version}`));
      if (flag) flags.push(flag);
      const server = createServer(handler(v.version, options.service, state, set, flag));
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(v.port ?? 0, host, () => resolve());
      });
      versions.push({ version: v.version, url: `http://${host}:${(server.address() as AddressInfo).port}` });
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { versions, set, close };
}

type Entry = { behaviour: Behaviour; errorDebt: number; newPathDebt: number };
type Route = '/' | '/order';
interface Series {
  requests: Counter<string>;
  /** Requests whose Host marks a mirrored copy (`isShadowHost`), also counted in `requests`. */
  shadow: Counter<string>;
  duration: Histogram<string>;
  /** The labels every series of this version carries, before `code`. */
  labels: Record<string, string>;
  flag?: { reader: FlagReader; paths: Counter<string> };
}

function handler(
  version: string,
  service: string | undefined,
  state: Map<string, Entry>,
  set: (version: string, change: Partial<Behaviour>) => Behaviour,
  flag: FlagReader | undefined,
) {
  const registry = new Registry();
  const labels: Record<string, string> = service === undefined ? { version } : { service, version };
  const names = Object.keys(labels);
  const series: Series = {
    labels,
    requests: new Counter({ name: 'http_requests_total', help: 'Requests served', labelNames: [...names, 'code'], registers: [registry] }),
    shadow: new Counter({
      name: 'http_shadow_requests_total',
      help: `Mirrored requests served (Host with the ${SHADOW_HOST_SUFFIX} suffix), also counted in http_requests_total`,
      labelNames: [...names, 'code'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time to serve a request',
      labelNames: names,
      buckets: BUCKETS,
      registers: [registry],
    }),
  };
  // Both codes exist from the first scrape, so rate() sees the first errors too.
  for (const counter of [series.requests, series.shadow]) {
    counter.labels({ ...labels, code: '200' }).inc(0);
    counter.labels({ ...labels, code: '500' }).inc(0);
  }
  if (flag) {
    const paths = new Counter({
      name: 'flag_path_total',
      help: 'Requests by the variant of the flag they got and the code path that variant takes',
      labelNames: [...names, 'flag', 'variant', 'path'],
      registers: [registry],
    });
    // The new path's series exists from the first scrape, so rate() sees its first requests too.
    paths.labels({ ...labels, flag: flag.source.key, variant: flag.source.newPathVariant, path: 'new' }).inc(0);
    series.flag = { reader: flag, paths };
  }

  return (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    res.setHeader(SERVED_BY_HEADER, version);
    if (req.method === 'GET' && (path === '/' || path === '/order')) {
      const user = headerValue(req.headers['x-user']) ?? url.searchParams.get('user') ?? undefined;
      const shadow = isShadowHost(req.headers.host);
      return void work(version, path, state.get(version)!, series, res, { user, shadow });
    }
    if (req.method === 'GET' && path === '/metrics') {
      return void registry.metrics().then((text) => reply(res, 200, text, registry.contentType));
    }
    if (path === '/control' && req.method === 'GET') {
      return reply(res, 200, JSON.stringify(Object.fromEntries([...state].map(([v, s]) => [v, s.behaviour]))));
    }
    if (path === '/control' && req.method === 'POST') return void control(req, res, set);
    reply(res, 404, JSON.stringify({ error: `no route ${req.method} ${path}` }));
  };
}

async function work(
  version: string,
  route: Route,
  entry: Entry,
  series: Series,
  res: ServerResponse,
  { user, shadow }: { user: string | undefined; shadow: boolean },
): Promise<void> {
  const stop = series.duration.startTimer(series.labels);
  const { errorRate, latencyMs, upstream, dropFields, newPathErrorRate } = entry.behaviour;
  const flag = series.flag && { ...(await series.flag.reader.evaluate(user)), key: series.flag.reader.source.key };
  entry.errorDebt += errorRate;
  let fail = entry.errorDebt >= 1 - 1e-9;
  if (fail) entry.errorDebt -= 1;
  if (flag?.newPath) {
    entry.newPathDebt += newPathErrorRate;
    if (entry.newPathDebt >= 1 - 1e-9) {
      entry.newPathDebt -= 1;
      fail = true;
    }
  }
  if (flag) {
    series.flag!.paths.labels({ ...series.labels, flag: flag.key, variant: flag.variant, path: flag.newPath ? 'new' : 'current' }).inc();
  }
  await new Promise((resolve) => setTimeout(resolve, latencyMs * (0.9 + 0.2 * Math.random())));
  let code = fail ? 500 : 200;
  let body: Record<string, unknown> = { version, ok: !fail };
  if (!fail && upstream !== null) {
    const answer = await callUpstream(upstream);
    if ('error' in answer) {
      code = 500;
      body = { version, ok: false, error: answer.error };
    } else {
      body = { version, ok: true, [UPSTREAM_FIELD]: answer.value };
    }
  }
  if (code === 200 && route === '/order') body = order(version, dropFields);
  if (flag) body = { ...body, flag: { key: flag.key, variant: flag.variant, path: flag.newPath ? 'new' : 'current' } };
  series.requests.labels({ ...series.labels, code: String(code) }).inc();
  if (shadow) series.shadow.labels({ ...series.labels, code: String(code) }).inc();
  stop();
  reply(res, code, JSON.stringify(body));
}

function order(version: string, dropFields: string[]): Record<string, unknown> {
  const full: Record<string, unknown> = {
    id: 'order-1001',
    version,
    items: [{ sku: 'sku-1', quantity: 2, price: 12.5 }],
    total: 25,
    currency: 'EUR',
  };
  for (const field of dropFields) delete full[field];
  return full;
}

async function callUpstream(upstream: string): Promise<{ value: number } | { error: string }> {
  const url = new URL('/order', upstream);
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    const text = await res.text();
    if (!res.ok) return { error: `upstream ${url} answered ${res.status}` };
    const value = (JSON.parse(text) as Record<string, unknown>)[UPSTREAM_FIELD];
    if (typeof value !== 'number') return { error: `upstream ${url} answered without a numeric "${UPSTREAM_FIELD}"` };
    return { value };
  } catch (err) {
    return { error: `upstream ${url}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

async function control(req: IncomingMessage, res: ServerResponse, set: (version: string, change: Partial<Behaviour>) => Behaviour) {
  try {
    let text = '';
    for await (const chunk of req) text += chunk;
    const { version, ...change } = JSON.parse(text) as { version?: unknown } & Partial<Behaviour>;
    if (typeof version !== 'string') throw new Error('body needs "version"');
    reply(res, 200, JSON.stringify(set(version, pick(change))));
  } catch (err) {
    reply(res, 400, JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
  }
}

function pick(change: Partial<Behaviour>): Partial<Behaviour> {
  const out: Partial<Behaviour> = {};
  if (change.errorRate !== undefined) out.errorRate = change.errorRate;
  if (change.latencyMs !== undefined) out.latencyMs = change.latencyMs;
  if (change.upstream !== undefined) out.upstream = change.upstream;
  if (change.dropFields !== undefined) out.dropFields = change.dropFields;
  if (change.newPathErrorRate !== undefined) out.newPathErrorRate = change.newPathErrorRate;
  return out;
}

function checked(b: Behaviour): Behaviour {
  if (typeof b.errorRate !== 'number' || !(b.errorRate >= 0 && b.errorRate <= 1)) throw new Error(`errorRate must be between 0 and 1, got ${b.errorRate}`);
  if (typeof b.newPathErrorRate !== 'number' || !(b.newPathErrorRate >= 0 && b.newPathErrorRate <= 1)) {
    throw new Error(`newPathErrorRate must be between 0 and 1, got ${b.newPathErrorRate}`);
  }
  if (typeof b.latencyMs !== 'number' || !(b.latencyMs >= 0 && b.latencyMs <= 60_000)) throw new Error(`latencyMs must be between 0 and 60000, got ${b.latencyMs}`);
  if (b.upstream !== null && !isHttpUrl(b.upstream)) throw new Error(`upstream must be an http(s) base URL or null, got ${JSON.stringify(b.upstream)}`);
  if (!Array.isArray(b.dropFields) || !b.dropFields.every((f) => typeof f === 'string')) {
    throw new Error(`dropFields must be a list of field names, got ${JSON.stringify(b.dropFields)}`);
  }
  return { ...b, dropFields: [...b.dropFields] };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

function isHttpUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    return ['http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

function reply(res: ServerResponse, status: number, body: string, contentType = 'application/json'): void {
  res.writeHead(status, { 'content-type': contentType }).end(body);
}

async function closeAll(servers: Server[]): Promise<void> {
  await Promise.all(
    servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))),
  );
  for (const s of servers) s.closeAllConnections();
}
