import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { decode } from '@temporalio/common/lib/internal-non-workflow';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseEnvVar } from '../../activities/postgres/connections';
import { RolloutClient } from '../../client/rollout-client';
import type { RolloutSpecInput } from '../../domain/spec';
import { validateSpec } from '../../domain/validate';
import { temporalExecutable } from '../../lib/binaries';
import { startPostgres, type RunningPostgres } from '../support/postgres';
import { startPrometheus, type RunningPrometheus } from '../support/prometheus';
import { ALL_SECRETS, basicCredentials, findSecrets, SECRETS, type Finding, type SecretSearch } from '../support/secrets';
import { auditDataOf, auditOf } from '../support/status';
import { tempDir } from '../support/temp-dir';
import { startUnleash, type RunningUnleash } from '../support/unleash';
import { endedHow, withRollout } from '../workflows/support';

/**
 * No secret the worker reads from its environment reaches a workflow history: not in the saved
 * histories the replay test keeps, and not in the histories of a rollout whose every provider
 * needs one (a web metric with a bearer token, Prometheus behind basic auth, a PostgreSQL role with
 * a password, Unleash with an admin token), whether it succeeds or its provider refuses the token.
 * Payloads are base64 in a history's JSON, so the search also looks at base64 and inside it.
 */

const HISTORIES = join(import.meta.dirname, '..', 'histories');
const REGION = 'eu-west-1';
const OLD = 'registry.test/shop/checkout:2.3.1';

/** What the spec names; only the worker's environment holds the values. */
const ENV = {
  token: 'MERIDIAN_E2E_SECRETS_METRICS_TOKEN',
  wrongToken: 'MERIDIAN_E2E_SECRETS_REFUSED_TOKEN',
  user: 'MERIDIAN_E2E_SECRETS_PROMETHEUS_USER',
  password: 'MERIDIAN_E2E_SECRETS_PROMETHEUS_PASSWORD',
  unleash: 'MERIDIAN_E2E_SECRETS_UNLEASH_TOKEN',
};
const DATABASE = 'secrets-metrics';
const DB_ROLE = 'meridian_reader';

function savedHistories(): { file: string; text: string }[] {
  return readdirSync(HISTORIES).flatMap((scenario) =>
    readdirSync(join(HISTORIES, scenario)).map((file) => ({ file: `${scenario}/${file}`, text: readFileSync(join(HISTORIES, scenario, file), 'utf8') })),
  );
}

/** A payload's `data` in a history's JSON, changed by `change` on its decoded JSON value. */
function plantInPayload(historyJson: string, change: (value: Record<string, unknown>) => void): string {
  const doc = JSON.parse(historyJson) as { events?: Record<string, unknown>[]; history?: { events: Record<string, unknown>[] } };
  const events = doc.history?.events ?? doc.events!;
  const started = events[0]!.workflowExecutionStartedEventAttributes as { input: { payloads: { data: string }[] } };
  const payload = started.input.payloads[0]!;
  const value = JSON.parse(Buffer.from(payload.data, 'base64').toString('utf8')) as Record<string, unknown>;
  change(value);
  payload.data = Buffer.from(JSON.stringify(value)).toString('base64');
  return JSON.stringify(doc);
}

const names = (findings: Finding[]) => [...new Set(findings.map((f) => `${f.secret} ${f.how}`))].sort();

describe('the secret search itself', () => {
  const saved = savedHistories()[0]!;

  it('finds a secret planted in a copy of a saved history: as text, and in a payload at every byte offset', () => {
    expect(findSecrets(saved.text)).toEqual([]);
    const raw = JSON.parse(saved.text) as { history: { events: Record<string, unknown>[] } };
    raw.history.events[0]!.note = `leaked ${SECRETS.databasePassword}`;
    expect(names(findSecrets(JSON.stringify(raw)))).toEqual(['databasePassword raw']);

    for (const prefix of ['', 'a', 'ab']) {
      const planted = plantInPayload(saved.text, (input) => (input.startedBy = `${prefix}${SECRETS.metricsToken}`));
      const found = findSecrets(planted);
      expect(names(found), `offset ${prefix.length}`).toEqual(['metricsToken base64', 'metricsToken decoded']);
      expect(found.find((f) => f.how === 'decoded')!.where).toBe('history.events[0].workflowExecutionStartedEventAttributes.input.payloads[0].data');
    }
  });

  it('finds a fresh Unleash token by its form, and the credentials of a Basic header', () => {
    for (const fresh of [`*:*.${'0a'.repeat(16)}`, `*:development.${'0a'.repeat(16)}`]) {
      const token = plantInPayload(saved.text, (input) => (input.startedBy = fresh));
      expect(names(findSecrets(token)), fresh).toEqual(['Unleash token decoded']);
    }
    const header = plantInPayload(saved.text, (input) => (input.startedBy = `Basic ${basicCredentials(SECRETS.metricsUser, SECRETS.metricsPassword)}`));
    expect(names(findSecrets(header))).toEqual(expect.arrayContaining(['basic credentials decoded', 'metricsPassword base64', 'metricsUser base64']));
  });

  it('finds a secret in a history file written to disk, the way the saved ones are read', () => {
    const file = join(tempDir('meridian-planted-'), 'planted.json');
    writeFileSync(file, plantInPayload(saved.text, (input) => (input.startedBy = SECRETS.unleashWrongToken)));
    expect(names(findSecrets(readFileSync(file, 'utf8')))).toEqual(['unleashWrongToken base64', 'unleashWrongToken decoded']);
  });
});

