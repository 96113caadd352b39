import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalStatement } from '../../domain/approval-policy';
import { formatStatement, parseStatement, type ApprovalStatement } from '../../domain/approval-statement';
import type { PendingApproval, RolloutStatus } from '../../domain/status';
import { parsePublicKey } from '../../domain/ssh-signature';
import { startDevServer, type DevServer } from '../../worker/dev-server';
import { freePort, startWorkerProcess } from '../support/processes';
import { auditDataOf, auditOf } from '../support/status';
import { tempDir } from '../support/temp-dir';

/**
 * Signed approvals end to end: real SSH keys, `ssh-keygen -Y sign` through `meridian approve
 * --sign-with`, and forged, replayed, self- and under-approvals sent through the CLI and through
 * raw `temporal workflow update` and `signal`, on the real dev server with worker processes.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const TEMPORAL = process.env.TEMPORAL_CLI_PATH || 'temporal';
const OLD = 'registry.test/pay/ledger:1.0.0';
const NEW = 'registry.test/pay/ledger:2.0.0';

let server: DevServer;
let dir: string;
const workers: ChildProcess[] = [];
const keys: Record<string, { file: string; pub: string; fingerprint: string }> = {};

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, CI: 'true', MERIDIAN_TASK_QUEUE: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
const cli = (args: string[]) => run(process.execPath, ['bin/meridian.js', ...args, '--address', server.address]);
const temporal = (args: string[]) => run(TEMPORAL, [...args, '--address', server.address]);

async function statusOf(id: string): Promise<RolloutStatus> {
  const r = await cli(['status', id, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as RolloutStatus;
}

async function until(id: string, predicate: (s: RolloutStatus) => boolean, what: string): Promise<RolloutStatus> {
  const deadline = Date.now() + 90_000;
  let last: RolloutStatus | undefined;
  while (Date.now() < deadline) {
    last = await statusOf(id);
    if (predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}: ${last?.phase} ${last?.reason ?? ''}`);
}

function sign(person: string, statement: string): string {
  return execFileSync('ssh-keygen', ['-Y', 'sign', '-f', keys[person]!.file, '-n', 'meridian-approval'], { input: statement, stdio: ['pipe', 'pipe', 'ignore'] }).toString();
}

/** The statement for the gate as the rollout shows it, for `by`, with `over` changed. */
async function statementFor(id: string, gate: PendingApproval, by: string, over: Partial<ApprovalStatement> = {}): Promise<string> {
  const described = JSON.parse((await temporal(['workflow', 'describe', '--workflow-id', id, '--output', 'json'])).stdout) as { workflowExecutionInfo: { execution: { runId: string } } };
  const text = approvalStatement(gate, gate.region, by, { rolloutId: id, runId: described.workflowExecutionInfo.execution.runId, service: 'ledger' }, Date.now(), 10 * 60_000);
  return formatStatement({ ...(parseStatement(text) as { ok: ApprovalStatement }).ok, ...over });
}

/** A raw update, as anyone with access to the Temporal frontend can send one. */
const rawUpdate = (id: string, input: unknown) => temporal(['workflow', 'update', 'execute', '--workflow-id', id, '--name', 'approve', '--input', JSON.stringify(input)]);

function spec(name: string, lines: string[]): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      'service: ledger',
      `version: ${name}`,
      `image: ${NEW}`,
      'regions:',
      '  - name: eu-west-1',
      `    target: { kind: simulated, initial: { image: ${OLD} } }`,
      'waves:',
      '  - { name: only, regions: [eu-west-1] }',
      ...lines,
    ].join('\n'),
  );
  return file;
}

