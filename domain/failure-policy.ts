/**
 * The rollout's answer to a failed region stage, as data: the effects to apply at once, and what
 * the failed region does next. The workflow applies the effects with the same machinery as an
 * operator's command.
 */
import type { Effect } from './commands';
import type { FailurePolicy } from './spec';
import { FAILURE, type FailureType } from './vocabulary';

export interface RegionFailure {
  region: string;
  /** The stage's failure message, for the audit trail and the rollout's reason. */
  reason: string;
  /** The stage's failure type; absent when it failed without an ApplicationFailure. */
  type?: FailureType | string;
}

/**
 * - `stop`: every stage stops and every touched region rolls back (an approval that timed out with
 *   onTimeout: abort, under any policy; or rollback-all);
 * - `rollbackRegion`: the failed region rolls back now, the others of its wave go on, no later wave starts;
 * - `hold`: the pause policy; the failed region's traffic goes back to stable and it waits for
 *   resume or retry (its stage runs again) or abort.
 */
export type FailureReaction =
  | { kind: 'stop'; effects: Effect[] }
  | { kind: 'rollbackRegion'; effects: Effect[] }
  | { kind: 'hold'; effects: Effect[] };

export function reactToFailure(policy: FailurePolicy, f: RegionFailure): FailureReaction {
  const failed: Effect = {
    kind: 'audit',
    entry: { action: 'region-failed', actor: 'meridian', region: f.region, reason: f.reason, ...(f.type ? { data: { failure: f.type } } : {}) },
  };
  const recorded: Effect = { kind: 'recordFailure', region: f.region, reason: f.reason };
  const stopEverything = (effect: Effect): FailureReaction => ({
    kind: 'stop',
    effects: [failed, recorded, effect, { kind: 'cutTraffic' }, { kind: 'cancelWave' }, { kind: 'publish' }],
  });
  if (f.type === FAILURE.approvalTimedOut) return stopEverything({ kind: 'stop', abort: { reason: f.reason, by: 'meridian' } });
  switch (policy) {
    case 'rollback-all':
      return stopEverything({ kind: 'stop' });
    case 'rollback-region':
      return { kind: 'rollbackRegion', effects: [failed, recorded] };
    case 'pause':
      return { kind: 'hold', effects: [failed] };
  }
}
