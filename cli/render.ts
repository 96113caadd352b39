import { formatDuration } from '../domain/duration';
import type { AuditEntry, EdgeStatus, RegionStatus, RolloutStatus, ServiceStatus, SustainedProgress, Verdict } from '../domain/status';
import { auditData, type AuditAction } from '../domain/vocabulary';
import { renderDatabaseLines } from './render-data';

const BAR_WIDTH = 10;
const FAILING: Verdict['phase'][] = ['Failed', 'Inconclusive', 'Error'];
/** Audit actions that stop a rollout or a region; the summary explains a rollback with them. */
const ROLLBACK_CAUSES: ReadonlySet<AuditAction> = new Set<AuditAction>([
  'analysis-failed',
  'region-failed',
  'stage-error',
  'approval-timeout',
  'abort',
  'preflight-failed',
  'undo-failed',
  'needs-attention',
]);

/** Whole seconds, rounded down, so "healthy 7s" never claims time that has not passed. */
export function seconds(ms: number): string {
  return ms < 1000 ? '0s' : formatDuration(Math.floor(ms / 1000) * 1000);
}

/** `12:00:03Z`: UTC so every operator reads the same time. */
export function clockTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(11, 19)}Z`;
}

export function weightBar(weight: number): string {
  const w = Math.max(0, Math.min(100, weight));
  const filled = Math.round((w / 100) * BAR_WIDTH);
  return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${String(w).padStart(3)}%`;
}

export function renderSustained(s: SustainedProgress): string {
  const samples = s.samples >= s.minSamples ? `${s.samples} sample${s.samples === 1 ? '' : 's'}` : `${s.samples} of ${s.minSamples} samples`;
  const failed = s.failures > 0 ? `, ${s.failures} failed` : '';
  return `healthy ${seconds(s.healthyForMs)} of ${seconds(s.requiredMs)} (${samples}${failed})`;
}

export function latestFailingVerdict(region: RegionStatus): Verdict | undefined {
  return [...region.verdicts].reverse().find((v) => FAILING.includes(v.phase));
}

function formatValue(value: unknown): string {
  return typeof value === 'number' ? String(Number(value.toPrecision(4))) : String(value);
}

function regionLine(r: RegionStatus, nameWidth: number, nowMs: number): string[] {
  const parts = [r.name.padEnd(nameWidth), r.phase.padEnd(16), weightBar(r.weight)];
  if (r.step) parts.push(`step ${r.step.index + 1}/${r.step.total} ${r.step.kind}`);
  if (r.sustained && r.step?.kind === 'analysis') parts.push(renderSustained(r.sustained));
  if (r.waitingUntil) {
    const left = Date.parse(r.waitingUntil) - nowMs;
    parts.push(left > 0 ? `waiting ${seconds(left)} more, until ${clockTime(r.waitingUntil)}` : `due at ${clockTime(r.waitingUntil)}`);
  }
  const lines = [`  ${parts.join('  ').trimEnd()}`];
  const failing = latestFailingVerdict(r);
  const indent = ' '.repeat(nameWidth + 4);
  if (failing) lines.push(`${indent}${failing.phase.toLowerCase()}: ${failing.reason}`);
  if (r.reason && r.reason !== failing?.reason) lines.push(`${indent}${r.reason}`);
  for (const [key, f] of Object.entries(r.flags ?? {})) lines.push(`${indent}flag ${key}: ${f.variant} for ${f.fraction}% of users`);
  for (const svc of r.services ?? []) lines.push(...serviceLine(svc, nameWidth));
  return lines;
}

/** `waits for orders to be promoted and ledger to be taking canary traffic` */
export function waitsText(waitsFor: NonNullable<ServiceStatus['waitsFor']>): string {
  return `waits for ${waitsFor.map((w) => `${w.service} to be ${w.until === 'canary' ? 'taking canary traffic' : w.until}`).join(' and ')}`;
}

