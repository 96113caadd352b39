import type { AuditEntry, RegionStatus, RolloutStatus } from '../domain/status';
import { clockTime, renderAuditLine } from './render';

function regionKey(r: RegionStatus): string {
  return `${r.phase}|${r.weight}|${r.step ? `${r.step.index}/${r.step.total}` : ''}`;
}

function auditKey(e: AuditEntry): string {
  return `${e.at}|${e.region ?? ''}|${e.action}|${e.reason}`;
}

function regionChange(r: RegionStatus, at: string): string {
  const step = r.step ? ` step ${r.step.index + 1}/${r.step.total} ${r.step.kind}` : '';
  return `${at} ${r.name} ${r.phase} ${r.weight}%${step}`;
}

/**
 * What changed between two polls, as plain lines for logs and CI: the rollout's phase, one line per
 * region whose phase, weight or step moved, and every audit entry not seen before.
 */
export function statusChanges(prev: RolloutStatus | undefined, next: RolloutStatus, nowMs: number): string[] {
  const at = clockTime(new Date(nowMs).toISOString());
  const lines: string[] = [];
  if (!prev || prev.phase !== next.phase || prev.wave.index !== next.wave.index) {
    lines.push(`${at} ${next.id} ${next.phase} wave ${next.wave.index + 1}/${next.wave.total} ${next.wave.name}`);
  }
  const before = new Map((prev?.regions ?? []).map((r) => [r.name, regionKey(r)]));
  for (const r of next.regions) {
    if (before.get(r.name) !== regionKey(r)) lines.push(regionChange(r, at));
  }
  const seen = new Set((prev?.audit ?? []).map(auditKey));
  for (const e of next.audit) if (!seen.has(auditKey(e))) lines.push(renderAuditLine(e));
  return lines;
}
