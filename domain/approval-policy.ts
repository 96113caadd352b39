/**
 * Who may approve a gate: the gate's approvers and groups, its signature requirement, separation of
 * duties from the rollout's starter, and how many distinct approvers it needs. Pure, so the
 * workflow's update validator and `meridian audit --verify` reach the same answer.
 */
import { formatStatement, parseStatement, statementProblem } from './approval-statement';
import { parsePublicKey, verifySshSignature } from './ssh-signature';
import type { PendingApproval } from './status';

/** One person who may approve, as the spec or a keyring names them. */
export interface Approver {
  name: string;
  /** Their SSH Ed25519 public key (`ssh-ed25519 AAAA…`); without one they can only approve unsigned gates. */
  key?: string;
  groups?: string[];
}

/** An approver as the rollout pinned them before any region started. */
export interface PinnedApprover extends Approver {
  fingerprint?: string;
}

/** What the rollout trusts, held in workflow state from preflight on. */
export interface ApprovalTrust {
  startedBy: string;
  approvers: PinnedApprover[];
  /** The worker's keyring is enforced: every gate needs a signature by a key in it. */
  enforced: boolean;
}

/** The facts of the moment an approval arrives. */
export interface ApprovalContext extends ApprovalTrust {
  rolloutId: string;
  runId: string;
  /** The rollout's service; a release's gates name their own. */
  service: string;
  /** Workflow time, in ms. */
  now: number;
}

export interface SignedApproval {
  /** The statement as signed (approval-statement.ts). */
  statement: string;
  /** The armored SSH signature of the statement, namespace meridian-approval. */
  signature: string;
}

/** A verified signature, kept in the audit trail so it can be checked again from the history. */
export interface SignatureEvidence extends SignedApproval {
  key: string;
  fingerprint: string;
}

/** A waiting gate as the command table sees it. */
export type GateFacts = Pick<PendingApproval, 'gate' | 'service' | 'since' | 'approvers' | 'groups' | 'approvals' | 'signed' | 'allowSelfApproval' | 'approvedBy'>;

export interface AcceptedApproval {
  signature?: SignatureEvidence;
  selfApproval: boolean;
  /** Distinct approvers with this one, and how many the gate needs. */
  count: number;
  needed: number;
}

type Checked = { refusal: string } | { accepted: AcceptedApproval };

export const signatureRequired = (gate: GateFacts, trust: ApprovalTrust) => gate.signed === true || trust.enforced;

/** Whether `by` may approve `gate` in `region` now, with the signature they brought. */
export function checkApproval(gate: GateFacts, region: string, req: { by: string; signature?: SignedApproval }, ctx: ApprovalContext): Checked {
  const refuse = (refusal: string): Checked => ({ refusal });
  const where = `gate "${gate.gate}" in ${region}`;
  const person = ctx.approvers.find((a) => a.name === req.by);
  if ((gate.approvers || gate.groups) && !eligible(gate, req.by, person)) {
    const who = [...(gate.approvers ?? []), ...(gate.groups ?? []).map((g) => `group ${g}`)].join(', ');
    return refuse(`"${req.by}" may not approve ${where} (approvers: ${who})`);
  }
  const selfApproval = req.by === ctx.startedBy;
  if (selfApproval && !gate.allowSelfApproval) return refuse(`"${req.by}" started this rollout and may not approve its own ${where}; another approver must, or the gate sets allowSelfApproval: true`);
  if (gate.approvedBy?.includes(req.by)) return refuse(`"${req.by}" already approved ${where}; it needs ${gate.approvals} distinct approvers`);
  let signature: SignatureEvidence | undefined;
  if (req.signature) {
    const verified = verifyApproval(gate, region, req.by, req.signature, person, ctx);
    if ('error' in verified) return refuse(`the signature of "${req.by}" for ${where} is refused: ${verified.error}`);
    signature = verified.ok;
  } else if (signatureRequired(gate, ctx)) {
    return refuse(`${where} needs a signed approval: meridian approve ${ctx.rolloutId} --region ${region} --by ${req.by} --sign-with ~/.ssh/id_ed25519`);
  }
  const needed = gate.approvals ?? 1;
  return { accepted: { ...(signature ? { signature } : {}), selfApproval, count: (gate.approvedBy?.length ?? 0) + 1, needed } };
}

function eligible(gate: GateFacts, by: string, person: Approver | undefined): boolean {
  if (gate.approvers?.includes(by)) return true;
  return (person?.groups ?? []).some((g) => gate.groups?.includes(g));
}

/** The statement is exactly this gate's, in time, and signed by the approver's pinned key. */
function verifyApproval(gate: GateFacts, region: string, by: string, signed: SignedApproval, person: Approver | undefined, ctx: ApprovalContext): { ok: SignatureEvidence } | { error: string } {
  if (!person?.key) return { error: `the rollout pins no key for "${by}"; add it to the spec's approvers or the worker's keyring` };
  const key = parsePublicKey(person.key);
  if ('error' in key) return { error: `the pinned key of "${by}": ${key.error}` };
  const parsed = parseStatement(signed.statement);
  if ('error' in parsed) return parsed;
  const problem = statementProblem(parsed.ok, expectedStatement(gate, region, by, ctx), ctx.now);
  if (problem) return { error: problem };
  const verified = verifySshSignature(signed.statement, signed.signature, key.ok);
  if ('error' in verified) return verified;
  return { ok: { ...signed, key: person.key, fingerprint: verified.ok.fingerprint } };
}

/** Every field of the statement this gate's approval must carry, but its times. */
export function expectedStatement(gate: GateFacts, region: string, by: string, ctx: Pick<ApprovalContext, 'rolloutId' | 'runId' | 'service'>) {
  return { rollout: ctx.rolloutId, run: ctx.runId, region, service: gate.service ?? ctx.service, gate: gate.gate, opened: gate.since, approver: by };
}

/** The statement to sign for this gate, valid from `now` for `validForMs`. */
export function approvalStatement(gate: GateFacts, region: string, by: string, ctx: Pick<ApprovalContext, 'rolloutId' | 'runId' | 'service'>, now: number, validForMs: number): string {
  return formatStatement({
    ...expectedStatement(gate, region, by, ctx),
    signedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + validForMs).toISOString(),
  });
}

/**
 * A signature from an audit trail checked again with nothing but what the entry holds: the
 * statement, the signature and the key it names. The fingerprint must be the key's.
 */
export function reverify(evidence: SignatureEvidence): { ok: { fingerprint: string; statement: ReturnType<typeof parseStatement> } } | { error: string } {
  const key = parsePublicKey(evidence.key);
  if ('error' in key) return key;
  if (key.ok.fingerprint !== evidence.fingerprint) return { error: `the entry names fingerprint ${evidence.fingerprint}, but its key is ${key.ok.fingerprint}` };
  const verified = verifySshSignature(evidence.statement, evidence.signature, key.ok);
  if ('error' in verified) return verified;
  return { ok: { fingerprint: verified.ok.fingerprint, statement: parseStatement(evidence.statement) } };
}
