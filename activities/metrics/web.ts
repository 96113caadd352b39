import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { formatDuration } from '../../domain/duration';
import type { MetricSpec, PrometheusProviderSpec, WebProviderSpec } from '../../domain/spec';
import type { MetricContext, MetricProvider } from './provider';
import { renderTemplate, templateValues } from './template';

export type Env = Record<string, string | undefined>;

export interface HttpGetOptions {
  headers?: Record<string, string>;
  timeoutMs: number;
  tls?: { caFile?: string; insecureSkipVerify: boolean };
}

const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** One GET; resolves with any HTTP status, rejects when nothing usable came back (refused, timed out, cut off). */
export function httpGet(url: URL, options: HttpGetOptions): Promise<{ status: number; body: string }> {
  const https = url.protocol === 'https:';
  const tlsOptions = https
    ? { ca: options.tls?.caFile ? readFileSync(options.tls.caFile) : undefined, rejectUnauthorized: !options.tls?.insecureSkipVerify }
    : {};
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(url, { method: 'GET', headers: options.headers, ...tlsOptions }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) req.destroy(new Error(`answer larger than ${MAX_BODY_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`timed out after ${formatDuration(options.timeoutMs)}`)), options.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => reject(new Error(describeNetworkError(err))));
    req.on('close', () => clearTimeout(timer));
    req.end();
  });
}

function describeNetworkError(err: NodeJS.ErrnoException): string {
  if (err.code === 'ECONNREFUSED') return 'connection refused';
  if (err.code === 'ENOTFOUND') return 'host not found';
  if (err.code === 'ECONNRESET') return 'connection reset';
  return err.message;
}

/** Authorization header from the variables the spec names; a named variable that is unset is an error. */
export function authHeaders(auth: PrometheusProviderSpec['auth'], env: Env): Record<string, string> {
  if (!auth) return {};
  const read = (name: string) => {
    const value = env[name];
    if (value === undefined || value === '') throw new Error(`environment variable ${name} (named in the provider's auth) is not set in the worker`);
    return value;
  };
  if ('bearerTokenEnv' in auth) return { authorization: `Bearer ${read(auth.bearerTokenEnv)}` };
  const basic = Buffer.from(`${read(auth.basicUserEnv)}:${read(auth.basicPasswordEnv)}`).toString('base64');
  return { authorization: `Basic ${basic}` };
}

/** Reads `$.a.b[0]['c d']`; undefined where the path leads nowhere. */
export function readJsonPath(document: unknown, path: string): unknown {
  if (!path.startsWith('$')) throw new Error(`JSON path "${path}" must start with $`);
  const segment = /\.([A-Za-z_$][\w$-]*)|\[(\d+)\]|\['([^']*)'\]|\["([^"]*)"\]/y;
  let value = document;
  segment.lastIndex = 1;
  while (segment.lastIndex < path.length) {
    const at = segment.lastIndex;
    const m = segment.exec(path);
    if (!m || m.index !== at) throw new Error(`JSON path "${path}" is malformed at "${path.slice(at)}"`);
    if (value === null || typeof value !== 'object') return undefined;
    const index = m[2];
    if (index !== undefined) value = Array.isArray(value) ? value[Number(index)] : undefined;
    else value = Array.isArray(value) ? undefined : (value as Record<string, unknown>)[m[1] ?? m[3] ?? m[4]!];
  }
  return value;
}

/** A JSON value as a metric: numbers and numeric strings count; null, missing or "NaN" is no data. */
export function toMetricValue(value: unknown, where: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    if (Number.isNaN(n)) {
      if (value.trim() === 'NaN') return undefined;
    } else return Number.isFinite(n) ? n : Math.sign(n) * Number.MAX_VALUE;
  }
  throw new Error(`${where} is ${JSON.stringify(value)}, not a number`);
}

export interface WebProviderOptions {
  /** Where the worker reads the secrets the spec names; the process environment by default. */
  env?: Env;
}

/** Any system with a JSON HTTP API: GET the templated URL, pick the value by JSON path. */
export function webProvider(options: WebProviderOptions = {}): MetricProvider {
  const env = options.env ?? process.env;
  return {
    type: 'web',
    query: (metric, ctx) => queryWeb(webSpec(metric), ctx, env),
  };
}

export async function queryWeb(spec: WebProviderSpec, ctx: MetricContext, env: Env = process.env): Promise<number | undefined> {
  const url = new URL(renderTemplate(spec.url, templateValues(ctx), encodeURIComponent));
  const fail = (why: string) => new Error(`web metric at ${url.href}: ${why}`);
  let answer: { status: number; body: string };
  const headers = { accept: 'application/json', ...authHeaders(spec.auth, env) };
  try {
    answer = await httpGet(url, { headers, timeoutMs: spec.timeout, tls: spec.tls });
  } catch (err) {
    throw fail(err instanceof Error ? err.message : String(err));
  }
  if (answer.status < 200 || answer.status >= 300) throw fail(`HTTP ${answer.status}: ${excerpt(answer.body, headers)}`);
  let document: unknown;
  try {
    document = JSON.parse(answer.body);
  } catch {
    throw fail(`the answer is not JSON: ${excerpt(answer.body, headers)}`);
  }
  try {
    return toMetricValue(readJsonPath(document, spec.jsonPath), spec.jsonPath);
  } catch (err) {
    throw fail(err instanceof Error ? err.message : String(err));
  }
}

function webSpec(metric: MetricSpec): WebProviderSpec {
  if (metric.provider.type !== 'web') throw new Error(`metric "${metric.name}" has provider type "${metric.provider.type}", not web`);
  return metric.provider;
}

/**
 * The start of an answer's body for an error message, with the credentials the request carried
 * cut out: a server that echoes its Authorization header must not put the secret into a verdict,
 * and through it into the workflow's history.
 */
export function excerpt(body: string, headers: Record<string, string> = {}): string {
  let flat = body.replace(/\s+/g, ' ').trim();
  for (const secret of credentialsIn(headers)) flat = flat.split(secret).join('[redacted]');
  return flat.length > 200 ? `${flat.slice(0, 200)}...` : flat || '(empty body)';
}

/** The secret parts of an authorization header: the token, or the basic credentials, encoded and decoded, and the password alone. */
function credentialsIn(headers: Record<string, string>): string[] {
  const value = headers.authorization;
  if (!value) return [];
  const [scheme, token = ''] = value.split(' ', 2);
  const out = [token];
  if (scheme === 'Basic') {
    const decoded = Buffer.from(token, 'base64').toString('utf8');
    out.push(decoded, decoded.slice(decoded.indexOf(':') + 1));
  }
  return out.filter((x) => x.length >= 4).sort((a, b) => b.length - a.length);
}
