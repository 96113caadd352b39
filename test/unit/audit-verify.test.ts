import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyAuditTrail } from '../../client/audit-verify';
import { approvalStatement } from '../../domain/approval-policy';
import type { AuditEntry } from '../../domain/status';
import { parsePublicKey } from '../../domain/ssh-signature';
import { tempDir } from '../support/temp-dir';

const ID = 'rollout/ledger/2.0.0';

function person(dir: string, name: string) {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]);
  const key = readFileSync(`${file}.pub`, 'utf8').trim();
  return { file, key, fingerprint: (parsePublicKey(key) as { ok: { fingerprint: string } }).ok.fingerprint };
}

/** An accepted approval as the workflow records it, signed with `signer`'s key. */
function approval(by: string, signer: { file: string; key: string; fingerprint: string }, region = 'eu-west-1'): AuditEntry {
  const statement = approvalStatement({ gate: 'prod', since: '2026-12-01T11:58:00.000Z' }, region, by, { rolloutId: ID, runId: 'run-1', service: 'ledger' }, Date.parse('2026-12-01T12:00:00Z'), 600_000);
  const signature = execFileSync('ssh-keygen', ['-Y', 'sign', '-f', signer.file, '-n', 'meridian-approval'], { input: statement, stdio: ['pipe', 'pipe', 'ignore'] }).toString();
  return { at: '2026-12-01T12:00:01.000Z', actor: by, action: 'approve', region, reason: 'gate "prod" approved', data: { gate: 'prod', approver: by, signature: { statement, signature, key: signer.key, fingerprint: signer.fingerprint } } };
}

describe('meridian audit --verify, from the audit trail alone', () => {
  it('verifies good signatures and names what is wrong with each bad one', () => {
    const dir = tempDir('meridian-verify-');
    const [alice, bob, mallory] = ['alice', 'bob', 'mallory'].map((n) => person(dir, n)) as [ReturnType<typeof person>, ReturnType<typeof person>, ReturnType<typeof person>];
    const pinned: AuditEntry = {
      at: '2026-12-01T11:50:00.000Z', actor: 'meridian', action: 'approvers-pinned', reason: 'gates trust 2 approvers from the spec',
      data: { enforced: false, approvers: [{ name: 'alice', fingerprint: alice.fingerprint }, { name: 'bob', fingerprint: bob.fingerprint }] },
    };
    const good = approval('alice', alice);
    const tampered = approval('bob', bob);
    const sig = tampered.data!.signature as { statement: string };
    sig.statement = sig.statement.replace('gate: prod', 'gate: staging');
    const moved = { ...approval('alice', alice), region: 'us-east-1' };
    const otherKey = approval('bob', mallory);
    const unsigned: AuditEntry = { at: '2026-12-01T12:00:02.000Z', actor: 'dave', action: 'approve', region: 'eu-west-1', reason: 'ok', data: { gate: 'half', approver: 'dave' } };

    const report = verifyAuditTrail(ID, [pinned, good, tampered, moved, otherKey, unsigned]);
    expect(report).toMatchObject({ verified: 1, failed: 3, unsigned: 1 });
    expect(report.checks.map((c) => [c.approver, c.verdict, c.problem])).toEqual([
      ['alice', 'verified', undefined],
      ['bob', 'failed', `the signature does not match the statement (key ${bob.fingerprint})`],
      ['alice', 'failed', 'the signed statement names region "eu-west-1", the audit entry "us-east-1"'],
      ['bob', 'failed', `signed with key ${mallory.fingerprint}, but the rollout pinned ${bob.fingerprint} for bob`],
      ['dave', 'unsigned', undefined],
    ]);
  });
});
