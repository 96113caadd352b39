import { isStateful } from '../../domain/plan';
import type { MigrationRecord } from '../../domain/status';
import { databaseRef, describeMigrations, migrationRecords } from '../database-stage';
import { PRESETS } from '../presets';
import { migrations, schemaReads, toCompletion } from './proxies';
import type { RegionStage } from './stage';

/**
 * A stateful region's database, before its canary takes traffic: fingerprint the schema, push the
 * revert, apply the expand migrations, then push one reconciliation per recipe whose window starts
 * now. Nothing runs for a region without a database or a rollout without migrations or recipes.
 */
export async function expandDatabase(stage: RegionStage): Promise<void> {
  const { plan, name: region } = stage;
  if (!isStateful(plan, region)) return;
  const database = stage.region.database!;
  const migrated = await applyExpand(stage, database);
  if (migrated.length > 0) stage.update({ migrations: [...(stage.status.migrations ?? []), ...migrated] });
  for (const recipe of plan.reconciliations ?? []) {
    stage.pushUndo({
      kind: 'reconcileData',
      region,
      key: stage.key(`undo-reconcile-${recipe.name}`),
      database,
      recipe: recipe.name,
      windowStart: new Date().toISOString(),
    });
  }
}

/** Records the schema and pushes its revert (once per region, even when the stage runs again), then applies the expand. */
async function applyExpand(stage: RegionStage, database: string): Promise<MigrationRecord[]> {
  const { plan, name: region } = stage;
  const expands = (plan.migrations ?? []).filter((m) => m.phase === 'expand');
  if (expands.length === 0) return [];
  const revertKey = stage.key('undo-migrations');
  if (!stage.undo.some((u) => u.key === revertKey)) {
    const fingerprint = await toCompletion(() =>
      schemaReads.schemaFingerprint.executeWithOptions({ ...PRESETS.mutate, summary: `schema fingerprint of ${database} in ${region}` }, [{ database }]),
    );
    stage.record('schema-fingerprint', `schema of ${database} recorded before the expand (${Object.keys(fingerprint.objects).length} objects, ${fingerprint.hash.slice(0, 12)})`);
    stage.pushUndo({ kind: 'revertMigrations', region, key: revertKey, database, migrationIds: expands.map((m) => m.id).reverse(), fingerprint });
  }
  const result = await toCompletion(() =>
    migrations.applyMigrations.executeWithOptions({ ...PRESETS.migrate, summary: `expand ${database} in ${region}` }, [
      { ...databaseRef(plan, stage.rolloutId, region), migrations: expands, phase: 'expand' },
    ]),
  );
  stage.record('migrate', describeMigrations(result, 'expand'), { database, outcomes: result.outcomes });
  return migrationRecords(result, 'expand');
}
