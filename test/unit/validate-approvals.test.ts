import { describe, expect, it } from 'vitest';
import type { RolloutSpecInput } from '../../domain/spec';
import { validateSpec } from '../../domain/validate';

const KEY_A = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKlF0BYVlrsrfLgJaKVqv9yQlqIIvTAYf6Q4gjuqZbsu alice@example';
const KEY_B = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGvQ2v4b2t4mJ9wqG0X3o4n8gk3jM2b8xkP1M0ZtJr0a bob@example';

function spec(over: Partial<RolloutSpecInput> = {}, gate: Record<string, unknown> = {}): RolloutSpecInput {
  return {
    service: 'ledger',
    version: '2.0.0',
    image: 'registry.test/pay/ledger:2.0.0',
    regions: [{ name: 'eu-west-1', target: { kind: 'simulated' } }],
    waves: [{ regions: ['eu-west-1'] }],
    steps: [{ kind: 'setWeight', weight: 20 }, { kind: 'approval', name: 'prod', ...gate } as never],
    ...over,
  };
}

const problems = (input: RolloutSpecInput) => {
  const v = validateSpec(input);
  return v.ok ? [] : v.problems.map((p) => `${p.path}: ${p.message}`);
};

const ROSTER = { approvers: [{ name: 'alice', key: KEY_A, groups: ['sre'] }, { name: 'bob', key: KEY_B, groups: ['sre', 'dba'] }, { name: 'dave' }] };

describe('approvers and gates in a spec', () => {
  it('compile to a plan whose gates are signed by default once approvers have keys', () => {
    const v = validateSpec(spec(ROSTER, { groups: ['sre'], approvals: 2 }));
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(v.plan.approval).toEqual({
      approvers: [{ name: 'alice', key: KEY_A, groups: ['sre'] }, { name: 'bob', key: KEY_B, groups: ['sre', 'dba'] }, { name: 'dave' }],
      signedByDefault: true,
    });
    expect(v.plan.regions['eu-west-1']!.steps[1]).toMatchObject({ kind: 'approval', groups: ['sre'], approvals: 2 });
  });

  it('a spec without approvers compiles as before: no approval plan', () => {
    const v = validateSpec(spec({}, { approvers: ['alice'] }));
    expect(v.ok && v.plan.approval).toBe(undefined);
  });

  it('names an approver or a group the roster does not have, with the path', () => {
    expect(problems(spec(ROSTER, { approvers: ['alcie'] }))).toEqual(['steps[1].approvers[0]: "alcie" is not one of the rollout\'s approvers (did you mean alice?); add them under approvers, with their key']);
    expect(problems(spec(ROSTER, { groups: ['ops'] }))).toEqual([expect.stringMatching(/^steps\[1\]\.groups\[0\]: no approver is in group "ops"/)]);
    expect(problems(spec({}, { groups: ['sre'] }))).toEqual([expect.stringMatching(/^steps\[1\]\.groups\[0\]: no approver is in group "sre"/)]);
  });

  it('refuses a gate that needs more signed approvers than can sign it', () => {
    expect(problems(spec(ROSTER, { groups: ['dba'], approvals: 2 }))).toEqual([
      'steps[1].approvals: the gate needs 2 distinct approvers, but only 1 can approve it (bob, each with a key); the rollout\'s starter cannot be one of them unless allowSelfApproval is set',
    ]);
    expect(problems(spec(ROSTER, { approvals: 3 }))).toEqual([expect.stringMatching(/^steps\[1\]\.approvals: the gate needs 3 distinct approvers, but only 2 can approve it \(alice, bob, each with a key\)/)]);
    expect(problems(spec(ROSTER, { approvals: 3, signed: false }))).toEqual([]);
  });

  it('refuses a signed gate nobody can sign, a malformed key, and a name given twice', () => {
    expect(problems(spec({ approvers: [{ name: 'dave' }] }, { signed: true }))).toEqual([expect.stringMatching(/^steps\[1\]\.signed: nobody can sign this gate/)]);
    expect(problems(spec({ approvers: [{ name: 'eve', key: 'ssh-rsa AAAAB3Nza' }] }))).toEqual([expect.stringMatching(/^approvers\[0\]\.key: must be an SSH Ed25519 public key/)]);
    expect(problems(spec({ approvers: [{ name: 'alice', key: KEY_A }, { name: 'alice', key: KEY_B }] }))).toEqual(['approvers[1].name: duplicate approver name "alice" (also approvers[0])']);
  });

  it('leaves the people to the keyring when there is one', () => {
    const v = validateSpec(spec({ keyring: '/etc/meridian/approvers.yaml' }, { groups: ['sre'], approvals: 4 }));
    expect(v.ok && v.plan.approval).toEqual({ approvers: [], keyring: '/etc/meridian/approvers.yaml', signedByDefault: true });
  });
});