beforeAll(async () => {
  dir = tempDir('meridian-signed-');
  for (const person of ['alice', 'bob', 'carol', 'mallory']) {
    const file = join(dir, person);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${person}@example`, '-f', file]);
    const pub = readFileSync(`${file}.pub`, 'utf8').trim();
    keys[person] = { file, pub, fingerprint: (parsePublicKey(pub) as { ok: { fingerprint: string } }).ok.fingerprint };
  }
  server = await startDevServer({ dbFile: join(dir, 'temporal.db'), port: await freePort(), uiPort: await freePort() });
  workers.push(await startWorkerProcess({ address: server.address, fleetFile: join(dir, 'fleet.db') }));
}, 120_000);

afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await server?.stop();
});

describe('signed approvals', () => {
  it('a gate of two signed sre approvers refuses forged, replayed, self- and repeated approvals, and takes two valid ones', async () => {
    const file = spec('2.0.0', [
      'approvers:',
      ...(['alice', 'bob', 'carol'] as const).map((p) => `  - { name: ${p}, key: "${keys[p]!.pub}", groups: [sre] }`),
      'steps:',
      '  - { kind: setWeight, weight: 20 }',
      '  - { kind: approval, name: prod, groups: [sre], approvals: 2 }',
    ]);
    const started = await cli(['start', file, '--by', 'carol', '--json']);
    expect(started.code, started.stderr).toBe(0);
    const { id } = JSON.parse(started.stdout) as { id: string };
    const waiting = await until(id, (s) => s.pendingApprovals.length > 0, 'the prod gate');
    const gate = waiting.pendingApprovals[0]!;
    expect(gate).toMatchObject({ gate: 'prod', signed: true, approvals: 2, groups: ['sre'] });
    expect(auditDataOf(waiting, 'approvers-pinned')[0]).toMatchObject({
      enforced: false,
      approvers: ['alice', 'bob', 'carol'].map((name) => ({ name, fingerprint: keys[name]!.fingerprint, groups: ['sre'] })),
    });

    const approve = (by: string, key?: string) => cli(['approve', id, '--region', 'eu-west-1', '--by', by, ...(key ? ['--sign-with', keys[key]!.file] : [])]);
    const unsigned = await approve('alice');
    expect(unsigned.code).toBe(6);
    expect(unsigned.stderr).toContain('needs a signed approval');
    expect((await approve('alice', 'mallory')).stderr).toContain(`made with key ${keys.mallory!.fingerprint}, not ${keys.alice!.fingerprint}`);
    const self = await approve('carol', 'carol');
    expect(self.code).toBe(6);
    expect(self.stderr).toContain('started this rollout');

    const first = await approve('alice', 'alice');
    expect(first.code, first.stderr).toBe(0);
    const half = await until(id, (s) => s.pendingApprovals[0]?.approvedBy?.length === 1, 'the first approval');
    expect(half.pendingApprovals[0]).toMatchObject({ approvedBy: ['alice'] });
    expect(half.phase).toBe('AwaitingApproval');
    expect((await approve('alice', 'alice')).stderr).toContain('already approved');

    // Raw updates: alice's valid signature presented as bob's, a signature over another gate, mallory's key.
    const alices = { statement: await statementFor(id, gate, 'alice'), signature: '' };
    alices.signature = sign('alice', alices.statement);
    const asBob = await rawUpdate(id, { region: 'eu-west-1', by: 'bob', signature: alices });
    expect(asBob.code).not.toBe(0);
    expect(asBob.stdout + asBob.stderr).toContain('the signed statement is for approver "alice", not "bob"');
    const otherGate = await statementFor(id, gate, 'bob', { gate: 'staging' });
    const replayed = await rawUpdate(id, { region: 'eu-west-1', by: 'bob', signature: { statement: otherGate, signature: sign('bob', otherGate) } });
    expect(replayed.stdout + replayed.stderr).toContain('the signed statement is for gate "staging", not "prod"');
    const bobs = await statementFor(id, gate, 'bob');
    const forgedUpdate = await rawUpdate(id, { region: 'eu-west-1', by: 'bob', signature: { statement: bobs, signature: sign('mallory', bobs) } });
    expect(forgedUpdate.stdout + forgedUpdate.stderr).toContain(`made with key ${keys.mallory!.fingerprint}, not ${keys.bob!.fingerprint}`);
    const carols = await statementFor(id, gate, 'carol');
    const selfUpdate = await rawUpdate(id, { region: 'eu-west-1', by: 'carol', signature: { statement: carols, signature: sign('carol', carols) } });
    expect(selfUpdate.stdout + selfUpdate.stderr).toContain('"carol" started this rollout');
    const forged = await temporal(['workflow', 'signal', '--workflow-id', id, '--name', 'approve', '--input', JSON.stringify({ region: 'eu-west-1', by: 'bob', signature: { statement: bobs, signature: sign('mallory', bobs) } })]);
    expect(forged.code, forged.stderr).toBe(0);
    const ignored = await until(id, (s) => auditOf(s, 'approve-ignored').length > 0, 'the forged signal in the audit trail');
    expect(auditOf(ignored, 'approve-ignored')[0]).toMatchObject({ actor: 'bob', data: { command: 'approve' } });
    expect(ignored.pendingApprovals[0]?.approvedBy).toEqual(['alice']);

    const second = await rawUpdate(id, { region: 'eu-west-1', by: 'bob', signature: { statement: bobs, signature: sign('bob', bobs) } });
    expect(second.code, second.stdout + second.stderr).toBe(0);
    const done = await until(id, (s) => s.phase === 'Succeeded', 'the rollout to succeed');
    const approvals = auditDataOf(done, 'approve');
    expect(approvals.map((a) => [a.approver, a.count, a.needed, a.signature?.fingerprint])).toEqual([
      ['alice', 1, 2, keys.alice!.fingerprint],
      ['bob', 2, 2, keys.bob!.fingerprint],
    ]);
    expect(auditDataOf(done, 'approved', 'eu-west-1')[0]).toMatchObject({ gate: 'prod', approvers: ['alice', 'bob'] });

    // Anyone can check the approvals again from the ended rollout's history alone.
    const verified = await cli(['audit', id, '--verify', '--json']);
    expect(verified.code, verified.stderr).toBe(0);
    const report = JSON.parse(verified.stdout) as { source: string; verified: number; failed: number; checks: { approver: string; fingerprint: string; verdict: string }[] };
    expect(report).toMatchObject({ source: 'history', verified: 2, failed: 0 });
    expect(report.checks.map((c) => [c.approver, c.verdict, c.fingerprint])).toEqual([
      ['alice', 'verified', keys.alice!.fingerprint],
      ['bob', 'verified', keys.bob!.fingerprint],
    ]);
  });

  it('a worker that enforces its keyring refuses a spec that brings its own key, and unsigned approvals', async () => {
    const keyring = join(dir, 'keyring.yaml');
    writeFileSync(keyring, `approvers:\n  - { name: alice, key: "${keys.alice!.pub}" }\n`);
    workers.push(await startWorkerProcess({ address: server.address, fleetFile: join(dir, 'fleet-enforced.db'), env: { MERIDIAN_TASK_QUEUE: 'enforced', MERIDIAN_KEYRING: keyring } }));
    const steps = ['steps:', '  - { kind: approval, name: prod }'];

    const planted = spec('3.0.0', ['approvers:', `  - { name: alice, key: "${keys.mallory!.pub}" }`, ...steps]);
    const refused = JSON.parse((await cli(['start', planted, '--by', 'mallory', '--task-queue', 'enforced', '--json'])).stdout) as { id: string };
    const failed = await until(refused.id, (s) => s.phase === 'Failed', 'preflight to refuse the planted key');
    expect(auditOf(failed, 'preflight-failed')).toHaveLength(1);
    expect(failed.reason).toContain('approver "alice": the spec names a key other than the one in the worker\'s keyring');

    const plain = spec('3.0.1', steps);
    const { id } = JSON.parse((await cli(['start', plain, '--by', 'carol', '--task-queue', 'enforced', '--json'])).stdout) as { id: string };
    await until(id, (s) => s.pendingApprovals.length > 0, 'the prod gate');
    expect((await cli(['approve', id, '--region', 'eu-west-1', '--by', 'mallory'])).stderr).toContain('needs a signed approval');
    expect((await cli(['approve', id, '--region', 'eu-west-1', '--by', 'mallory', '--sign-with', keys.mallory!.file])).stderr).toContain('pins no key for "mallory"');
    const ok = await cli(['approve', id, '--region', 'eu-west-1', '--by', 'alice', '--sign-with', keys.alice!.file]);
    expect(ok.code, ok.stderr).toBe(0);
    const done = await until(id, (s) => s.phase === 'Succeeded', 'the rollout to succeed');
    expect(auditDataOf(done, 'approvers-pinned')[0]).toMatchObject({ enforced: true, keyring, approvers: [{ name: 'alice', fingerprint: keys.alice!.fingerprint }] });
  });
});