describe('saved histories', () => {
  it('hold no secret any test configures, in any form', () => {
    const saved = savedHistories();
    expect(saved.length).toBeGreaterThanOrEqual(100);
    const found = saved.flatMap(({ file, text }) => findSecrets(text).map((f) => `${file}: ${f.secret} (${f.how}) at ${f.where}`));
    expect(found).toEqual([]);
  });
});

// ---- a rollout whose providers all need a secret -------------------------------------------

let env: TestWorkflowEnvironment;
let postgres: RunningPostgres;
let prometheus: RunningPrometheus;
let unleash: RunningUnleash;
let api: Server;
let proxy: Server;
let apiUrl: string;
let proxyUrl: string;
/** Authorization headers the metrics API and the Prometheus proxy saw, and whether they let each in. */
const seen = { api: [] as { authorization?: string; ok: boolean }[], proxy: [] as { ok: boolean }[] };

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** A JSON metrics API that answers only the bearer token the worker should send. */
function metricsApi(req: IncomingMessage, res: ServerResponse): void {
  const ok = req.headers.authorization === `Bearer ${SECRETS.metricsToken}`;
  seen.api.push({ authorization: req.headers.authorization, ok });
  if (!ok) return json(res, 401, { error: 'unauthorized' });
  json(res, 200, { value: 0.004 });
}

/** Basic auth in front of a real Prometheus, as an authenticating reverse proxy puts it. */
async function prometheusProxy(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const ok = req.headers.authorization === `Basic ${basicCredentials(SECRETS.metricsUser, SECRETS.metricsPassword)}`;
  seen.proxy.push({ ok });
  if (!ok) return json(res, 401, { status: 'error', error: 'unauthorized' });
  const upstream = await fetch(prometheus.address + req.url);
  res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'text/plain' }).end(await upstream.text());
}

