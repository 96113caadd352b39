import { statSync } from 'node:fs';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import { Agent as HttpAgent } from 'node:http';
import { request as httpRequest } from 'node:http';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { KubernetesTarget } from '../../domain/spec';
import { FAILURE, KUBE_FAILURE_PREFIX } from '../../domain/vocabulary';
import { requestAttributes, type RequestAttributes } from '../../lib/kube-request';

/** A failed API call: the HTTP status, the API server's own Status message, and the request it answered. */
export class KubeError extends Error {
  readonly status: number;
  readonly reason: string;
  /** What was asked: the verb and resource the API server's authorizer saw. */
  readonly request?: RequestAttributes;

  constructor(status: number, reason: string, message: string, request?: RequestAttributes) {
    super(message);
    this.status = status;
    this.reason = reason;
    this.request = request;
    this.name = 'KubeError';
  }
}

export interface RequestOpts {
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
  timeoutMs?: number;
}

/**
 * A thin JSON client for one kubeconfig context. It uses `@kubernetes/client-node` for kubeconfig
 * loading and authentication, and sends raw JSON so objects round-trip field for field: a template
 * read from the server and written back is byte-for-byte the same document.
 */
export class KubeClient {
  /** Keeps connections open between calls: a readiness wait polls, and a TLS handshake per call costs more than the call. */
  private readonly agent: HttpsAgent | HttpAgent;

  private readonly kc: KubeConfig;
  readonly context: string;
  readonly server: string;

  constructor(
    kc: KubeConfig,
    context: string,
    server: string,
  ) {
    this.kc = kc;
    this.context = context;
    this.server = server;
    this.agent = server.startsWith('https:') ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  }

  async request<T = Record<string, any>>(method: string, path: string, opts: RequestOpts = {}): Promise<T> {
    const url = new URL(this.server.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const options: RequestOptions = { method, headers: { Accept: 'application/json' } };
    await this.kc.applyToHTTPSOptions(options);
    options.agent = this.agent;
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    if (body !== undefined) {
      options.headers = { ...options.headers, 'Content-Type': opts.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(body) };
    }
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const timeoutMs = opts.timeoutMs ?? 15_000;
    return new Promise<T>((resolve, reject) => {
      const req = send(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          let parsed: any;
          try {
            parsed = text ? JSON.parse(text) : {};
          } catch {
            parsed = { message: text };
          }
          if (status >= 200 && status < 300) resolve(parsed as T);
          else reject(new KubeError(status, parsed?.reason ?? '', parsed?.message ?? `HTTP ${status}`, requestAttributes(method, path)));
        });
        res.on('error', reject);
      });
      req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no answer from ${this.server} within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }
}

/** `GET path`, or undefined when the object does not exist. */
export async function findObject<T = Record<string, any>>(client: KubeClient, path: string): Promise<T | undefined> {
  try {
    return await client.request<T>('GET', path);
  } catch (err) {
    if (err instanceof KubeError && err.status === 404) return undefined;
    throw err;
  }
}

const clients = new Map<string, { mtimeMs: number; client: KubeClient }>();

/** The kubeconfig file a target uses: its own, else $KUBECONFIG's first file, else ~/.kube/config. */
export function kubeconfigPath(target: Pick<KubernetesTarget, 'kubeconfig'>): string {
  const path = target.kubeconfig ?? process.env.KUBECONFIG?.split(delimiter).find(Boolean) ?? join(homedir(), '.kube', 'config');
  return path.startsWith('~/') ? join(homedir(), path.slice(2)) : path;
}

/** A client for the target's context, reloaded when the kubeconfig file changes. */
export function clientFor(target: Pick<KubernetesTarget, 'kubeconfig' | 'context'>): KubeClient {
  const path = kubeconfigPath(target);
  let mtimeMs: number;
  try {
    mtimeMs = statSync(path).mtimeMs;
  } catch {
    throw ApplicationFailure.nonRetryable(
      `kubeconfig ${path} does not exist on the worker; set target.kubeconfig or KUBECONFIG for the worker`,
      FAILURE.kubeconfigMissing,
    );
  }
  const key = `${path}\u0000${target.context}`;
  const cached = clients.get(key);
  if (cached && cached.mtimeMs === mtimeMs) return cached.client;
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  const ctx = kc.getContextObject(target.context);
  if (!ctx) {
    const known = kc.getContexts().map((c) => c.name).join(', ') || 'none';
    throw ApplicationFailure.nonRetryable(`context "${target.context}" is not in kubeconfig ${path} (contexts: ${known})`, FAILURE.kubeContextMissing);
  }
  kc.setCurrentContext(target.context);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw ApplicationFailure.nonRetryable(`context "${target.context}" in ${path} names no cluster`, FAILURE.kubeContextMissing);
  const client = new KubeClient(kc, target.context, cluster.server);
  clients.set(key, { mtimeMs, client });
  return client;
}

