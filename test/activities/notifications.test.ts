import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNotificationActivities } from '../../activities/notifications/deliver';
import { verifySignature } from '../../activities/notifications/signature';
import { NOTIFICATION_HEADERS, type NotificationPayload, type NotificationPlan } from '../../domain/notifications';
import { FAILURE } from '../../domain/vocabulary';
import { freePort } from '../support/processes';

/** deliverNotification against a real HTTP receiver on a loopback port, one answer per path. */
const SECRET = 'receiver-secret';
const TOKEN_PATH = '/services/T000/B000/sekrit-token';

interface Seen {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}
const seen: Seen[] = [];
let server: Server;
let base: string;

const ANSWERS: Record<string, (res: ServerResponse) => void> = {
  '/ok': (res) => res.writeHead(204).end(),
  '/gone': (res) => res.writeHead(410, { 'content-type': 'text/plain' }).end('no such hook'),
  '/timeout': (res) => res.writeHead(408).end(),
  '/busy': (res) => res.writeHead(429, { 'retry-after': '3' }).end(),
  '/down': (res) => res.writeHead(503).end(),
  '/moved': (res) => res.writeHead(302, { location: '/ok' }).end(),
  '/slow': (res) => void setTimeout(() => res.writeHead(200).end(), 2_000),
  [TOKEN_PATH]: (res) => res.writeHead(404).end(),
};

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      (ANSWERS[req.url ?? ''] ?? ((r: ServerResponse) => r.writeHead(500).end()))(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const PAYLOAD: NotificationPayload = {
  id: 'rollout/checkout/2.4.0/started/1',
  event: 'started',
  rollout: 'rollout/checkout/2.4.0',
  service: 'checkout',
  version: '2.4.0',
  at: '2026-03-01T10:00:00.000Z',
  phase: 'Progressing',
  data: { image: 'x', regions: ['eu-west-1'], waves: 1 },
};

const receiver = (path: string, over: Partial<NotificationPlan> = {}): NotificationPlan => ({
  name: 'ops',
  url: `${base}${path}`,
  events: ['started'],
  format: 'json',
  secretEnv: 'HOOK_SECRET',
  ...over,
});

const { deliverNotification } = createNotificationActivities({ env: { HOOK_SECRET: SECRET }, timeoutMs: 500 });

async function failure(path: string, over: Partial<NotificationPlan> = {}): Promise<ApplicationFailure> {
  const err = await deliverNotification({ notification: receiver(path, over), payload: PAYLOAD }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

describe('deliverNotification', () => {
  it('POSTs the JSON payload with its event, delivery key and a signature the receiver verifies', async () => {
    expect(await deliverNotification({ notification: receiver('/ok'), payload: PAYLOAD })).toEqual({ status: 204 });
    const got = seen.at(-1)!;
    expect(JSON.parse(got.body)).toEqual(PAYLOAD);
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers[NOTIFICATION_HEADERS.event.toLowerCase()]).toBe('started');
    expect(got.headers[NOTIFICATION_HEADERS.delivery.toLowerCase()]).toBe(PAYLOAD.id);
    const signature = got.headers[NOTIFICATION_HEADERS.signature.toLowerCase()] as string;
    expect(verifySignature(got.body, signature, SECRET)).toBe(true);
  });

  it('sends the Slack format with the same delivery key, unsigned without a secret', async () => {
    await deliverNotification({ notification: receiver('/ok', { format: 'slack', secretEnv: undefined }), payload: PAYLOAD });
    const got = seen.at(-1)!;
    expect(Object.keys(JSON.parse(got.body))).toEqual(['text', 'blocks']);
    expect(got.headers[NOTIFICATION_HEADERS.delivery.toLowerCase()]).toBe(PAYLOAD.id);
    expect(got.headers[NOTIFICATION_HEADERS.signature.toLowerCase()]).toBeUndefined();
  });

  it.each([
    ['a 4xx', '/gone', 410],
    ['a redirect, which it does not follow', '/moved', 302],
  ])('takes %s as final: non-retryable', async (_what, path, status) => {
    const before = seen.length;
    const err = await failure(path);
    expect({ type: err.type, nonRetryable: err.nonRetryable }).toEqual({ type: FAILURE.notificationRejected, nonRetryable: true });
    expect(err.message).toContain(String(status));
    expect(seen.slice(before).map((s) => s.path), 'one request, no redirect followed').toEqual([path]);
  });

  it.each([
    ['a 408', '/timeout'],
    ['a 429', '/busy'],
    ['a 5xx', '/down'],
    ['no answer in time', '/slow'],
  ])('retries after %s', async (_what, path) => {
    const err = await failure(path);
    expect({ type: err.type, nonRetryable: err.nonRetryable }).toEqual({ type: FAILURE.notificationUndelivered, nonRetryable: false });
  });

  it("honours a 429's Retry-After", async () => {
    expect((await failure('/busy')).nextRetryDelay).toBe(3_000);
  });

  it('retries when nothing listens', async () => {
    const err = await failure('/ok', { url: `http://127.0.0.1:${await freePort()}/hook` });
    expect({ type: err.type, nonRetryable: err.nonRetryable }).toEqual({ type: FAILURE.notificationUndelivered, nonRetryable: false });
    expect(err.message).toContain('connection refused');
  });

  it('fails for good, naming the variable, when the worker lacks the secret; nothing is sent', async () => {
    const before = seen.length;
    const err = await failure('/ok', { secretEnv: 'UNSET_HOOK_SECRET' });
    expect({ type: err.type, nonRetryable: err.nonRetryable }).toEqual({ type: FAILURE.notificationMisconfigured, nonRetryable: true });
    expect(err.message).toContain('UNSET_HOOK_SECRET');
    expect(seen.length).toBe(before);
  });

  it("keeps the URL's path, which may hold a token, out of its errors", async () => {
    const err = await failure(TOKEN_PATH);
    expect(err.message).not.toContain('sekrit-token');
    expect(err.message).toContain(base);
  });
});
