import type { AuditEntry, RegionStatus, RolloutStatus, ServiceStatus } from '../domain/status';
import { auditText, waitsText } from './render';
import type { TimedLine } from './timeline';

function regionKey(r: RegionStatus | ServiceStatus): string {
  return `${r.phase}|${r.weight}|${r.step ? `${r.step.index}/${r.step.total}` : ''}`;
}

function serviceKey(s: ServiceStatus): string {
  return `${regionKey(s)}|${(s.waitsFor ?? []).map((w) => `${w.service}:${w.until}`).join(',')}`;
}

/** `eu-west-1 checkout Pending 0% · waits for orders to be promoted` */
function serviceChange(s: ServiceStatus): string {
  const step = s.step ? ` step ${s.step.index + 1}/${s.step.total} ${s.step.kind}` : '';
  const waits = s.waitsFor?.length ? ` · ${waitsText(s.waitsFor)}` : '';
  return `${s.name} ${s.service} ${s.phase} ${s.weight}%${step}${waits}`;
}

function auditKey(e: AuditEntry): string {
  return `audit|${e.at}|${e.region ?? ''}|${e.service ?? ''}|${e.action}|${e.reason}`;
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
 * region (and in a release per service of a region) whose phase, weight, step or wait moved (at
 * `nowMs`, when the poll saw it), and every audit entry not seen before (at its own time).
 */
export function statusChanges(prev: RolloutStatus | undefined, next: RolloutStatus, nowMs: number): TimedLine[] {
  const lines: TimedLine[] = [];
  if (!prev || prev.phase !== next.phase || prev.wave.index !== next.wave.index) {
    lines.push({ at: nowMs, text: `${next.id} ${next.phase} wave ${next.wave.index + 1}/${next.wave.total} ${next.wave.name}` });
  }
  const before = new Map((prev?.regions ?? []).map((r) => [r.name, regionKey(r)]));
  const servicesBefore = new Map((prev?.regions ?? []).flatMap((r) => (r.services ?? []).map((x) => [`${r.name}/${x.service}`, serviceKey(x)])));
  for (const r of next.regions) {
    if (before.get(r.name) !== regionKey(r)) lines.push({ at: nowMs, text: regionChange(r) });
    for (const x of r.services ?? []) {
      if (servicesBefore.get(`${r.name}/${x.service}`) !== serviceKey(x)) lines.push({ at: nowMs, text: serviceChange(x) });
    }
  }
  const seen = new Set((prev?.audit ?? []).map(auditKey));
  for (const e of next.audit) if (!seen.has(auditKey(e))) lines.push(auditLine(e));
  return lines;
}
