import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseEnvVar } from '../../activities/postgres/connections';
import { KEYS_ENV } from '../../client/codec';
import { payloadFromJson, payloadToJson } from '../../cli/codec-server';
import { findTemporalCli } from '../../lib/binaries';
import type { RolloutStatus } from '../../domain/status';
import { startDevServer, workflowUrl, type DevServer } from '../../worker/dev-server';
import { launchChromium, type Chromium } from '../support/chromium';
import { startPostgres, type RunningPostgres } from '../support/postgres';
import { freePort, ROOT, startWorkerProcess } from '../support/processes';
import { freshDatabases, sql } from '../support/stateful';
import { tempDir } from '../support/temp-dir';

/**
 * Encrypted history end to end: a worker and the CLI with codec keys run a stateful rollout with an
 * approval, and one that rolls back, on a real dev server; afterwards nothing of what the spec and the operator said is readable in the
 * server's SQLite files or in `temporal workflow show`, while `meridian codec-server` decodes it
 * for the temporal CLI, for plain HTTP, and for the Temporal UI in headless Chromium.
 */

// Strings that occur nowhere but in payloads: the spec's image, its SQL, the approver and their comment, and below a wave's and a metric's name.
const IMAGE = 'registry.cipher-check.test/payments/ledger:opaque-build-7f3a9c';
const OLD_IMAGE = 'registry.cipher-check.test/payments/ledger:plain-build-0d2e11';
const SQL_MARKER = 'zq_codec_marker_col';
const APPROVER = 'zelda-cipherwright';
const COMMENT = 'ticket-QX4471-verified';
// Wave names reach the region stages' summaries and the rollout's current details (user metadata).
const WAVES = ['quillcanary', 'quillrest'];
// The breaching rollout's metric: its name is in the failure message of the region that rolls back.
const METRIC = 'quill_error_ratio';
const SECRETS = [IMAGE, OLD_IMAGE, SQL_MARKER, APPROVER, COMMENT, ...WAVES, METRIC];

const KEYS = `k1:${randomBytes(32).toString('base64')}`;
const TOKEN_VAR = 'MERIDIAN_E2E_CODEC_TOKEN';
const TOKEN = randomBytes(24).toString('hex');
const ID = `rollout/ledger/5.2.0-${process.pid}`;
const BREACH_ID = `rollout/ledger/5.3.0-${process.pid}`;

let dir: string;
let server: DevServer;
let pgServer: RunningPostgres;
let dbUrls: Record<string, string>;
let uiPort: number;
let chromium: Chromium | undefined;
const children: ChildProcess[] = [];

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A process of this test, with `env` over the test's environment. */
function run(command: string, args: string[], env: Record<string, string | undefined> = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, CI: 'true', MERIDIAN_TASK_QUEUE: '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const withKeys = { [KEYS_ENV]: KEYS };
const meridian = (args: string[], env: Record<string, string | undefined> = withKeys) => run(process.execPath, ['bin/meridian.js', ...args, '--address', server.address], env);
function temporal(args: string[]): Promise<Ran> {
  const cli = findTemporalCli();
  if (!cli) throw new Error('the temporal CLI was not found: set TEMPORAL_CLI_PATH, or let the test setup install it');
  return run(cli, [...args, '--address', server.address, '--namespace', server.namespace]);
}

const ended = (s: RolloutStatus) => ['Succeeded', 'RolledBack', 'Failed', 'NeedsAttention'].includes(s.phase);

async function until(id: string, predicate: (s: RolloutStatus) => boolean, what: string, timeoutMs = 120_000): Promise<RolloutStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: Ran | undefined;
  while (Date.now() < deadline) {
    last = await meridian(['status', id, '--json']);
    if (last.code === 0 || last.code === 7) {
      const status = JSON.parse(last.stdout) as RolloutStatus;
      if (predicate(status)) return status;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`timed out waiting for ${what}: ${last?.stdout}${last?.stderr}`);
}

/** `meridian codec-server` in its own process; resolves with its --json startup line. */
function startCodecServer(args: string[], env: Record<string, string | undefined>): Promise<{ url: string; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/meridian.js', 'codec-server', '--port', '0', '--json', ...args], {
      cwd: ROOT,
      env: { ...process.env, CI: 'true', ...env },
    });
    children.push(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line) as { url: string; port: number });
    });
    child.stderr.on('data', (d: Buffer) => (out += d));
    child.on('exit', (code) => reject(new Error(`codec-server exited ${code}: ${out}`)));
  });
}

