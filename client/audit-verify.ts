import { reverify, type SignatureEvidence } from '../domain/approval-policy';
import type { AuditEntry } from '../domain/status';
import { auditData } from '../domain/vocabulary';

/** One approval of the audit trail, checked again from what the trail holds. */
export interface SignatureCheck {
  at: string;
  approver: string;
  region?: string;
  service?: string;
  gate?: string;
  /** Absent for an unsigned approval. */
  fingerprint?: string;
  /** `unverifiable`: signed, but the trail holds no key to check it with (one pieced together from history events). */
  verdict: 'verified' | 'failed' | 'unsigned' | 'unverifiable';
  /** Why it failed. */
  problem?: string;
}

export interface VerifyReport {
  rollout: string;
  checks: SignatureCheck[];
  verified: number;
  failed: number;
  unsigned: number;
  unverifiable: number;
}

/**
 * Every approval in an audit trail checked again with nothing but the trail: each signature over
 * its statement with the key it names, the statement naming this rollout and the entry's approver,
 * region, service and gate, and the key being the one the rollout pinned for that approver.
 */
export function verifyAuditTrail(rollout: string, audit: readonly AuditEntry[]): VerifyReport {
  const pinned = new Map<string, string | undefined>();
  for (const e of audit) for (const a of auditData(e, 'approvers-pinned')?.approvers ?? []) pinned.set(a.name, a.fingerprint);
  const checks = audit.flatMap((e): SignatureCheck[] => {
    const data = auditData(e, 'approve');
    if (!data || e.action !== 'approve') return [];
    const base = { at: e.at, approver: e.actor, region: e.region, ...(data.service ? { service: data.service } : {}), ...(data.gate ? { gate: data.gate } : {}) };
    if (!data.signature) return [{ ...base, verdict: 'unsigned' }];
    if (!data.signature.key) return [{ ...base, verdict: 'unverifiable', problem: 'the entry holds the signature but not the key it was checked with' }];
    const problem = signatureProblem(rollout, e, data.signature, pinned);
    return [{ ...base, fingerprint: data.signature.fingerprint, verdict: problem ? 'failed' : 'verified', ...(problem ? { problem } : {}) }];
  });
  const count = (v: SignatureCheck['verdict']) => checks.filter((c) => c.verdict === v).length;
  return { rollout, checks, verified: count('verified'), failed: count('failed'), unsigned: count('unsigned'), unverifiable: count('unverifiable') };
}

function signatureProblem(rollout: string, e: AuditEntry, evidence: SignatureEvidence, pinned: Map<string, string | undefined>): string | undefined {
  const checked = reverify(evidence);
  if ('error' in checked) return checked.error;
  const statement = checked.ok.statement;
  if ('error' in statement) return statement.error;
  const s = statement.ok;
  const data = auditData(e, 'approve')!;
  const expected: [string, string | undefined, string | undefined][] = [
    ['rollout', s.rollout, rollout],
    ['approver', s.approver, e.actor],
    ['region', s.region, e.region],
    ['gate', s.gate, data.gate],
    ...(data.service ? [['service', s.service, data.service] as [string, string, string]] : []),
  ];
  for (const [field, signed, recorded] of expected) {
    if (signed !== recorded) return `the signed statement names ${field} "${signed}", the audit entry "${recorded}"`;
  }
  if (pinned.has(e.actor) && pinned.get(e.actor) !== checked.ok.fingerprint) {
    return `signed with key ${checked.ok.fingerprint}, but the rollout pinned ${pinned.get(e.actor) ?? 'no key'} for ${e.actor}`;
  }
  return undefined;
}
