import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { MigrationsResult, ReconcileResult, RolloutActivities } from '../activities/types';
import type { RolloutPlan } from '../domain/plan';
import type { MigrationSpec } from '../domain/stateful';
import type { ReconcileCounts, Undo } from '../domain/status';
import { FAILURE } from '../domain/vocabulary';
import { databaseRef } from './database-stage';
import { PRESETS } from './presets';

const revert = proxyActivities<RolloutActivities>(PRESETS.revert);
const reconcile = proxyActivities<RolloutActivities>(PRESETS.reconcile);

type RevertUndo = Extract<Undo, { kind: 'revertMigrations' }>;
type ReconcileUndo = Extract<Undo, { kind: 'reconcileData' }>;

/** The `down` migrations newest first, then the schema must match its fingerprint from before the expand. */
export function revertMigrations(plan: RolloutPlan, rolloutId: string, u: RevertUndo): Promise<MigrationsResult> {
  const byId = new Map<string, MigrationSpec>((plan.migrations ?? []).map((m) => [m.id, m]));
  const missing = u.migrationIds.filter((id) => !byId.has(id));
  if (missing.length > 0) {
    throw ApplicationFailure.nonRetryable(`cannot revert ${missing.join(', ')} on ${u.database}: not in the rollout's migrations`, FAILURE.migrationUnknown);
  }
  return revert.revertMigrations.executeWithOptions({ ...PRESETS.revert, summary: `revert ${u.migrationIds.join(', ')} on ${u.database} in ${u.region}` }, [
    { ...databaseRef(plan, rolloutId, u.region), database: u.database, migrations: u.migrationIds.map((id) => byId.get(id)!), expected: u.fingerprint },
  ]);
}

/** The rows written between the canary's start and now, fixed in batches; resumes from its heartbeat after a lost worker. */
export function reconcileData(plan: RolloutPlan, rolloutId: string, u: ReconcileUndo): Promise<ReconcileResult> {
  const recipe = (plan.reconciliations ?? []).find((r) => r.name === u.recipe);
  if (!recipe) throw ApplicationFailure.nonRetryable(`cannot reconcile with recipe "${u.recipe}": not in the rollout's reconciliations`, FAILURE.recipeUnknown);
  return reconcile.reconcileData.executeWithOptions({ ...PRESETS.reconcile, summary: `reconcile ${recipe.name} on ${u.database} in ${u.region}` }, [
    {
      database: u.database,
      rolloutId,
      region: u.region,
      recipe,
      windowStart: u.windowStart,
      windowEnd: new Date().toISOString(),
      statementTimeoutMs: plan.database?.statementTimeout,
    },
  ]);
}

/** A finished undo's counts, for its record and the audit trail. */
export function countsOf(u: Undo, result: unknown): ReconcileCounts | undefined {
  if (u.kind !== 'reconcileData' || !result) return undefined;
  const r = result as ReconcileResult;
  return { found: r.found, fixed: r.fixed, remaining: r.remaining };
}
