import type { PendingApproval, RegionPhase, RegionStatus, RolloutPhase } from './status';

/** Region phases in which the region's stage (a child workflow) runs, takes commands and writes its own status. */
export const STAGE_PHASES: ReadonlySet<RegionPhase> = new Set<RegionPhase>([
  'WaitingForWindow',
  'WaitingForHealth',
  'Progressing',
  'Paused',
  'AwaitingApproval',
  'Inconclusive',
  'Baking',
]);

export interface PhaseInputs {
  started: boolean;
  ended?: RolloutPhase;
  compensating: boolean;
  needsAttention: boolean;
  paused: boolean;
  regions: RegionStatus[];
  pendingApprovals: PendingApproval[];
}

/** The rollout's phase, derived from its state so it can never disagree with it. */
export function derivePhase(s: PhaseInputs): RolloutPhase {
  if (s.ended) return s.ended;
  if (s.needsAttention) return 'NeedsAttention';
  if (s.compensating) return 'RollingBack';
  if (!s.started) return 'Pending';
  if (s.paused || s.regions.some((r) => r.phase === 'Paused' || r.phase === 'Inconclusive')) return 'Paused';
  if (s.pendingApprovals.length > 0) return 'AwaitingApproval';
  return 'Progressing';
}