/** One region whose canary breaches the metric at 50%: the region stage fails and the rollout rolls back. */
function writeBreachSpec(): string {
  const file = join(dir, 'ledger-breach.yaml');
  writeFileSync(
    file,
    [
      'service: ledger',
      'version: 5.3.0',
      `image: ${IMAGE}`,
      'regions:',
      `  - { name: eu-west-1, target: { kind: simulated, initial: { image: ${OLD_IMAGE} } } }`,
      'waves:',
      `  - { name: ${WAVES[0]}, regions: [eu-west-1] }`,
      'metrics:',
      `  - { name: ${METRIC}, provider: { type: simulated }, max: 0.02 }`,
      'steps:',
      '  - { kind: setWeight, weight: 50 }',
      `  - { kind: analysis, metrics: [${METRIC}], interval: 100ms, sustainedFor: 300ms, minSamples: 3 }`,
      `simulation: { baseline: { ${METRIC}: 0.004 }, faults: ["eu-west-1: ${METRIC} 0.09 when weight >= 50"] }`,
    ].join('\n'),
  );
  return file;
}

function writeSpec(): string {
  const file = join(dir, 'ledger.yaml');
  const region = (name: string, database: string) =>
    [`  - name: ${name}`, `    target: { kind: simulated, initial: { image: ${OLD_IMAGE} } }`, `    database: ${database}`].join('\n');
  writeFileSync(
    file,
    [
      'service: ledger',
      'version: 5.2.0',
      `image: ${IMAGE}`,
      'regions:',
      region('eu-west-1', 'ledger-eu'),
      region('us-east-1', 'ledger-us'),
      'waves:',
      `  - name: ${WAVES[0]}`,
      '    regions: [eu-west-1]',
      '    steps:',
      '      - { kind: setWeight, weight: 20 }',
      `      - { kind: approval, name: go-live, approvers: [${APPROVER}] }`,
      `  - name: ${WAVES[1]}`,
      '    regions: [us-east-1]',
      'migrations:',
      '  - id: 001-add-marker',
      '    phase: expand',
      `    up: ALTER TABLE orders ADD COLUMN ${SQL_MARKER} integer NOT NULL DEFAULT 0`,
      `    down: ALTER TABLE orders DROP COLUMN ${SQL_MARKER}`,
      'metrics:',
      '  - { name: error_rate, provider: { type: simulated }, max: 0.02 }',
      'steps:',
      '  - { kind: setWeight, weight: 50 }',
      '  - { kind: analysis, metrics: [error_rate], interval: 100ms, sustainedFor: 300ms, minSamples: 3 }',
      'bake: 1s',
      'simulation: { baseline: { error_rate: 0.004 } }',
    ].join('\n'),
  );
  return file;
}

/** Every payload in a history as `temporal workflow show --output json` prints it (proto JSON, base64), decoded to text. */
function payloadsIn(value: unknown): { encoding: string; text: string }[] {
  if (typeof value !== 'object' || value === null) return [];
  const node = value as { metadata?: { encoding?: string }; data?: string };
  const here = node.metadata?.encoding
    ? [{ encoding: Buffer.from(node.metadata.encoding, 'base64').toString(), text: Buffer.from(node.data ?? '', 'base64').toString() }]
    : [];
  return [...here, ...Object.values(value).flatMap(payloadsIn)];
}

/** Every file of the server's SQLite database: the main file, its write-ahead log and shared memory. */
function databaseBytes(): Buffer {
  const files = readdirSync(dir).filter((f) => f.startsWith('temporal.db'));
  expect(files).toContain('temporal.db');
  return Buffer.concat(files.map((f) => readFileSync(join(dir, f))));
}

beforeAll(async () => {
  dir = tempDir('meridian-codec-e2e-');
  uiPort = await freePort();
  [server, pgServer] = await Promise.all([
    startDevServer({ dbFile: join(dir, 'temporal.db'), port: await freePort(), uiPort }),
    startPostgres({ databases: [] }),
  ]);
  dbUrls = await freshDatabases(pgServer, ['ledger-eu', 'ledger-us']);
}, 180_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await chromium?.close();
  await Promise.all([server?.stop(), pgServer?.stop()]);
});

