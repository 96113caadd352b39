import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalStatement, reverify, type ApprovalContext, type GateFacts, type SignedApproval } from '../../domain/approval-policy';
import { formatStatement, parseStatement } from '../../domain/approval-statement';
import { decide, type CommandContext, type Decision, type Effect } from '../../domain/commands';
import { APPROVAL_NAMESPACE, parsePublicKey, verifySshSignature } from '../../domain/ssh-signature';

/** Real keys and real `ssh-keygen -Y sign` signatures; the verifier under test is the workflow's pure one. */
let dir: string;
const keys: Record<string, { pub: string; file: string }> = {};

function sign(person: string, statement: string, namespace = APPROVAL_NAMESPACE): SignedApproval {
  const signature = execFileSync('ssh-keygen', ['-Y', 'sign', '-f', keys[person]!.file, '-n', namespace], { input: statement, stdio: ['pipe', 'pipe', 'ignore'] }).toString();
  return { statement, signature };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'meridian-keys-'));
  for (const person of ['alice', 'bob', 'carol', 'mallory']) {
    const file = join(dir, person);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${person}@example`, '-f', file]);
    keys[person] = { file, pub: readFileSync(`${file}.pub`, 'utf8').trim() };
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NOW = Date.parse('2026-12-01T12:00:00.000Z');
const OPENED = '2026-12-01T11:58:00.000Z';
const IDS = { rolloutId: 'rollout/checkout/2.0.0', runId: 'run-1', service: 'checkout' };
const GATE: GateFacts = { gate: 'prod', since: OPENED, signed: true };

function trust(over: Partial<ApprovalContext> = {}): ApprovalContext {
  return {
    ...IDS,
    now: NOW,
    startedBy: 'carol',
    enforced: false,
    approvers: ['alice', 'bob', 'carol'].map((name) => ({ name, key: keys[name]!.pub, fingerprint: fp(name), groups: name === 'bob' ? ['sre'] : [] })),
    ...over,
  };
}
const fp = (name: string) => (parsePublicKey(keys[name]!.pub) as { ok: { fingerprint: string } }).ok.fingerprint;

function ctx(gate: GateFacts = GATE, over: Partial<ApprovalContext> = {}): CommandContext {
  return {
    regions: [{ name: 'eu-west-1', phase: 'AwaitingApproval', inFlight: true, held: false, drifted: false, approvals: [gate] }],
    paused: false,
    aborted: false,
    approval: trust(over),
  };
}

/** alice's statement for the gate as it waits, unless `over` changes a field. */
function statement(by = 'alice', over: Partial<Parameters<typeof formatStatement>[0]> = {}, gate: GateFacts = GATE): string {
  const text = approvalStatement(gate, 'eu-west-1', by, IDS, NOW - 60_000, 10 * 60_000);
  return formatStatement({ ...(parseStatement(text) as { ok: Parameters<typeof formatStatement>[0] }).ok, ...over });
}

const approve = (c: CommandContext, by: string, signature?: SignedApproval): Decision =>
  decide('running', { kind: 'approve', region: 'eu-west-1', by, ...(signature ? { signature } : {}) }, c);
const effects = (d: Decision): Effect[] => {
  if ('refusal' in d) throw new Error(`refused: ${d.refusal}`);
  return d.effects;
};
const auditOf = (d: Decision) => effects(d).find((e) => e.kind === 'audit') as Extract<Effect, { kind: 'audit' }>;
const forwarded = (d: Decision) => effects(d).find((e) => e.kind === 'forward') as Extract<Effect, { kind: 'forward' }> | undefined;

describe('the SSH signature format', () => {
  it('reads the fingerprint ssh-keygen prints, and verifies its signatures', () => {
    const listed = execFileSync('ssh-keygen', ['-l', '-f', `${keys.alice!.file}.pub`]).toString().split(' ')[1];
    expect(fp('alice')).toBe(listed);
    const signed = sign('alice', 'hello\n');
    const key = (parsePublicKey(keys.alice!.pub) as { ok: Parameters<typeof verifySshSignature>[2] }).ok;
    expect(verifySshSignature('hello\n', signed.signature, key)).toEqual({ ok: { fingerprint: listed } });
    expect(verifySshSignature('hello!\n', signed.signature, key)).toHaveProperty('error');
  });

  it('refuses a signature made in another namespace, such as git commit signing', () => {
    const key = (parsePublicKey(keys.alice!.pub) as { ok: Parameters<typeof verifySshSignature>[2] }).ok;
    expect(verifySshSignature('x', sign('alice', 'x', 'git').signature, key)).toEqual({ error: 'the signature is for namespace "git", not "meridian-approval"' });
  });
});

describe('signed approvals in the command table', () => {
  it('accepts alice\'s signature over exactly this gate, and records the evidence with her fingerprint', () => {
    const d = approve(ctx(), 'alice', sign('alice', statement()));
    const entry = auditOf(d).entry;
    expect(entry).toMatchObject({ action: 'approve', actor: 'alice', region: 'eu-west-1', data: { gate: 'prod', approver: 'alice', signature: { fingerprint: fp('alice'), key: keys.alice!.pub } } });
    expect(forwarded(d)?.command).toMatchObject({ kind: 'approve', gate: 'prod', by: 'alice' });
    const evidence = (entry.data as { signature: Parameters<typeof reverify>[0] }).signature;
    expect(reverify(evidence)).toMatchObject({ ok: { fingerprint: fp('alice') } });
    expect(reverify({ ...evidence, statement: evidence.statement.replace('gate: prod', 'gate: other') })).toHaveProperty('error');
  });

  it('refuses an unsigned approval where the gate is signed, and where the worker enforces its keyring', () => {
    expect(approve(ctx(), 'alice')).toHaveProperty('refusal', expect.stringContaining('needs a signed approval'));
    expect(approve(ctx({ gate: 'prod', since: OPENED }, { enforced: true }), 'alice')).toHaveProperty('refusal', expect.stringContaining('needs a signed approval'));
    expect(effects(approve(ctx({ gate: 'prod', since: OPENED }), 'alice')).map((e) => e.kind)).toContain('forward');
  });

  it('refuses a signature by a key that is not the named approver\'s (mallory signs as alice)', () => {
    const d = approve(ctx(), 'alice', sign('mallory', statement()));
    expect(d).toHaveProperty('refusal', expect.stringContaining(`made with key ${fp('mallory')}, not ${fp('alice')}`));
  });

  it('refuses an approver with no pinned key, even with a valid signature of their own', () => {
    const d = approve(ctx(), 'mallory', sign('mallory', statement('mallory')));
    expect(d).toHaveProperty('refusal', expect.stringContaining('pins no key for "mallory"'));
  });

  it.each([
    ['gate', { gate: 'staging' }],
    ['region', { region: 'us-east-1' }],
    ['run', { run: 'run-0' }],
    ['rollout', { rollout: 'rollout/checkout/1.9.0' }],
    ['gate-opened', { opened: '2026-12-01T10:00:00.000Z' }],
    ['service', { service: 'payments' }],
    ['approver', { approver: 'bob' }],
  ])('refuses a signature over another %s, so it cannot be replayed', (label, over) => {
    const d = approve(ctx(), 'alice', sign('alice', statement('alice', over)));
    expect(d).toHaveProperty('refusal', expect.stringContaining(`the signed statement is for ${label} `));
  });

  it('refuses a statement that expired, one signed in the future, and one valid for too long', () => {
    const expired = statement('alice', { signedAt: '2026-12-01T11:00:00.000Z', expiresAt: '2026-12-01T11:30:00.000Z' });
    expect(approve(ctx(), 'alice', sign('alice', expired))).toHaveProperty('refusal', expect.stringContaining('expired at 2026-12-01T11:30:00.000Z'));
    const future = statement('alice', { signedAt: '2026-12-01T13:00:00.000Z', expiresAt: '2026-12-01T13:10:00.000Z' });
    expect(approve(ctx(), 'alice', sign('alice', future))).toHaveProperty('refusal', expect.stringContaining('signed in the future'));
    const long = statement('alice', { signedAt: '2026-12-01T11:00:00.000Z', expiresAt: '2026-12-08T11:00:00.000Z' });
    expect(approve(ctx(), 'alice', sign('alice', long))).toHaveProperty('refusal', expect.stringContaining('valid for more than 24 hours'));
  });

  it('refuses a statement changed after it was signed', () => {
    const signed = sign('alice', statement());
    const d = approve(ctx(), 'alice', { ...signed, statement: statement('alice', { expiresAt: '2026-12-01T23:00:00.000Z' }) });
    expect(d).toHaveProperty('refusal', expect.stringContaining('does not match the statement'));
  });
});

describe('separation of duties', () => {
  it('refuses the rollout\'s starter by default, and records it when the gate allows self-approval', () => {
    expect(approve(ctx(), 'carol', sign('carol', statement('carol')))).toHaveProperty('refusal', expect.stringContaining('started this rollout'));
    const open = { ...GATE, allowSelfApproval: true };
    const d = approve(ctx(open), 'carol', sign('carol', statement('carol', {}, open)));
    expect(auditOf(d).entry.data).toMatchObject({ approver: 'carol', selfApproval: true });
  });

  it('a gate needing two approvers waits after the first, refuses the same one twice, and forwards both at the second', () => {
    const two: GateFacts = { ...GATE, approvals: 2 };
    const first = approve(ctx(two), 'alice', sign('alice', statement('alice', {}, two)));
    expect(effects(first).map((e) => e.kind)).toEqual(['noteApproval', 'audit', 'publish', 'reply']);
    expect(auditOf(first).entry.data).toMatchObject({ count: 1, needed: 2 });
    const after: GateFacts = { ...two, approvedBy: ['alice'] };
    expect(approve(ctx(after), 'alice', sign('alice', statement('alice', {}, after)))).toHaveProperty('refusal', expect.stringContaining('already approved'));
    const second = approve(ctx(after), 'bob', sign('bob', statement('bob', {}, after)));
    expect(forwarded(second)?.command).toMatchObject({ kind: 'approve', by: 'bob', approvers: ['alice', 'bob'] });
    expect(auditOf(second).entry.data).toMatchObject({ count: 2, needed: 2 });
  });

  it('lets members of a named group approve, and nobody else', () => {
    const sre: GateFacts = { ...GATE, groups: ['sre'] };
    expect(approve(ctx(sre), 'alice', sign('alice', statement('alice', {}, sre)))).toHaveProperty('refusal', expect.stringContaining('may not approve'));
    expect(effects(approve(ctx(sre), 'bob', sign('bob', statement('bob', {}, sre)))).map((e) => e.kind)).toContain('forward');
    const named: GateFacts = { ...sre, approvers: ['alice'] };
    expect(effects(approve(ctx(named), 'alice', sign('alice', statement('alice', {}, named)))).map((e) => e.kind)).toContain('forward');
  });

  it('keeps abort open to anyone, the starter included', () => {
    const d = decide('running', { kind: 'abort', by: 'carol', reason: 'stop' }, ctx());
    expect(effects(d).map((e) => e.kind)).toContain('stop');
  });
});
