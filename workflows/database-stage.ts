import { proxyActivities } from '@temporalio/workflow';
import type { MigrationsResult, RolloutActivities } from '../activities/types';
import { isStateful, type RolloutPlan } from '../domain/plan';
import type { MigrationPhase } from '../domain/stateful';
import type { MigrationRecord, Undo } from '../domain/status';
import { effectKey } from '../domain/steps';
import { PRESETS } from './presets';

const db = proxyActivities<RolloutActivities>(PRESETS.migrate);

export interface ExpandContext {
  plan: RolloutPlan;
  rolloutId: string;
  region: string;
  undo: () => Undo[];
  pushUndo: (u: Undo) => void;
  record: (action: string, reason: string, data?: Record<string, unknown>) => void;
  /** Runs a change to completion even when the stage is cancelled. */
  change: <T>(fn: () => Promise<T>) => Promise<T>;
}

/**
 * A stateful region's database, before its canary takes traffic: fingerprint the schema, push the
 * revert, apply the expand migrations, then push one reconciliation per recipe whose window starts
 * now. Nothing runs for a region without a database or a rollout without migrations or recipes.
 */
export async function expandDatabase(ctx: ExpandContext): Promise<MigrationRecord[]> {
  const { plan, region } = ctx;
  if (!isStateful(plan, region)) return [];
  const database = plan.regions[region]!.database!;
  const expands = (plan.migrations ?? []).filter((m) => m.phase === 'expand');
  let records: MigrationRecord[] = [];
  if (expands.length > 0) {
    const revertKey = effectKey(ctx.rolloutId, region, 'undo-migrations');
    if (!ctx.undo().some((u) => u.key === revertKey)) {
      const fingerprint = await ctx.change(() =>
        db.schemaFingerprint.executeWithOptions({ ...PRESETS.mutate, summary: `schema fingerprint of ${database} in ${region}` }, [{ database }]),
      );
      ctx.record('schema-fingerprint', `schema of ${database} recorded before the expand (${Object.keys(fingerprint.objects).length} objects, ${fingerprint.hash.slice(0, 12)})`);
      ctx.pushUndo({ kind: 'revertMigrations', region, key: revertKey, database, migrationIds: expands.map((m) => m.id).reverse(), fingerprint });
    }
    const result = await ctx.change(() =>
      db.applyMigrations.executeWithOptions({ ...PRESETS.migrate, summary: `expand ${database} in ${region}` }, [
        { ...databaseRef(plan, ctx.rolloutId, region), migrations: expands, phase: 'expand' },
      ]),
    );
    records = migrationRecords(result, 'expand');
    ctx.record('migrate', describeMigrations(result, 'expand'), { database, outcomes: result.outcomes });
  }
  for (const recipe of plan.reconciliations ?? []) {
    ctx.pushUndo({
      kind: 'reconcileData',
      region,
      key: effectKey(ctx.rolloutId, region, `undo-reconcile-${recipe.name}`),
      database,
      recipe: recipe.name,
      windowStart: new Date().toISOString(),
    });
  }
  return records;
}

/** Where a region's migrations run, with the rollout's session settings. */
export function databaseRef(plan: RolloutPlan, rolloutId: string, region: string) {
  return {
    database: plan.regions[region]!.database!,
    rolloutId,
    region,
    lockTimeoutMs: plan.database?.lockTimeout,
    statementTimeoutMs: plan.database?.statementTimeout,
  };
}

export function migrationRecords(result: MigrationsResult, phase: MigrationPhase): MigrationRecord[] {
  const at = new Date().toISOString();
  return result.outcomes.map((o) => ({ id: o.id, phase, action: o.action, at }));
}

/** `expand on orders-eu: applied 001-add-discount, 002-index; skipped 000-base (already applied by ...)`. */
export function describeMigrations(result: MigrationsResult, phase: MigrationPhase | 'revert'): string {
  const by = (action: string) => result.outcomes.filter((o) => o.action === action);
  const parts = [
    by('applied').length && `applied ${by('applied').map((o) => o.id).join(', ')}`,
    by('reverted').length && `reverted ${by('reverted').map((o) => o.id).join(', ')}`,
    ...by('skipped').map((o) => `skipped ${o.id} (${o.reason})`),
  ].filter(Boolean);
  return `${phase} on ${result.database}: ${parts.join('; ') || 'nothing to do'}`;
}