/** A release's service inside its region's block: `    · orders 2.0.0  Progressing  [####] 25%  step 3/5 setWeight`. */
function serviceLine(svc: ServiceStatus, nameWidth: number): string[] {
  const parts = [`${' '.repeat(nameWidth + 2)}· ${`${svc.service} ${svc.version}`.padEnd(18)}`, svc.phase.padEnd(16), weightBar(svc.weight)];
  if (svc.step) parts.push(`step ${svc.step.index + 1}/${svc.step.total} ${svc.step.kind}`);
  const lines = [`  ${parts.join('  ').trimEnd()}`];
  const indent = ' '.repeat(nameWidth + 8);
  if (svc.waitsFor?.length) lines.push(`${indent}${waitsText(svc.waitsFor)}`);
  else if (svc.reason) lines.push(`${indent}${svc.reason}`);
  return lines;
}

export function approveCommand(id: string, region: string, gate: string, service?: string, signed?: boolean): string {
  return `meridian approve ${id} --region ${region}${service ? ` --service ${service}` : ''} --gate ${gate} --by <you>${signed ? ' --sign-with ~/.ssh/id_ed25519' : ''}`;
}

/** Who may approve a gate, how many must, and who did so far. */
function gateTerms(p: RolloutStatus['pendingApprovals'][number]): string {
  const who = [...(p.approvers ?? []), ...(p.groups ?? []).map((g) => `group ${g}`)];
  const count = p.approvals ? `, ${p.approvedBy?.length ?? 0} of ${p.approvals} approvals${p.approvedBy?.length ? ` (${p.approvedBy.join(', ')})` : ''}` : '';
  return `${who.length ? `, approvers: ${who.join(', ')}` : ''}${count}${p.signed ? ', signed' : ''}`;
}

/** The whole rollout at a glance: header, one block per region, pending approvals, and the reason once it ended. */
export function renderStatus(status: RolloutStatus, nowMs: number): string {
  const elapsed = (status.endedAt ? Date.parse(status.endedAt) : nowMs) - Date.parse(status.startedAt);
  const lines = [
    `${status.id}  ${status.phase}  wave ${status.wave.index + 1}/${status.wave.total} ${status.wave.name}`,
    `  ${status.service} ${status.version}  ${status.image}`,
    `  policy ${status.failurePolicy}, ${status.endedAt ? 'took' : 'running for'} ${seconds(Math.max(0, elapsed))}`,
    '',
  ];
  const nameWidth = Math.max(6, ...status.regions.map((r) => r.name.length));
  for (const r of status.regions) lines.push(...regionLine(r, nameWidth, nowMs));
  if (status.pendingApprovals.length > 0) {
    lines.push('', 'Waiting for approval:');
    for (const p of status.pendingApprovals) {
      const timeout = p.timeoutAt ? `, times out at ${clockTime(p.timeoutAt)}` : '';
      lines.push(`  ${p.region}${p.service ? ` ${p.service}` : ''} gate "${p.gate}" since ${clockTime(p.since)}${timeout}${gateTerms(p)}`);
      lines.push(`    ${approveCommand(status.id, p.region, p.gate, p.service, p.signed)}`);
    }
  }
  const baselines = Object.entries(status.baselines ?? {});
  if (baselines.length > 0) {
    lines.push('', 'Baselines (before any change):');
    for (const [region, metrics] of baselines) {
      lines.push(`  ${region.padEnd(nameWidth)}  ${Object.entries(metrics).map(([m, v]) => `${m}=${Number(v.toPrecision(4))}`).join('  ')}`);
    }
  }
  lines.push(...renderDatabaseLines(status, nameWidth));
  lines.push(...renderEdgeLines(status.edges ?? []));
  if (status.reason) lines.push('', `Reason: ${status.reason}`);
  return lines.join('\n');
}

/**
 * `  eu (eu)  eu-west-1 0% (normally 50%, drained)  eu-central-1 100% (normally 50%)` per edge, its
 * mirrors, and the differences while someone else's change holds the rollout.
 */
