import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent, createServer, request, type Server } from 'node:https';
import type { Socket } from 'node:net';
import { requestAttributes, type RequestAttributes } from '../lib/kube-request';

/** What the proxy does instead of passing a request through. */
export const FAULT_KINDS = ['conflict', 'throttle', 'serverError', 'unavailable', 'delay', 'reset'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The share of requests (0 to 1) each kind takes; together at most 1. */
export type FaultShares = Partial<Record<FaultKind, number>>;

/**
 * Answer every request matching `verbs`, `resource` and `namespace` (any, where absent) with this
 * status, as an API server whose credentials or RBAC changed would.
 */
export interface Denial {
  status: 401 | 403;
  verbs?: string[];
  /** As RequestAttributes names it: `deployments.apps`. */
  resource?: string;
  namespace?: string;
}

export interface FaultProxyOptions {
  /** `https://127.0.0.1:<port>` of the real API server. */
  upstream: string;
  /** PEM files: the CA that signed the upstream's serving cert, and the client cert and key the proxy authenticates with. */
  upstreamCa: string;
  clientCert: string;
  clientKey: string;
  /** PEM files the proxy serves TLS with; the API server's own pair keeps kubeconfigs that trust the cluster CA valid. */
  servingCert: string;
  servingKey: string;
  shares?: FaultShares;
  /** How long a `delay` holds the API server's answer before sending it: longer than the client's timeout, so the answer is lost. */
  delayMs?: number;
  /** The Retry-After a 429 carries, in seconds. */
  retryAfterSeconds?: number;
  /** Seeds the draw of faults, so a run can be repeated. */
  seed?: number;
  port?: number;
}

export interface ProxyStats {
  requests: number;
  forwarded: number;
  faults: Record<FaultKind, number>;
  /** Every request a Denial answered, in order. */
  denied: (RequestAttributes & { status: number })[];
}

export interface FaultProxy {
  url: string;
  port: number;
  stats(): ProxyStats;
  /** Replaces the shares; `{}` passes every request through. */
  setShares(shares: FaultShares): void;
  /** Starts answering matching requests with 401 or 403; denials add up until lift() ends them. */
  deny(denial: Denial): void;
  /** Ends the denials, those of `namespace` only when given. */
  lift(namespace?: string): void;
  close(): Promise<void>;
}

const STATUS: Record<Exclude<FaultKind, 'delay' | 'reset'>, { code: number; reason: string; message: (a: RequestAttributes) => string }> = {
  conflict: {
    code: 409,
    reason: 'Conflict',
    message: (a) => `Operation cannot be fulfilled on ${a.resource ?? 'the object'} "${a.name ?? ''}": the object has been modified; please apply your changes to the latest version and try again`,
  },
  throttle: { code: 429, reason: 'TooManyRequests', message: () => 'the server has received too many requests and has asked us to try again later' },
  serverError: { code: 500, reason: 'InternalError', message: () => 'Internal error occurred: etcdserver: request timed out' },
  unavailable: { code: 503, reason: 'ServiceUnavailable', message: () => 'the server is currently unable to handle the request' },
};

const DENIAL_REASON = { 401: 'Unauthorized', 403: 'Forbidden' } as const;

/**
 * A TLS proxy in front of one kube-apiserver that answers a share of requests with 409, 429 (with
 * Retry-After), 500 and 503, holds some answers past the client's timeout, resets some
 * connections, and on demand denies requests with 401 or 403. Everything else goes to the API
 * server with the proxy's own client credentials.
 */
export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const upstream = new URL(opts.upstream);
  const agent = new Agent({ keepAlive: true, ca: readFileSync(opts.upstreamCa), cert: readFileSync(opts.clientCert), key: readFileSync(opts.clientKey) });
  const draw = random(opts.seed ?? 1);
  let shares = checkedShares(opts.shares ?? {});
  let denials: Denial[] = [];
  const stats: ProxyStats = { requests: 0, forwarded: 0, faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>, denied: [] };
  const held = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    stats.requests++;
    const attrs = requestAttributes(req.method ?? 'GET', req.url ?? '/');
    const denial = denials.find((d) => denies(d, attrs));
    if (denial) {
      stats.denied.push({ ...attrs, status: denial.status });
      return answerStatus(res, denial.status, DENIAL_REASON[denial.status], denialMessage(denial.status, attrs));
    }
    const fault = pick(shares, draw());
    if (fault) stats.faults[fault]++;
    if (fault === 'reset') return reset(req.socket);
    if (fault && fault !== 'delay') {
      const s = STATUS[fault];
      const headers: Record<string, string> = fault === 'throttle' ? { 'Retry-After': String(opts.retryAfterSeconds ?? 1) } : {};
      return answerStatus(res, s.code, s.reason, s.message(attrs), headers);
    }
    stats.forwarded++;
    forward(req, res, { upstream, agent, holdMs: fault === 'delay' ? (opts.delayMs ?? 16_000) : 0, held });
  };

  const server = createServer({ cert: readFileSync(opts.servingCert), key: readFileSync(opts.servingKey), keepAlive: true }, handle);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const port = await listen(server, opts.port ?? 0);
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    stats: () => structuredClone(stats),
    setShares: (next) => void (shares = checkedShares(next)),
    deny: (next) => void denials.push({ ...next }),
    lift: (namespace) => void (denials = namespace === undefined ? [] : denials.filter((d) => d.namespace !== namespace)),
    close: async () => {
      for (const t of held) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

/** Sends the request to the API server; the answer goes back after `holdMs`, when the client may have given up on it. */
function forward(req: IncomingMessage, res: ServerResponse, ctx: { upstream: URL; agent: Agent; holdMs: number; held: Set<NodeJS.Timeout> }): void {
  const headers = { ...req.headers, host: ctx.upstream.host };
  const out = request({ protocol: 'https:', hostname: ctx.upstream.hostname, port: ctx.upstream.port, path: req.url, method: req.method, headers, agent: ctx.agent }, (up) => {
    const chunks: Buffer[] = [];
    up.on('data', (c: Buffer) => chunks.push(c));
    up.on('end', () => {
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(up.statusCode ?? 502, up.headers);
        res.end(Buffer.concat(chunks));
      };
      if (ctx.holdMs <= 0) return send();
      const timer = setTimeout(() => {
        ctx.held.delete(timer);
        send();
      }, ctx.holdMs);
      ctx.held.add(timer);
    });
  });
  out.on('error', (err) => {
    if (!res.headersSent && !res.destroyed) answerStatus(res, 502, 'BadGateway', `fault proxy: the API server did not answer: ${err.message}`);
  });
  req.pipe(out);
}

