import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptionCodec, parseKeyList } from '../../client/codec';
import { payloadFromJson, payloadToJson, startCodecServer, type RunningCodecServer } from '../../cli/codec-server';
import { ROOT } from '../support/processes';

const K1 = randomBytes(32).toString('base64');
const TOKEN = randomBytes(16).toString('hex');
const UI = 'http://127.0.0.1:8233';
const codec = new EncryptionCodec(parseKeyList(`k1:${K1}`));
const plainJson = (value: unknown) => payloadToJson(defaultPayloadConverter.toPayload(value)!);

let open: RunningCodecServer;
let guarded: RunningCodecServer;

beforeAll(async () => {
  open = await startCodecServer({ codec, port: 0, allowOrigins: [UI] });
  guarded = await startCodecServer({ codec, port: 0, allowOrigins: [UI], authToken: TOKEN, namespaces: ['default'] });
});

afterAll(async () => {
  await Promise.all([open?.close(), guarded?.close()]);
});

function post(server: RunningCodecServer, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('codec server', () => {
  it('encodes and decodes payloads in protobuf JSON, under any path prefix', async () => {
    const value = { image: 'registry.example/vault/ledger:opaque-build-7f3a9c' };
    const encoded = (await (await post(open, '/encode', { payloads: [plainJson(value)] })).json()) as { payloads: unknown[] };
    const sealed = payloadFromJson(encoded.payloads[0], 0);
    expect(Buffer.from(sealed.metadata!.encoding!).toString()).toBe('binary/encrypted');
    expect(Buffer.from(sealed.data!).includes(value.image)).toBe(false);

    const res = await post(open, '/default/decode', encoded);
    expect(res.status).toBe(200);
    const decoded = (await res.json()) as { payloads: unknown[] };
    expect(defaultPayloadConverter.fromPayload(payloadFromJson(decoded.payloads[0], 0))).toEqual(value);
  });

  it('passes plaintext payloads through decode as they are', async () => {
    const payload = plainJson('hello');
    const res = await post(open, '/decode', { payloads: [payload] });
    expect(await res.json()).toEqual({ payloads: [payload] });
  });

  it('answers a CORS preflight for the allowed origin, and only for it', async () => {
    const preflight = (origin: string) =>
      fetch(`${guarded.url}/decode`, { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'x-namespace,content-type' } });
    const ok = await preflight(UI);
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(UI);
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
    expect(ok.headers.get('access-control-allow-headers')).toBe('X-Namespace, Content-Type, Authorization');
    expect(ok.headers.get('access-control-allow-methods')).toContain('POST');
    const other = await preflight('http://evil.test');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('with a token refuses requests without it, and with a namespace list other namespaces', async () => {
    const body = { payloads: [plainJson(1)] };
    const none = await post(guarded, '/decode', body, { Origin: UI });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(none.headers.get('access-control-allow-origin')).toBe(UI);
    expect((await post(guarded, '/decode', body, { Authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await post(guarded, '/decode', body, { Authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    expect((await post(guarded, '/decode', body, { Authorization: `Bearer ${TOKEN}`, 'X-Namespace': 'payments' })).status).toBe(403);
  });

  it('answers malformed requests with 4xx and the reason, and a payload of an unknown key with 422 naming it', async () => {
    expect((await post(open, '/decode', 'not json')).status).toBe(400);
    expect((await post(open, '/decode', { payload: [] })).status).toBe(400);
    expect((await post(open, '/decode', { payloads: [{ data: '***' }] })).status).toBe(400);
    expect((await post(open, '/elsewhere', { payloads: [] })).status).toBe(404);
    expect((await fetch(`${open.url}/decode`)).status).toBe(405);

    const other = new EncryptionCodec(parseKeyList(`k9:${randomBytes(32).toString('base64')}`));
    const [sealed] = await other.encode([defaultPayloadConverter.toPayload('x')!]);
    const res = await post(open, '/decode', { payloads: [payloadToJson(sealed!)] });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: string }).error).toContain('"k9"');
  });
});

/** `meridian` in its own process with `env` as the codec variables (the test's own are left out). */
function meridian(env: Record<string, string>, ...args: string[]) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MERIDIAN_CODEC_') && !k.startsWith('TEMPORAL_')));
  const run = spawnSync(process.execPath, ['bin/meridian.js', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...base, ...env }, timeout: 60_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('meridian codec-server and the codec keys on the command line', () => {
  it('refuses to start without keys, with a bad key, or with a token variable that is empty, exit 2 naming what to set', () => {
    const none = meridian({}, 'codec-server');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('MERIDIAN_CODEC_KEYS');
    const short = meridian({ MERIDIAN_CODEC_KEYS: `k7:${randomBytes(31).toString('base64')}` }, 'codec-server');
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('"k7"');
    const noToken = meridian({ MERIDIAN_CODEC_KEYS: `k1:${K1}` }, 'codec-server', '--auth-token-env', 'CODEC_TOKEN_NOT_SET');
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('CODEC_TOKEN_NOT_SET');
  });

  it('refuses a taken port with exit 2', async () => {
    const squatter = createServer().listen(0, '127.0.0.1');
    await new Promise((done) => squatter.once('listening', done));
    try {
      const port = String((squatter.address() as { port: number }).port);
      const taken = meridian({ MERIDIAN_CODEC_KEYS: `k1:${K1}` }, 'codec-server', '--port', port);
      expect(taken.code).toBe(2);
      expect(taken.stderr).toContain('--port');
    } finally {
      squatter.close();
    }
  });

  it('a bad key stops a client command before it connects, with exit 2', () => {
    const r = meridian({ MERIDIAN_CODEC_KEY_FILE: '/nonexistent/keys' }, 'status', 'rollout/x/1', '--address', '127.0.0.1:1');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('MERIDIAN_CODEC_KEY_FILE');
  });
});
