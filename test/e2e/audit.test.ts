import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditTrail } from '../../client/audit-trail';
import type { RolloutStatus } from '../../domain/status';
import { startDevServer, type DevServer } from '../../worker/dev-server';
import { freePort, ROOT, startWorkerProcess } from '../support/processes';
import { tempDir } from '../support/temp-dir';

/**
 * `meridian audit` on the real dev server, through the CLI: a rollout's trail while it runs (the
 * status query), after it ended with its worker gone (its result in history), and pieced together
 * from history's events when no worker answers and after it was terminated.
 */

const OLD = 'registry.test/shop/ledger:1.0.0';
const NEW = 'registry.test/shop/ledger@sha256:' + 'ef'.repeat(32);

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Row {
  at: string;
  actor: string;
  action: string;
  region: string | null;
  service: string | null;
  reason: string;
  data: Record<string, unknown> | null;
  evidence: { metric: string; verdict: string; value?: number; threshold: { max?: number; min?: number } }[];
}

let server: DevServer;
let dir: string;
let fleetFile: string;
const workers: ChildProcess[] = [];

function cli(args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/meridian.js', ...args, '--address', server.address], {
      cwd: ROOT,
      env: { ...process.env, CI: 'true', MERIDIAN_TASK_QUEUE: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function ok(args: string[]): Promise<string> {
  const r = await cli(args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function startWorker(taskQueue: string): Promise<ChildProcess> {
  const child = await startWorkerProcess({ address: server.address, fleetFile, env: { MERIDIAN_TASK_QUEUE: taskQueue } });
  workers.push(child);
  return child;
}

async function kill(worker: ChildProcess): Promise<void> {
  const closed = new Promise((r) => worker.once('close', r));
  worker.kill('SIGKILL');
  await closed;
}

async function until(id: string, predicate: (s: RolloutStatus) => boolean, what: string, timeoutMs = 90_000): Promise<RolloutStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: RolloutStatus | undefined;
  while (Date.now() < deadline) {
    const r = await cli(['status', id, '--json']);
    if (r.code === 0) {
      last = JSON.parse(r.stdout) as RolloutStatus;
      if (predicate(last)) return last;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}: ${last?.phase} ${JSON.stringify(last?.regions)}`);
}

/** RFC 4180: quoted fields may hold commas, doubled quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\n') row.push(field), rows.push(row), (row = []), (field = '');
    else if (c !== '\r') field += c;
  }
  if (field !== '' || row.length > 0) row.push(field), rows.push(row);
  return rows;
}

/** The csv export as rows keyed by its header, data and evidence parsed back from their JSON columns. */
function csvRows(text: string): Row[] {
  const [header, ...lines] = parseCsv(text.trimEnd());
  expect(header).toEqual(['at', 'actor', 'action', 'region', 'service', 'reason', 'data', 'evidence']);
  return lines.map((cells) => {
    expect(cells, JSON.stringify(cells)).toHaveLength(header!.length);
    const r = Object.fromEntries(header!.map((h, i) => [h, cells[i]!]));
    return {
      at: r.at!,
      actor: r.actor!,
      action: r.action!,
      region: r.region || null,
      service: r.service || null,
      reason: r.reason!,
      data: r.data ? (JSON.parse(r.data) as Record<string, unknown>) : null,
      evidence: JSON.parse(r.evidence!) as Row['evidence'],
    };
  });
}

const jsonlRows = (text: string): Row[] =>
  text
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Row);

/** The --json document, jsonl, csv and text of one trail, asked for at once; jsonl and csv must agree with the document entry for entry. */
async function exports(id: string): Promise<{ trail: AuditTrail; jsonl: Row[]; csv: Row[]; text: string; csvStderr: string }> {
  const [json, jsonl, csv, text] = await Promise.all([
    cli(['audit', id, '--json']),
    cli(['audit', id, '--format', 'jsonl']),
    cli(['audit', id, '--format', 'csv']),
    cli(['audit', id]),
  ]);
  for (const r of [json, jsonl, csv, text]) expect(r.code, r.stderr).toBe(0);
  return { trail: JSON.parse(json.stdout) as AuditTrail, jsonl: jsonlRows(jsonl.stdout), csv: csvRows(csv.stdout), text: text.stdout, csvStderr: csv.stderr };
}

function expectOrdered(rows: Row[]): void {
  const times = rows.map((r) => Date.parse(r.at));
  expect(times).toEqual([...times].sort((a, b) => a - b));
}

const one = (rows: Row[], action: string): Row => {
  const found = rows.filter((r) => r.action === action);
  expect(found, `${action} in ${rows.map((r) => r.action).join(', ')}`).toHaveLength(1);
  return found[0]!;
};

/** One region behind an analysis and `gates` approval gates for alice. */
function spec(service: string, gates: string[]): string {
  const file = join(dir, `${service}.yaml`);
  writeFileSync(
    file,
    [
      `service: ${service}`,
      'version: 1.0.0',
      `image: ${NEW}`,
      'regions:',
      '  - name: eu-west-1',
      `    target: { kind: simulated, initial: { image: ${OLD} } }`,
      'waves:',
      '  - name: only',
      '    regions: [eu-west-1]',
      'metrics:',
      '  - { name: error_rate, provider: { type: simulated }, max: 0.02 }',
      'steps:',
      '  - { kind: setWeight, weight: 20 }',
      '  - { kind: analysis, metrics: [error_rate], interval: 200ms, sustainedFor: 1s, minSamples: 3 }',
      ...gates.map((g) => `  - { kind: approval, name: ${g}, approvers: [alice] }`),
      '  - { kind: setWeight, weight: 100 }',
      'simulation: { baseline: { error_rate: 0.004 } }',
    ].join('\n'),
  );
  return file;
}

beforeAll(async () => {
  dir = tempDir('meridian-audit-');
  fleetFile = join(dir, 'fleet.json');
  server = await startDevServer({ dbFile: join(dir, 'temporal.db'), port: await freePort(), uiPort: await freePort() });
});

afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await server?.stop();
});

describe('meridian audit on the real dev server', () => {
  it('exports who did what and the verdicts behind it, from the status query while it runs and from history once it ended', async () => {
    const queue = 'audit-ended';
    const worker = await startWorker(queue);
    const id = await cli(['start', spec('ledger', ['go-live']), '--by', 'carol', '--task-queue', queue, '--json']).then((r) => {
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { id: string }).id;
    });
    await until(id, (s) => s.pendingApprovals.length > 0, 'the go-live gate');
    await ok(['pause', id, '--by', 'bob', '--reason', 'checking the ledger, totals, and "drift"']);
    await until(id, (s) => s.phase === 'Paused', 'the pause');

    const running = await exports(id);
    expect(running.trail).toMatchObject({ id, source: 'query', complete: true, phase: 'Paused', execution: 'RUNNING' });
    for (const rows of [running.jsonl, running.csv]) {
      expect(rows).toEqual(running.trail.entries.map((e) => ({ region: null, service: null, data: null, ...e })));
      expectOrdered(rows);
      expect(one(rows, 'started').actor).toBe('carol');
      expect(rows.find((r) => r.action === 'set-weight')).toMatchObject({ region: 'eu-west-1', data: { weight: 20 } });
      const passed = one(rows, 'analysis-passed');
      expect(passed.data).toMatchObject({ weight: 20, values: { error_rate: expect.any(Number) } });
      expect(passed.evidence).toEqual([expect.objectContaining({ metric: 'error_rate', verdict: 'Successful', threshold: { max: 0.02 }, value: expect.any(Number) })]);
      expect(one(rows, 'pause')).toMatchObject({ actor: 'bob', reason: 'checking the ledger, totals, and "drift"' });
    }
    expect(running.text.split('\n').filter((l) => /^\d{4}-/.test(l))).toHaveLength(running.trail.entries.length);

    await ok(['resume', id, '--by', 'bob']);
    await ok(['approve', id, '--region', 'eu-west-1', '--by', 'alice', '--comment', 'graphs are flat']);
    await until(id, (s) => s.phase === 'Succeeded', 'the end');
    await kill(worker);

    const ended = await exports(id);
    expect(ended.trail).toMatchObject({ id, source: 'history', from: 'result', complete: true, phase: 'Succeeded', execution: 'COMPLETED' });
    for (const rows of [ended.jsonl, ended.csv]) {
      expect(rows).toEqual(ended.trail.entries.map((e) => ({ region: null, service: null, data: null, ...e })));
      expectOrdered(rows);
      // Everything the running rollout showed is still there, in the same order, and more came after.
      const seen = running.jsonl.map((r) => `${r.at} ${r.action} ${r.region}`);
      expect(rows.map((r) => `${r.at} ${r.action} ${r.region}`).filter((k) => seen.includes(k))).toEqual(seen);
      expect(one(rows, 'resume').actor).toBe('bob');
      expect(one(rows, 'approve')).toMatchObject({ actor: 'alice', region: 'eu-west-1', reason: 'graphs are flat', data: { gate: 'go-live', approver: 'alice' } });
      expect(one(rows, 'approved')).toMatchObject({ region: 'eu-west-1', data: { gate: 'go-live', approver: 'alice' } });
      expect(rows.filter((r) => r.action === 'set-weight').map((r) => r.data?.weight)).toEqual([20, 100]);
      expect(one(rows, 'analysis-passed').evidence[0]).toMatchObject({ metric: 'error_rate', verdict: 'Successful', threshold: { max: 0.02 } });
      expect(rows.at(-1)).toMatchObject({ action: 'succeeded', data: { phase: 'Succeeded' } });
    }
    expect(ended.trail.regions).toEqual([expect.objectContaining({ name: 'eu-west-1', phase: 'Promoted' })]);
  });

  it('pieces the trail together from history when no worker answers, and after the rollout was terminated', async () => {
    const queue = 'audit-pieces';
    const worker = await startWorker(queue);
    const id = await cli(['start', spec('journal', ['first', 'second']), '--by', 'carol', '--task-queue', queue, '--json']).then((r) => {
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { id: string }).id;
    });
    await until(id, (s) => s.pendingApprovals[0]?.gate === 'first', 'the first gate');
    await ok(['approve', id, '--region', 'eu-west-1', '--by', 'alice', '--comment', 'first looks fine']);
    await until(id, (s) => s.pendingApprovals[0]?.gate === 'second', 'the second gate');
    const refused = await cli(['approve', id, '--region', 'eu-west-1', '--by', 'mallory']);
    expect(refused.code).toBe(6);
    await kill(worker);

    // The killed worker is still listed: the query waits out its timeout (or the server says it saw no poller lately), then the history answers.
    const unanswered = await exports(id);
    expect(unanswered.trail).toMatchObject({ id, source: 'history', from: 'events', complete: false, execution: 'RUNNING', worker: { taskQueue: queue } });
    for (const rows of [unanswered.jsonl, unanswered.csv]) {
      expect(rows).toEqual(unanswered.trail.entries.map((e) => ({ region: null, service: null, data: null, ...e })));
      expectOrdered(rows);
      expect(one(rows, 'started').actor).toBe('carol');
      expect(one(rows, 'approve')).toMatchObject({ actor: 'alice', region: 'eu-west-1', reason: 'first looks fine', data: { approver: 'alice' } });
      expect(rows.filter((r) => r.actor === 'mallory')).toEqual([]);
      expect(rows.find((r) => r.action === 'set-weight')).toMatchObject({ region: 'eu-west-1', data: { weight: 20 } });
      expect(one(rows, 'analysis-passed').evidence).toEqual([expect.objectContaining({ metric: 'error_rate', verdict: 'Successful', threshold: { max: 0.02 } })]);
      expect(one(rows, 'approved')).toMatchObject({ region: 'eu-west-1', data: { gate: 'first', approver: 'alice' } });
    }
    expect(unanswered.trail.regions).toEqual([expect.objectContaining({ name: 'eu-west-1', phase: 'AwaitingApproval' })]);
    expect(unanswered.csvStderr).toContain('partial');
    expect(unanswered.text.split('\n')[0]).toContain('partial');

    await server.client.workflow.getHandle(id).terminate('the ledger moved to another team');
    const terminated = JSON.parse(await ok(['audit', id, '--json'])) as AuditTrail;
    expect(terminated).toMatchObject({ id, source: 'history', from: 'events', complete: false, execution: 'TERMINATED', closedBy: { reason: 'the ledger moved to another team' } });
    expect(terminated.entries.map((e) => e.action)).toEqual(unanswered.trail.entries.map((e) => e.action));
    expect(terminated.worker).toBeUndefined();
  });

  it('an unknown rollout exits 6 and names it, like status', async () => {
    for (const format of ['text', 'jsonl', 'csv']) {
      const r = await cli(['audit', 'rollout/nothing/0.0.0', '--format', format]);
      expect(r.code).toBe(6);
      expect(r.stderr).toContain('no rollout rollout/nothing/0.0.0');
      expect(r.stdout).toBe('');
    }
    const status = await cli(['status', 'rollout/nothing/0.0.0']);
    expect(status.code).toBe(6);
  });
});