/** A TCP reset under the TLS session where the runtime allows it, else an abrupt close: either way the client sees ECONNRESET. */
function reset(socket: Socket): void {
  const raw = (socket as Socket & { _parent?: Socket })._parent;
  try {
    if (raw) return void raw.resetAndDestroy();
  } catch {}
  socket.destroy();
}

function answerStatus(res: ServerResponse, code: number, reason: string, message: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function denialMessage(status: 401 | 403, a: RequestAttributes): string {
  if (status === 401) return 'Unauthorized';
  const what = a.resource ? `${a.resource}${a.name ? ` "${a.name}"` : ''} is forbidden` : `forbidden`;
  const where = a.namespace ? ` in the namespace "${a.namespace}"` : '';
  return `${what}: User "meridian-admin" cannot ${a.verb} resource "${a.resource ?? ''}"${where}`;
}

function denies(d: Denial, a: RequestAttributes): boolean {
  return (!d.verbs || d.verbs.includes(a.verb)) && (!d.resource || d.resource === a.resource) && (!d.namespace || d.namespace === a.namespace);
}

function checkedShares(shares: FaultShares): FaultShares {
  const total = Object.values(shares).reduce((sum, s) => sum + (s ?? 0), 0);
  if (total > 1 || Object.values(shares).some((s) => s !== undefined && s < 0)) throw new Error(`fault shares must be at least 0 and add up to at most 1, got ${JSON.stringify(shares)}`);
  return { ...shares };
}

/** The fault a draw in [0, 1) falls on, the kinds laid end to end in FAULT_KINDS order; undefined to pass the request through. */
function pick(shares: FaultShares, x: number): FaultKind | undefined {
  let edge = 0;
  for (const kind of FAULT_KINDS) {
    edge += shares[kind] ?? 0;
    if (x < edge) return kind;
  }
  return undefined;
}

/** mulberry32: small, fast and good enough to spread faults; the same seed draws the same sequence. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port }, () => {
      const address = server.address();
      if (!address || typeof address === 'string') return reject(new Error('the fault proxy could not read its port'));
      resolve(address.port);
    });
  });
}