export function renderEdgeLines(edges: EdgeStatus[]): string[] {
  if (edges.length === 0) return [];
  const lines = ['', 'Edges (share of each edge\'s traffic):'];
  for (const e of edges) {
    const regions = Object.keys({ ...e.normal, ...e.shares }).map((r) => {
      const [now, normal, mirror] = [e.shares[r] ?? 0, e.normal[r] ?? 0, e.mirrors[r] ?? 0];
      const notes = [
        ...(now !== normal ? [`normally ${normal}%`] : []),
        ...(e.drained.includes(r) ? ['drained'] : []),
        ...(mirror > 0 ? [`mirrors ${mirror}% to its canary`] : []),
      ];
      return `${r} ${now}%${notes.length ? ` (${notes.join(', ')})` : ''}`;
    });
    lines.push(`  ${e.name} (${e.residency})  ${regions.join('  ')}`);
    if (e.drift) lines.push(`    changed outside Meridian: ${e.drift.join('; ')}; resume accepts it, abort restores the edge`);
  }
  return lines;
}

/** `12:00:03Z us-east-1 analysis-failed: <reason> [error_rate=0.08] (by alice)` */
export function renderAuditLine(entry: AuditEntry): string {
  return `${clockTime(entry.at)} ${auditText(entry)}`;
}

/** An audit entry without its time: `us-east-1 analysis-failed: <reason> [error_rate=0.08] (by alice)`. */
export function auditText(entry: AuditEntry): string {
  const where = `${entry.region ? `${entry.region} ` : ''}${entry.service ? `${entry.service} ` : ''}`;
  const values = entry.data?.values;
  const measured =
    values && typeof values === 'object'
      ? ` [${Object.entries(values as Record<string, unknown>)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `${k}=${formatValue(v)}`)
          .join(', ')}]`
      : '';
  const actor = entry.actor && entry.actor !== 'meridian' ? ` (by ${entry.actor})` : '';
  return `${where}${entry.action}: ${entry.reason}${measured}${actor}`;
}

/** The audit entries that stopped the rollout, without repeating the same reason twice. */
export function rollbackCauses(status: RolloutStatus): AuditEntry[] {
  const seen = new Set<string>();
  return status.audit.filter((e) => {
    if (!ROLLBACK_CAUSES.has(e.action)) return false;
    if (auditData(e, 'approval-timeout')?.onTimeout === 'proceed') return false;
    const key = `${e.region ?? ''}|${e.reason}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function regionsIn(status: RolloutStatus, phases: RegionStatus['phase'][]): string[] {
  return status.regions.filter((r) => phases.includes(r.phase)).map((r) => r.name);
}

/** After the end: which regions were promoted, which were rolled back, and why. */
export function renderSummary(status: RolloutStatus): string {
  const list = (names: string[]) => (names.length > 0 ? names.join(', ') : 'none');
  const lines = [`${status.id} ended ${status.phase}${status.reason ? `: ${status.reason}` : ''}`];
  lines.push(`  promoted:        ${list(regionsIn(status, ['Promoted']))}`);
  lines.push(`  rolled back:     ${list(regionsIn(status, ['RolledBack']))}`);
  const attention = regionsIn(status, ['NeedsAttention']);
  if (attention.length > 0) lines.push(`  needs attention: ${list(attention)}`);
  const notStarted = regionsIn(status, ['Cancelled', 'Pending']);
  if (notStarted.length > 0) lines.push(`  not changed:     ${list(notStarted)}`);
  const causes = rollbackCauses(status);
  if (causes.length > 0) {
    lines.push('', 'Why:');
    for (const e of causes) lines.push(`  ${renderAuditLine(e)}`);
  }
  const failedUndos = status.compensation.filter((u) => u.outcome === 'failed');
  if (failedUndos.length > 0) {
    lines.push('', 'Compensation that did not complete:');
    for (const u of failedUndos) lines.push(`  ${u.undo.region} ${u.undo.kind} after ${u.attempts} attempts: ${u.error ?? 'unknown error'}`);
  }
  return lines.join('\n');
}
