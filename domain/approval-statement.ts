/**
 * The statement an approver signs: exactly one opening of one gate, in one region of one run of one
 * rollout, by one named approver, valid for a short time. Plain text, one `key: value` per line, so
 * a person can read what they sign and anyone can check it again from the history alone.
 */

export const STATEMENT_HEADER = 'meridian-approval v1';

/** How far a signer's clock may run ahead of the workflow's. */
export const CLOCK_SKEW_MS = 5 * 60_000;
/** The longest a signed statement may stay valid. */
export const MAX_VALIDITY_MS = 24 * 60 * 60_000;
/** How long a statement `meridian approve --sign-with` makes stays valid, unless told otherwise. */
export const DEFAULT_VALIDITY_MS = 15 * 60_000;

export interface ApprovalStatement {
  rollout: string;
  run: string;
  region: string;
  service: string;
  gate: string;
  /** When the gate opened (its `since`): a signature for an earlier opening of the same gate does not count. */
  opened: string;
  approver: string;
  signedAt: string;
  expiresAt: string;
}

const FIELDS: [keyof ApprovalStatement, string][] = [
  ['rollout', 'rollout'],
  ['run', 'run'],
  ['region', 'region'],
  ['service', 'service'],
  ['gate', 'gate'],
  ['opened', 'gate-opened'],
  ['approver', 'approver'],
  ['signedAt', 'signed-at'],
  ['expiresAt', 'expires-at'],
];

export function formatStatement(s: ApprovalStatement): string {
  return [STATEMENT_HEADER, ...FIELDS.map(([key, label]) => `${label}: ${s[key]}`)].join('\n') + '\n';
}

export function parseStatement(text: string): { ok: ApprovalStatement } | { error: string } {
  const lines = text.replace(/\n$/, '').split('\n');
  if (lines[0] !== STATEMENT_HEADER) return { error: `the statement does not start with "${STATEMENT_HEADER}"` };
  if (lines.length !== FIELDS.length + 1) return { error: `the statement has ${lines.length - 1} fields, not ${FIELDS.length}` };
  const out: Partial<ApprovalStatement> = {};
  for (const [i, [key, label]] of FIELDS.entries()) {
    const line = lines[i + 1]!;
    if (!line.startsWith(`${label}: `)) return { error: `line ${i + 2} of the statement should be "${label}: …"` };
    out[key] = line.slice(label.length + 2);
  }
  const statement = out as ApprovalStatement;
  if (Number.isNaN(Date.parse(statement.signedAt)) || Number.isNaN(Date.parse(statement.expiresAt))) return { error: 'the statement\'s signed-at or expires-at is not a time' };
  return { ok: statement };
}

/** What a statement must say to approve this gate now; the first field that differs, or why it is out of time. */
export function statementProblem(s: ApprovalStatement, want: Omit<ApprovalStatement, 'signedAt' | 'expiresAt'>, now: number): string | undefined {
  for (const [key, label] of FIELDS) {
    if (key === 'signedAt' || key === 'expiresAt') continue;
    if (s[key] !== want[key]) return `the signed statement is for ${label} "${s[key]}", not "${want[key]}"`;
  }
  const signed = Date.parse(s.signedAt);
  const expires = Date.parse(s.expiresAt);
  if (expires - signed > MAX_VALIDITY_MS) return `the signed statement is valid for more than ${MAX_VALIDITY_MS / 3_600_000} hours; sign one that expires sooner`;
  if (signed > now + CLOCK_SKEW_MS) return `the signed statement was signed in the future (${s.signedAt}); check the signer's clock`;
  if (expires < now) return `the signed statement expired at ${s.expiresAt}; sign it again`;
  return undefined;
}
