import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Histogram, Registry } from 'prom-client';

export interface Behaviour {
  /** Share of requests answered 500, 0..1; spread evenly, not at random, so short runs read exactly. */
  errorRate: number;
  /** Time `GET /` takes, give or take 10%. */
  latencyMs: number;
}

export interface DemoServiceOptions {
  versions: { version: string; port?: number; behaviour?: Partial<Behaviour> }[];
  host?: string;
}

export interface RunningDemoService {
  versions: { version: string; url: string }[];
  set(version: string, behaviour: Partial<Behaviour>): Behaviour;
  close(): Promise<void>;
}

/** Latency buckets fine enough that histogram_quantile lands near a configured latency. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5];

/**
 * Serves each version on its own port, each with its own `/metrics`, so Prometheus scrapes them as
 * separate targets: `GET /` does the work, `POST /control {version, errorRate?, latencyMs?}` changes
 * a version's behaviour (on any port), `GET /control` shows them all.
 */
export async function startDemoService(options: DemoServiceOptions): Promise<RunningDemoService> {
  const host = options.host ?? '127.0.0.1';
  const state = new Map<string, { behaviour: Behaviour; errorDebt: number }>();
  for (const v of options.versions) {
    state.set(v.version, { behaviour: { errorRate: 0, latencyMs: 5, ...v.behaviour }, errorDebt: 0 });
  }
  const set = (version: string, change: Partial<Behaviour>): Behaviour => {
    const entry = state.get(version);
    if (!entry) throw new Error(`unknown version "${version}" (serving: ${[...state.keys()].join(', ')})`);
    entry.behaviour = checked({ ...entry.behaviour, ...change });
    return entry.behaviour;
  };

  const servers: Server[] = [];
  const versions: RunningDemoService['versions'] = [];
  try {
    for (const v of options.versions) {
      const server = createServer(handler(v.version, state, set));
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(v.port ?? 0, host, () => resolve());
      });
      versions.push({ version: v.version, url: `http://${host}:${(server.address() as AddressInfo).port}` });
    }
  } catch (err) {
    await closeAll(servers);
    throw err;
  }
  return { versions, set, close: () => closeAll(servers) };
}

function handler(
  version: string,
  state: Map<string, { behaviour: Behaviour; errorDebt: number }>,
  set: (version: string, change: Partial<Behaviour>) => Behaviour,
) {
  const registry = new Registry();
  const requests = new Counter({ name: 'http_requests_total', help: 'Requests served', labelNames: ['version', 'code'], registers: [registry] });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to serve a request',
    labelNames: ['version'],
    buckets: BUCKETS,
    registers: [registry],
  });
  // Both codes exist from the first scrape, so rate() sees the first errors too.
  requests.labels(version, '200').inc(0);
  requests.labels(version, '500').inc(0);

  return (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method === 'GET' && path === '/') return void work(version, state.get(version)!, requests, duration, res);
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
  entry: { behaviour: Behaviour; errorDebt: number },
  requests: Counter<'version' | 'code'>,
  duration: Histogram<'version'>,
  res: ServerResponse,
): Promise<void> {
  const stop = duration.startTimer({ version });
  const { errorRate, latencyMs } = entry.behaviour;
  entry.errorDebt += errorRate;
  const fail = entry.errorDebt >= 1 - 1e-9;
  if (fail) entry.errorDebt -= 1;
  await new Promise((resolve) => setTimeout(resolve, latencyMs * (0.9 + 0.2 * Math.random())));
  const code = fail ? 500 : 200;
  requests.labels(version, String(code)).inc();
  stop();
  reply(res, code, JSON.stringify({ version, ok: !fail }));
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
  return out;
}

function checked(b: Behaviour): Behaviour {
  if (typeof b.errorRate !== 'number' || !(b.errorRate >= 0 && b.errorRate <= 1)) throw new Error(`errorRate must be between 0 and 1, got ${b.errorRate}`);
  if (typeof b.latencyMs !== 'number' || !(b.latencyMs >= 0 && b.latencyMs <= 60_000)) throw new Error(`latencyMs must be between 0 and 60000, got ${b.latencyMs}`);
  return b;
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