describe('encrypted history', () => {
  it('a worker and the CLI with keys run a rollout with an approval, and one that rolls back', async () => {
    const databases = Object.fromEntries(Object.entries(dbUrls).map(([name, url]) => [databaseEnvVar(name), url]));
    children.push(await startWorkerProcess({ address: server.address, fleetFile: join(dir, 'fleet.db'), env: { ...withKeys, ...databases } }));

    for (const [spec, id] of [[writeSpec(), ID], [writeBreachSpec(), BREACH_ID]] as const) {
      const started = await meridian(['start', spec, '--id', id, '--json']);
      expect(started.code, started.stderr).toBe(0);
    }
    await until(ID, (s) => s.pendingApprovals.length > 0, 'the go-live gate');
    const approved = await meridian(['approve', ID, '--region', 'eu-west-1', '--by', APPROVER, '--comment', COMMENT]);
    expect(approved.code, approved.stderr).toBe(0);
    const final = await until(ID, ended, 'the end');
    expect(final.phase, final.reason).toBe('Succeeded');
    const breached = await until(BREACH_ID, ended, 'the rollback');
    expect(breached.phase, breached.reason).toBe('RolledBack');
    expect(breached.reason).toContain(METRIC);
    expect(final.audit.find((a) => a.action === 'approve')).toMatchObject({ actor: APPROVER, reason: COMMENT });
    for (const url of Object.values(dbUrls)) {
      const columns = await sql<{ column_name: string }>(url, `SELECT column_name FROM information_schema.columns WHERE table_name = 'orders'`);
      expect(columns.map((c) => c.column_name)).toContain(SQL_MARKER);
    }
  }, 240_000);

  it('without the key the CLI cannot read the rollout, and says which key it lacks', async () => {
    const keyless = await meridian(['status', ID, '--json'], { [KEYS_ENV]: `k2:${randomBytes(32).toString('base64')}` });
    expect(keyless.code, keyless.stderr).toBe(2);
    expect(keyless.stderr).toContain('"k1"');
    expect(keyless.stderr).toContain(KEYS_ENV);
  });

  it('leaves none of it readable in the SQLite files or in the histories the server hands out', async () => {
    const ids: string[] = [];
    for await (const info of server.client.workflow.list({ query: `WorkflowId STARTS_WITH "rollout/ledger/"` })) ids.push(info.workflowId);
    expect(ids.length).toBeGreaterThanOrEqual(5);
    // The region stage failed inside the workflow sandbox: its failure too is an encrypted payload.
    const breachHistory = await server.client.workflow.getHandle(BREACH_ID).fetchHistory();
    const childFailure = breachHistory.events!.find((e) => e.childWorkflowExecutionFailedEventAttributes)!.childWorkflowExecutionFailedEventAttributes!.failure!;
    const causes = (f: typeof childFailure | null | undefined): (typeof childFailure)[] => (f ? [f, ...causes(f.cause)] : []);
    const encodings = causes(childFailure).map((f) => Buffer.from(f.encodedAttributes?.metadata?.encoding ?? []).toString());
    expect(encodings).toContain('binary/encrypted');
    const stored = databaseBytes();
    expect(stored.includes(ID), 'the database files are where the rollout is').toBe(true);
    expect(stored.includes('binary/encrypted')).toBe(true);
    for (const secret of SECRETS) expect(stored.includes(secret), `${secret} in the SQLite files`).toBe(false);
    for (const id of ids) {
      const shown = await temporal(['workflow', 'show', '--workflow-id', id, '--output', 'json']);
      expect(shown.code, shown.stderr).toBe(0);
      expect(shown.stdout).toContain('"eventType"');
      for (const secret of SECRETS) expect(shown.stdout.includes(secret), `${secret} in the history of ${id}`).toBe(false);
    }
  });

  it('meridian codec-server decodes it for temporal --codec-endpoint and over HTTP, with its token only', async () => {
    const guarded = await startCodecServer(['--auth-token-env', TOKEN_VAR, '--allow-origin', `http://127.0.0.1:${uiPort}`], { ...withKeys, [TOKEN_VAR]: TOKEN });
    const decodedShow = await temporal(['workflow', 'show', '--workflow-id', ID, '--output', 'json', '--codec-endpoint', guarded.url, '--codec-auth', `Bearer ${TOKEN}`]);
    expect(decodedShow.code, decodedShow.stderr).toBe(0);
    const shownPayloads = payloadsIn(JSON.parse(decodedShow.stdout));
    expect(shownPayloads.map((p) => p.encoding)).not.toContain('binary/encrypted');
    expect(shownPayloads.map((p) => p.text).join('\n')).toContain(IMAGE);
    expect(shownPayloads.map((p) => p.text).join('\n')).toContain(APPROVER);

    const history = await server.client.workflow.getHandle(ID).fetchHistory();
    const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    const body = JSON.stringify({ payloads: [payloadToJson(input)] });
    const decode = (headers: Record<string, string>) => fetch(`${guarded.url}/decode`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Namespace': server.namespace, ...headers }, body });
    const res = await decode({ Authorization: `Bearer ${TOKEN}` });
    expect(res.status).toBe(200);
    const [plain] = ((await res.json()) as { payloads: unknown[] }).payloads.map(payloadFromJson);
    const startedWith = defaultPayloadConverter.fromPayload(plain!) as { plan: { image: string; migrations: { up: string }[] } };
    expect(startedWith.plan.image).toBe(IMAGE);
    expect(startedWith.plan.migrations[0]!.up).toContain(SQL_MARKER);
    expect((await decode({})).status).toBe(401);
    const preflight = await fetch(`${guarded.url}/decode`, {
      method: 'OPTIONS',
      headers: { Origin: `http://127.0.0.1:${uiPort}`, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,x-namespace' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(`http://127.0.0.1:${uiPort}`);
    expect(preflight.headers.get('access-control-allow-headers')).toBe('X-Namespace, Content-Type, Authorization');
    expect(preflight.headers.get('access-control-allow-credentials')).toBe('true');
  });

  it('the Temporal UI in Chromium shows ciphertext without the codec endpoint, and the image and summaries with it', async () => {
    chromium = await launchChromium();
    const page = (uiUrl: string) => workflowUrl(uiUrl, ID, server.namespace);
    // MERIDIAN_SCREENSHOT_DIR keeps the screenshots for a person to look at.
    const shots = process.env.MERIDIAN_SCREENSHOT_DIR || tempDir('meridian-codec-shots-');
    mkdirSync(shots, { recursive: true });
    const loaded = (text: string) => text.includes(ID) && /^Input$/m.test(text) && /^Result$/m.test(text);
    // Without a codec the UI shows the payload's data as it is: a long base64 string.
    const ciphertext = /^Input\n"[A-Za-z0-9+/=]{200,}/m;
    const before = await chromium.view(page(`http://127.0.0.1:${uiPort}`), (t) => loaded(t) && ciphertext.test(t));
    writeFileSync(join(shots, 'encrypted.png'), before.png);
    for (const secret of SECRETS) expect(before.text.includes(secret), `${secret} on the page without a codec`).toBe(false);

    const open = await startCodecServer(['--allow-origin', `http://127.0.0.1:${uiPort}`], { ...withKeys, MERIDIAN_CODEC_AUTH_TOKEN: undefined });
    await server.stop();
    server = await startDevServer({ dbFile: join(dir, 'temporal.db'), port: Number(server.address.split(':').pop()), uiPort, uiCodecEndpoint: open.url, reuse: false });
    const after = await chromium.view(page(`http://127.0.0.1:${uiPort}`), (t) => loaded(t) && t.includes(IMAGE));
    writeFileSync(join(shots, 'decoded.png'), after.png);
    expect(after.text).not.toMatch(ciphertext);
    // The region stages' summaries are user metadata, decoded by the codec server as well.
    const summarized = (text: string) => text.split('\n').some((line) => line.includes(WAVES[1]!) && line.includes('us-east-1'));
    expect([summarized(before.text), summarized(after.text)]).toEqual([false, true]);

    for (const shot of ['encrypted.png', 'decoded.png']) {
      const png = readFileSync(join(shots, shot));
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect(statSync(join(shots, shot)).size).toBeGreaterThan(20_000);
    }
  });
});
