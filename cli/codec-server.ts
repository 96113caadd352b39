import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { PayloadDecryptError } from '../client/codec';

/**
 * Temporal's remote codec protocol over HTTP, for the Web UI and `temporal --codec-endpoint`:
 * POST …/encode and POST …/decode (only the last path segment counts, so the endpoints may sit
 * under a prefix such as /<namespace>/decode) take and answer `{"payloads": [...]}`, each payload
 * in protobuf JSON: `metadata` a map of base64 values, `data` base64.
 */

export const DEFAULT_CODEC_PORT = 8888;
export const DEFAULT_CODEC_HOST = '127.0.0.1';
/** The dev server's UI, as a browser names its origin either way. */
export const DEFAULT_ALLOW_ORIGINS = ['http://localhost:8233', 'http://127.0.0.1:8233'];
export const ALLOW_HEADERS = 'X-Namespace, Content-Type, Authorization';
/** Larger than any history batch the UI sends; the server's own payload limit is 2 MiB each. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

export interface CodecServerOptions {
  codec: PayloadCodec;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Origins whose pages may call the server (the UI's); `*` lets any. */
  allowOrigins?: string[];
  /** When set, every request but a CORS preflight needs `Authorization: Bearer <token>`. */
  authToken?: string;
  /** When set, only requests whose X-Namespace is one of these are served. */
  namespaces?: string[];
  /** One line for each refused or failed request. */
  log?: (line: string) => void;
}

export interface RunningCodecServer {
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

/** A request the server refuses; the status and a message for the caller. */
class Refusal extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function bytesOf(value: unknown, where: string): Uint8Array {
  if (typeof value !== 'string' || !BASE64.test(value)) throw new Refusal(400, `${where} must be a base64 string`);
  return new Uint8Array(Buffer.from(value, 'base64'));
}

export function payloadFromJson(json: unknown, i: number): Payload {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Refusal(400, `payloads[${i}] must be an object with "metadata" and "data"`);
  const { metadata, data } = json as { metadata?: unknown; data?: unknown };
  if (metadata !== undefined && metadata !== null && (typeof metadata !== 'object' || Array.isArray(metadata))) {
    throw new Refusal(400, `payloads[${i}].metadata must be an object of base64 strings`);
  }
  const entries = Object.entries((metadata ?? {}) as Record<string, unknown>).map(([k, v]) => [k, bytesOf(v, `payloads[${i}].metadata.${k}`)] as const);
  return { metadata: Object.fromEntries(entries), data: data === undefined || data === null ? new Uint8Array() : bytesOf(data, `payloads[${i}].data`) };
}

export function payloadToJson(payload: Payload): JsonPayload {
  const metadata = Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]));
  const out: JsonPayload = { metadata };
  if (payload.data?.length) out.data = Buffer.from(payload.data).toString('base64');
  return out;
}

function parsePayloads(body: string): Payload[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    throw new Refusal(400, `the body is not JSON (${(err as Error).message}); send {"payloads": [...]}`);
  }
  const payloads = (parsed as { payloads?: unknown } | null)?.payloads;
  if (!Array.isArray(payloads)) throw new Refusal(400, 'the body must be {"payloads": [...]}');
  return payloads.map(payloadFromJson);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Past the limit the rest is read and dropped, so the answer still reaches the caller.
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) reject(new Refusal(413, `the body is over ${MAX_BODY_BYTES / 1024 / 1024} MiB; send fewer payloads at a time`));
      else resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

/** Compares digests, so neither the token's length nor its bytes leak through timing. */
function sameToken(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function corsHeaders(req: IncomingMessage, allowOrigins: string[]): Record<string, string> {
  const origin = req.headers.origin;
  const headers: Record<string, string> = { Vary: 'Origin' };
  if (origin && (allowOrigins.includes(origin) || allowOrigins.includes('*'))) {
    Object.assign(headers, {
      'Access-Control-Allow-Origin': origin,
      'Access-Control-Allow-Credentials': 'true',
      'Access-Control-Allow-Headers': ALLOW_HEADERS,
      'Access-Control-Allow-Methods': 'POST, OPTIONS',
    });
  }
  return headers;
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body?: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { ...headers, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) });
  res.end(text);
}

type Operation = 'encode' | 'decode';

function operationOf(url: string | undefined): Operation | undefined {
  const last = new URL(url ?? '/', 'http://codec').pathname.replace(/\/+$/, '').split('/').pop();
  return last === 'encode' || last === 'decode' ? last : undefined;
}

function authorize(req: IncomingMessage, opts: CodecServerOptions): void {
  if (opts.authToken !== undefined) {
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (!m || !sameToken(m[1]!.trim(), opts.authToken)) throw new Refusal(401, 'this codec server needs "Authorization: Bearer <token>"');
  }
  const namespace = req.headers['x-namespace'];
  if (opts.namespaces && !(typeof namespace === 'string' && opts.namespaces.includes(namespace))) {
    throw new Refusal(403, `this codec server serves the namespaces ${opts.namespaces.join(', ')}; X-Namespace was ${typeof namespace === 'string' ? `"${namespace}"` : 'not sent'}`);
  }
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: CodecServerOptions): Promise<void> {
  const cors = corsHeaders(req, opts.allowOrigins ?? DEFAULT_ALLOW_ORIGINS);
  if (req.method === 'OPTIONS') return send(res, 204, { ...cors, 'Access-Control-Max-Age': '600' });
  const operation = operationOf(req.url);
  try {
    if (!operation) throw new Refusal(404, 'the codec endpoints are POST …/encode and POST …/decode');
    if (req.method !== 'POST') throw new Refusal(405, `${operation} takes POST`);
    authorize(req, opts);
    const payloads = parsePayloads(await readBody(req));
    const result = operation === 'encode' ? await opts.codec.encode(payloads) : await opts.codec.decode(payloads);
    send(res, 200, cors, { payloads: result.map(payloadToJson) });
  } catch (err) {
    const status = err instanceof Refusal ? err.status : err instanceof PayloadDecryptError ? 422 : 500;
    const message = err instanceof Error ? err.message : String(err);
    opts.log?.(`${req.method} ${req.url} (namespace ${req.headers['x-namespace'] ?? 'not sent'}): ${status} ${message}`);
    const extra: Record<string, string> = status === 401 ? { 'WWW-Authenticate': 'Bearer' } : status === 405 ? { Allow: 'POST, OPTIONS' } : {};
    send(res, status, { ...cors, ...extra }, { error: message });
  }
}

/** Listens until close(); resolves once it accepts connections. */
export async function startCodecServer(opts: CodecServerOptions): Promise<RunningCodecServer> {
  const host = opts.host ?? DEFAULT_CODEC_HOST;
  const server: Server = createServer((req, res) => {
    handle(req, res, opts).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, {}, { error: err instanceof Error ? err.message : String(err) });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? DEFAULT_CODEC_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}`,
    host,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
