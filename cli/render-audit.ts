import type { AuditEvidence, AuditTrail, AuditTrailEntry } from '../client/audit-trail';

/** The formats `meridian audit` writes. */
export const AUDIT_FORMATS = ['text', 'jsonl', 'csv'] as const;
export type AuditFormat = (typeof AUDIT_FORMATS)[number];

/** The columns of jsonl and csv, in order. */
export const AUDIT_COLUMNS = ['at', 'actor', 'action', 'region', 'service', 'reason', 'data', 'evidence'] as const;

export function renderAudit(trail: AuditTrail, format: AuditFormat): string {
  switch (format) {
    case 'jsonl':
      return trail.entries.map((e) => JSON.stringify(row(e))).join('\n');
    case 'csv':
      return [AUDIT_COLUMNS.join(','), ...trail.entries.map(csvLine)].join('\n');
    case 'text':
      return [trailHeading(trail), ...trail.entries.map(textLine)].join('\n');
  }
}

/** One entry with every column present; absent region, service and data are null. */
function row(e: AuditTrailEntry): Record<(typeof AUDIT_COLUMNS)[number], unknown> {
  return { at: e.at, actor: e.actor, action: e.action, region: e.region ?? null, service: e.service ?? null, reason: e.reason, data: e.data ?? null, evidence: e.evidence };
}

function csvLine(e: AuditTrailEntry): string {
  const r = row(e);
  return AUDIT_COLUMNS.map((c) => {
    const v = r[c];
    if (v === null || v === undefined) return '';
    return csvField(typeof v === 'string' ? v : JSON.stringify(v));
  }).join(',');
}

/** RFC 4180: a field with a comma, a quote, a line break or edge spaces goes in quotes, its quotes doubled. */
export function csvField(value: string): string {
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** `rollout/cart/3.1.0 Succeeded: 24 entries, from its history (the rollout's result)`. */
function trailHeading(t: AuditTrail): string {
  const where =
    t.source === 'query'
      ? 'from its status query'
      : t.from === 'events'
        ? `from its history's events, partial (no final status in history${t.worker ? `; ${t.worker.polling ? 'no worker answered' : 'no worker polls its task queue'}` : ''}${t.unanswered ? `; the status query failed: ${t.unanswered}` : ''}): entries the rollout kept only in memory are missing`
        : `from its history (the ${t.from === 'result' ? "rollout's result" : 'details of the failure it ended with'})`;
  const closed = t.closedBy ? `; terminated${t.closedBy.identity ? ` by ${t.closedBy.identity}` : ''}${t.closedBy.reason ? `: ${t.closedBy.reason}` : ''}` : '';
  return `# ${t.id} ${t.phase ?? t.execution}: ${t.entries.length} entries, ${where}${closed}`;
}

/** `2026-05-01T12:00:03.120Z alice approve eu-west-1: graphs are flat {gate: go-live} [error_rate 0.004 <= 0.02 Successful] signed SHA256:...` */
function textLine(e: AuditTrailEntry): string {
  const where = [e.region, e.service].filter(Boolean).join('/');
  const evidence = e.evidence.length ? ` [${e.evidence.map(evidenceText).join('; ')}]` : '';
  const signature = signatureOf(e);
  return `${e.at} ${e.actor} ${e.action}${where ? ` ${where}` : ''}: ${oneLine(e.reason)}${evidence}${signature ? ` signed ${signature}` : ''}`;
}

/** A reason with line breaks, written as `\\n` so each entry stays one line. */
const oneLine = (text: string) => text.replace(/\r?\n/g, '\\n');

function evidenceText(v: AuditEvidence): string {
  const bounds = [v.threshold.min === undefined ? '' : `>= ${v.threshold.min}`, v.threshold.max === undefined ? '' : `<= ${v.threshold.max}`].filter(Boolean).join(' ');
  const baseline = v.baseline === undefined ? '' : ` baseline ${v.baseline}`;
  return `${v.metric} ${v.value ?? 'no data'}${bounds ? ` ${bounds}` : ''}${baseline} ${v.verdict}`;
}

/** The signing key's fingerprint, where the entry carries a signature. */
function signatureOf(e: AuditTrailEntry): string | undefined {
  const s = e.data?.signature as { fingerprint?: unknown; key?: unknown } | undefined;
  if (!s || typeof s !== 'object') return undefined;
  return typeof s.fingerprint === 'string' ? s.fingerprint : 'by an unnamed key';
}
