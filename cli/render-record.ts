import type { RolloutRecord, RolloutView } from '../client/rollout-client';
import { howItEnded } from '../client/rollout-errors';

/** What the server recorded about a rollout no worker answers for: its last published phase and its execution. */
export function renderRecord(r: RolloutRecord): string {
  const state = r.closedAt ? `ended ${howItEnded(r)} at ${r.closedAt}` : `${r.phase} (last recorded; no worker answers for it)`;
  return [
    `${r.id}  ${state}`,
    `  ${[r.service, r.version].filter(Boolean).join(' ') || 'unknown service'} · regions ${r.regions.join(', ') || 'unknown'}`,
    `  started ${r.startedAt} · task queue "${r.taskQueue}" · ${r.historyLength} history events · workflow ${r.execution}`,
  ].join('\n');
}

/** The line above a closed rollout's final status. */
export function endedLine(s: RolloutView): string {
  return `${s.id} ended ${s.phase} at ${s.closedAt} (workflow ${s.execution})`;
}