/** A login role with a password, which PostgreSQL checks (SCRAM) on every connection over TCP. */
async function passwordRole(): Promise<string> {
  const admin = new pg.Client({ connectionString: postgres.adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE ROLE ${DB_ROLE} LOGIN PASSWORD ${admin.escapeLiteral(SECRETS.databasePassword)}`);
    const { rows } = await admin.query<{ hba_file: string }>('SHOW hba_file');
    const hba = rows[0]!.hba_file;
    writeFileSync(hba, `host all ${DB_ROLE} 127.0.0.1/32 scram-sha-256\nhost all ${DB_ROLE} ::1/128 scram-sha-256\n${readFileSync(hba, 'utf8')}`);
    await admin.query('SELECT pg_reload_conf()');
  } finally {
    await admin.end();
  }
  return `postgres://${DB_ROLE}:${SECRETS.databasePassword}@127.0.0.1:${postgres.port}/${DATABASE}`;
}

async function connects(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

beforeAll(async () => {
  [env, postgres, prometheus, unleash] = await Promise.all([
    TestWorkflowEnvironment.createLocal({ server: { executable: temporalExecutable((line) => console.log(line)) } }),
    startPostgres({ databases: [DATABASE] }),
    startPrometheus([]),
    startUnleash({ regions: [REGION] }),
  ]);
  api = createServer(metricsApi);
  proxy = createServer((req, res) => void prometheusProxy(req, res).catch((err: Error) => json(res, 502, { error: err.message })));
  [apiUrl, proxyUrl] = await Promise.all([listen(api), listen(proxy)]);
  const databaseUrl = await passwordRole();
  process.env[ENV.token] = SECRETS.metricsToken;
  process.env[ENV.wrongToken] = SECRETS.wrongMetricsToken;
  process.env[ENV.user] = SECRETS.metricsUser;
  process.env[ENV.password] = SECRETS.metricsPassword;
  process.env[ENV.unleash] = unleash.adminToken;
  process.env[databaseEnvVar(DATABASE)] = databaseUrl;
}, 180_000);

afterAll(async () => {
  for (const name of [...Object.values(ENV), databaseEnvVar(DATABASE)]) delete process.env[name];
  for (const server of [api, proxy]) {
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  }
  await Promise.all([env?.teardown(), postgres?.stop(), prometheus?.stop(), unleash?.stop()]);
});

/** Everything the run knows as secret: the fixed values, and Unleash's tokens of this run. */
function thisRunsSecrets(): SecretSearch {
  return {
    values: [
      ...ALL_SECRETS.values,
      { name: 'Unleash admin token', value: unleash.adminToken },
      ...Object.entries(unleash.backendTokens).map(([e, value]) => ({ name: `Unleash ${e} token`, value })),
    ],
    patterns: ALL_SECRETS.patterns,
  };
}

/** A rollout in one region: a flag step on Unleash, then an analysis of a web metric, a Prometheus query and an SQL invariant. */
function planOf(flag: string, tokenEnv: string, analysis: Record<string, unknown> = {}) {
  const input: RolloutSpecInput = {
    service: 'checkout',
    version: `2.4.0-${Date.now()}`,
    image: `registry.test/shop/checkout@sha256:${'5'.repeat(64)}`,
    regions: [
      {
        name: REGION,
        target: { kind: 'simulated', initial: { image: OLD } },
        flags: { provider: { type: 'unleash', url: unleash.url, project: unleash.project, environment: unleash.environments[REGION]!, tokenEnv: ENV.unleash } },
      },
    ],
    waves: [{ name: 'only', regions: [REGION] }],
    metrics: [
      { name: 'error_rate', provider: { type: 'web', url: `${apiUrl}/error-rate/{{region}}/{{role}}`, jsonPath: '$.value', auth: { bearerTokenEnv: tokenEnv } }, max: 0.02 },
      { name: 'queue_depth', provider: { type: 'prometheus', address: proxyUrl, query: 'vector(3)', auth: { basicUserEnv: ENV.user, basicPasswordEnv: ENV.password } }, max: 10 },
      { name: 'stuck_orders', provider: { type: 'sql', database: DATABASE, query: 'SELECT 0' }, max: 1 },
    ],
    steps: [
      { kind: 'flag', flag, variant: 'on', fraction: 10 },
      { kind: 'setWeight', weight: 20 },
      { kind: 'analysis', metrics: ['error_rate', 'queue_depth', 'stuck_orders'], interval: '200ms', sustainedFor: '1s', minSamples: 3, ...analysis },
    ],
    flags: [{ key: flag, variants: { on: true, off: false }, killSwitch: 'off' }],
  };
  const v = validateSpec(input);
  if (!v.ok) throw new Error(v.problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return v.plan;
}

async function createFlag(key: string): Promise<void> {
  const res = await fetch(`${unleash.url}/api/admin/projects/${unleash.project}/features`, {
    method: 'POST',
    headers: { Authorization: unleash.adminToken, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: key, type: 'release' }),
  });
  expect(res.status, await res.text()).toBeLessThan(300);
}

/** The history of a workflow and of every child it started, and theirs, as JSON the server would export. */
async function historiesFrom(client: Client, workflowId: string): Promise<{ workflowId: string; json: string; payloads: Payload[] }[]> {
  const out: { workflowId: string; json: string; payloads: Payload[] }[] = [];
  const queue = [workflowId];
  while (queue.length > 0) {
    const id = queue.shift()!;
    const history = await client.workflow.getHandle(id).fetchHistory();
    const payloads: Payload[] = [];
    collectPayloads(history, payloads);
    out.push({ workflowId: id, json: historyToJSON(history), payloads });
    for (const e of history.events ?? []) {
      const child = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId;
      if (child) queue.push(child);
    }
  }
  return out;
}

function collectPayloads(value: unknown, into: Payload[]): void {
  if (!value || typeof value !== 'object') return;
  const v = value as { data?: unknown; metadata?: unknown };
  if (v.data instanceof Uint8Array && v.metadata && typeof v.metadata === 'object') into.push(value as Payload);
  for (const child of Object.values(value)) if (child && typeof child === 'object' && !(child instanceof Uint8Array)) collectPayloads(child, into);
}

/**
 * Every secret in the histories: in their JSON as the server stores them, and in each payload's
 * data once the client's codecs (if any) have decoded it.
 */
async function secretsIn(client: Client, histories: { workflowId: string; json: string; payloads: Payload[] }[], search: SecretSearch): Promise<string[]> {
  const found: string[] = [];
  const codecs = client.options.loadedDataConverter.payloadCodecs;
  for (const h of histories) {
    found.push(...findSecrets(h.json, search).map((f) => `${h.workflowId}: ${f.secret} (${f.how}) at ${f.where}`));
    if (codecs.length === 0) continue;
    const decoded = await decode(codecs, h.payloads);
    const texts = decoded.map((p) => Buffer.from(p.data ?? new Uint8Array()).toString('utf8'));
    found.push(...findSecrets(JSON.stringify(texts), search).map((f) => `${h.workflowId} (decoded payloads): ${f.secret} (${f.how})`));
  }
  return found;
}

describe('a rollout whose providers read their secrets from the worker environment, on a real dev server', () => {
  it('uses every secret and leaves none in its history or its region stage history', async () => {
    expect(await connects(process.env[databaseEnvVar(DATABASE)]!.replace(SECRETS.databasePassword, 'not-the-password')), 'PostgreSQL checks the password').toBe(false);
    expect(await connects(process.env[databaseEnvVar(DATABASE)]!)).toBe(true);
    const flag = `secrets-${Date.now()}`;
    await createFlag(flag);
    const plan = planOf(flag, ENV.token);

    await withRollout(env, plan, async (run) => {
      const { status, failure } = await run.end();
      expect(status.phase, endedHow(status, failure)).toBe('Succeeded');
      // Each provider answered, so each got its secret.
      const passed = auditDataOf(status, 'analysis-passed', REGION);
      expect(passed).toHaveLength(1);
      expect(passed[0]!.values).toEqual({ error_rate: 0.004, queue_depth: 3, stuck_orders: 0 });
      expect(auditDataOf(status, 'flag', REGION)).toEqual([expect.objectContaining({ flag, variant: 'on', fraction: 10 })]);
      expect(seen.api.length).toBeGreaterThan(0);
      expect(seen.api.every((r) => r.ok)).toBe(true);
      expect(seen.proxy.length).toBeGreaterThan(0);
      expect(seen.proxy.every((r) => r.ok)).toBe(true);

      const histories = await historiesFrom(env.client, run.handle.workflowId);
      expect(histories.map((h) => h.workflowId)).toEqual([run.handle.workflowId, `${run.handle.workflowId}/${REGION}`]);
      const search = thisRunsSecrets();
      expect(await secretsIn(env.client, histories, search)).toEqual([]);

      // The same search does find a secret planted in a copy of this very history.
      const planted = plantInPayload(histories[0]!.json, (input) => (input.startedBy = unleash.adminToken));
      expect(names(findSecrets(planted, search))).toEqual(expect.arrayContaining(['Unleash admin token decoded', 'Unleash token decoded']));
    });
  });

  it('leaves no secret in history when a provider refuses the token it got, the errors and the rollback included', async () => {
    const flag = `secrets-refused-${Date.now()}`;
    await createFlag(flag);
    const refusedBefore = seen.api.filter((r) => !r.ok).length;
    const plan = planOf(flag, ENV.wrongToken, { consecutiveErrorLimit: 1 });

    await withRollout(env, plan, async (run) => {
      const held = await run.until((s) => s.regions[0]!.phase === 'Inconclusive' || s.phase === 'RolledBack' || s.phase === 'Failed', 'the refused metric to stop the analysis');
      if (held.regions[0]!.phase === 'Inconclusive') await new RolloutClient(env.client).abort(run.handle.workflowId, { by: 'test', reason: 'the metrics API refuses the token' });
      const { status, failure } = await run.end();
      expect(status.phase, endedHow(status, failure)).toBe('RolledBack');
      expect(auditOf(status, 'analysis-inconclusive', REGION).length + auditOf(status, 'analysis-failed', REGION).length).toBeGreaterThan(0);
      const refused = seen.api.filter((r) => !r.ok).slice(refusedBefore);
      expect(refused.length).toBeGreaterThan(0);
      expect(refused.every((r) => r.authorization === `Bearer ${SECRETS.wrongMetricsToken}`)).toBe(true);
      // The refusal reached history, as the reason of the verdicts; the token it refused did not.
      const histories = await historiesFrom(env.client, run.handle.workflowId);
      const refusal: SecretSearch = { values: [{ name: 'refusal', value: 'HTTP 401' }], patterns: [] };
      expect(histories.some((h) => findSecrets(h.json, refusal).length > 0)).toBe(true);
      expect(await secretsIn(env.client, histories, thisRunsSecrets())).toEqual([]);
    });
  });
});
