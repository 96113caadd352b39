import type { AuditEntry, RegionStatus, RolloutStatus } from '../domain/status';
import { auditText } from './render';
import type { TimedLine } from './timeline';

function regionKey(r: RegionStatus): string {
  return `${r.phase}|${r.weight}|${r.step ? `${r.step.index}/${r.step.total}` : ''}`;
}

function auditKey(e: AuditEntry): string {
  return `audit|${e.at}|${e.region ?? ''}|${e.action}|${e.reason}`;
}

function regionChange(r: RegionStatus): string {
  const step = r.step ? ` step ${r.step.index + 1}/${r.step.total} ${r.step.kind}` : '';
  return `${r.name} ${r.phase} ${r.weight}%${step}`;
}

/** An audit entry as a line at its own time, keyed so that seeing it again prints nothing. */
export function auditLine(e: AuditEntry): TimedLine {
  return { at: Date.parse(e.at), text: auditText(e), key: auditKey(e) };
}

/**
 * What changed between two polls, as timed lines for logs and CI: the rollout's phase, one line per
 * region whose phase, weight or step moved (at `nowMs`, when the poll saw it), and every audit entry
 * not seen before (at its own time).
 */
export function statusChanges(prev: RolloutStatus | undefined, next: RolloutStatus, nowMs: number): TimedLine[] {
  const lines: TimedLine[] = [];
  if (!prev || prev.phase !== next.phase || prev.wave.index !== next.wave.index) {
    lines.push({ at: nowMs, text: `${next.id} ${next.phase} wave ${next.wave.index + 1}/${next.wave.total} ${next.wave.name}` });
  }
  const before = new Map((prev?.regions ?? []).map((r) => [r.name, regionKey(r)]));
  for (const r of next.regions) {
    if (before.get(r.name) !== regionKey(r)) lines.push({ at: nowMs, text: regionChange(r) });
  }
  const seen = new Set((prev?.audit ?? []).map(auditKey));
  for (const e of next.audit) if (!seen.has(auditKey(e))) lines.push(auditLine(e));
  return lines;
}
