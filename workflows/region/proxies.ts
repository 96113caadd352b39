import { CancellationScope, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { RolloutActivities } from '../../activities/types';
import type { Target } from '../../domain/spec';
import { mutateOptions, PRESETS } from '../presets';

/*
 * The activities a region stage calls, by what they do. Every call names its own options; the
 * SDK deep-merges them over the proxy's, so each proxy's base is part of what a call is scheduled
 * with and must not change.
 */

/** Looks at a region and changes nothing: its health, its analysis, its known-good. */
export const reads = proxyActivities<Pick<RolloutActivities, 'checkHealth' | 'runAnalysis' | 'snapshotRegion'>>(PRESETS.mutate);

/** Changes a region's workload or traffic; idempotent by key. */
export const changes = proxyActivities<Pick<RolloutActivities, 'deployCanary' | 'setWeight' | 'promote'>>(PRESETS.mutate);

/** Reads, changes and watches a region's feature flags; every change is keyed. */
export const flagCalls = proxyActivities<Pick<RolloutActivities, 'snapshotFlag' | 'applyFlag' | 'checkFlagDrift'>>(PRESETS.mutate);

/** Reads a region's database schema, on the migration preset (it waits behind a migration's lock). */
export const schemaReads = proxyActivities<Pick<RolloutActivities, 'schemaFingerprint'>>(PRESETS.migrate);

/** Changes a region's database schema; the ledger makes a repeat do nothing twice. */
export const migrations = proxyActivities<Pick<RolloutActivities, 'applyMigrations'>>(PRESETS.migrate);

/** Options of a call that changes the region's target: its time limit follows the target's progress deadline. */
export function changeOptions(target: Target, summary: string): ActivityOptions {
  return { ...mutateOptions(target), summary };
}

/**
 * A call whose result the undo depends on runs to completion even when the stage is cancelled, so
 * the undo the parent runs next never races a change still on its way.
 */
export function toCompletion<T>(fn: () => Promise<T>): Promise<T> {
  return CancellationScope.nonCancellable(fn);
}
