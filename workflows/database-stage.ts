import type { MigrationsResult } from '../activities/types';
import type { RolloutPlan } from '../domain/plan';
import type { MigrationPhase } from '../domain/stateful';
import type { MigrationRecord } from '../domain/status';

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