const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH']);

/** What an operator should do about a non-retryable status. */
const HINTS: Record<number, string> = {
  400: 'the request was malformed; check the target in the spec',
  401: "the context's credentials were rejected; refresh the worker's kubeconfig",
  403: "grant the worker's identity Meridian's Role (deploy/kubernetes/rbac.yaml) in this namespace",
  404: 'check the namespace and name in the spec',
  422: 'the API server rejected the object; fix the field it names',
};

/** What a non-retryable Kubernetes failure carries as its details, so callers read data rather than the message. */
export interface KubeFailureDetails {
  region: string;
  context: string;
  namespace: string;
  /** Meridian's own name for the call: `apply Deployment shop/web-canary`. */
  call: string;
  /** The HTTP status; 0 when the call failed before an answer. */
  status: number;
  reason?: string;
  /** The Kubernetes verb and resource the API server refused: `patch`, `deployments.apps`. */
  verb?: string;
  resource?: string;
  name?: string;
}

/**
 * A call that must not be tried again: its message names the region, context, namespace, the verb
 * and resource refused, and what to do; its details carry the same as data.
 */
function refused(site: CallSite, err: unknown): ApplicationFailure {
  const kube = err instanceof KubeError ? err : undefined;
  const status = kube?.status ?? 0;
  const asked = kube?.request?.resource ? `${kube.request.verb} ${kube.request.resource}${kube.request.name ? ` "${kube.request.name}"` : ''}` : undefined;
  const answer = status ? `${status} ${kube!.reason || ''}: ` : '';
  const message = `${describeCall(site)}: ${asked ? `the API server refused ${asked}: ` : ''}${answer}${(err as Error).message}`.replace(/\s+/g, ' ');
  const hint = HINTS[status];
  const details: KubeFailureDetails = {
    region: site.region,
    context: site.target.context,
    namespace: site.target.namespace,
    call: site.what,
    status,
    ...(kube?.reason ? { reason: kube.reason } : {}),
    ...(kube?.request ? { verb: kube.request.verb, resource: kube.request.resource, name: kube.request.name } : {}),
  };
  return ApplicationFailure.create({ message: hint ? `${message} — ${hint}` : message, type: `${KUBE_FAILURE_PREFIX}${status || 'Error'}`, nonRetryable: true, details: [details] });
}

export interface CallSite {
  region: string;
  target: Pick<KubernetesTarget, 'context' | 'namespace'>;
  /** `patch Deployment web`. */
  what: string;
}

export function describeCall(site: CallSite): string {
  return `${site.region} (context ${site.target.context}, namespace ${site.target.namespace}): ${site.what}`;
}

/** A 409 other than AlreadyExists (someone wrote in between: read again), a 429, a 5xx, or a network error or timeout. */
export function isRetryable(err: unknown): boolean {
  const status = err instanceof KubeError ? err.status : 0;
  const code = (err as { code?: string }).code ?? '';
  return (status === 409 && (err as KubeError).reason !== 'AlreadyExists') || status === 429 || status >= 500 || TRANSIENT_CODES.has(code);
}

/**
 * Runs `fn` up to `attempts` times while it fails retryably: a 409 again at once (`fn` reads afresh
 * each time), 429, 5xx and network errors after an exponential backoff. Any other error, or the
 * last retryable one, is thrown as it came.
 */
export async function retryTransient<T>(fn: () => Promise<T>, attempts = 6): Promise<T> {
  let delay = 200;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ApplicationFailure || !isRetryable(err) || attempt >= attempts) throw err;
      if ((err as KubeError).status !== 409) {
        await sleep(delay);
        delay = Math.min(delay * 2, 5_000);
      }
    }
  }
}

/**
 * Runs `fn` with Kubernetes' retry rules (retryTransient); 400, 401, 403, 404 and 422 fail the
 * activity for good with a message and details naming the region, context, namespace, verb and
 * resource. Anything still failing after the attempts is thrown retryable, for the activity's own retries.
 */
export async function withKubeRetries<T>(site: CallSite, fn: () => Promise<T>, attempts = 6): Promise<T> {
  try {
    return await retryTransient(fn, attempts);
  } catch (err) {
    if (err instanceof ApplicationFailure) throw err;
    if (!isRetryable(err)) throw refused(site, err);
    throw new Error(`${describeCall(site)}: ${(err as Error).message} (gave up after ${attempts} tries)`);
  }
}
