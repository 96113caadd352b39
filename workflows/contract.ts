import { condition, proxyActivities } from '@temporalio/workflow';
import type { RolloutActivities } from '../activities/types';
import { rootMessage } from '../domain/errors';
import type { RolloutPlan } from '../domain/plan';
import type { MigrationSpec } from '../domain/stateful';
import { databaseRef, describeMigrations, migrationRecords } from './database-stage';
import { PRESETS } from './presets';
import type { RolloutState } from './rollout-state';

const db = proxyActivities<RolloutActivities>(PRESETS.migrate);

/** The regions whose databases take the contract migrations; none when the rollout has none. */
export function contractRegions(plan: RolloutPlan, order: string[]): string[] {
  if (!(plan.migrations ?? []).some((m) => m.phase === 'contract')) return [];
  return order.filter((n) => plan.regions[n]!.database);
}

/**
 * After every region is promoted and baked: the contract migrations in every region with a
 * database, in parallel. The code is never rolled back for them: a failure asks for a human
 * (contractPending) while every region keeps the new version; `retry` runs the failed regions again
 * (the ledger skips what is done), `abort` gives up on the contract. Returns false on an abort.
 */
export async function applyContract(s: RolloutState): Promise<boolean> {
  const { plan } = s;
  const contracts = (plan.migrations ?? []).filter((m) => m.phase === 'contract');
  let pending = contractRegions(plan, s.order);
  s.contractStarted(`every region is promoted and baked: applying ${contracts.map((m) => m.id).join(', ')} in ${pending.join(', ')}`, {
    migrations: contracts.map((m) => m.id),
    regions: pending,
  });
  for (;;) {
    const failed = await contractIn(s, pending, contracts);
    if (failed.length === 0) return true;
    pending = failed.map((f) => f.region);
    s.contractFailed(
      `contract migrations failed: ${failed.map((f) => `${f.region}: ${f.error}`).join('; ')}. Every region runs ${plan.image} with the expand migrations; ` +
        `the code is not rolled back. Fix the cause, then run: meridian retry ${s.id} --by <you> (or abort to end without the contract)`,
      failed,
    );
    await condition(() => s.retried('contract') || s.abort !== undefined);
    s.contractResumed();
    if (s.abort) return false;
  }
}

/** One pass of the contract migrations over `regions`, in parallel; the regions where they failed. */
async function contractIn(s: RolloutState, regions: string[], contracts: MigrationSpec[]): Promise<{ region: string; error: string }[]> {
  const { plan } = s;
  const failed: { region: string; error: string }[] = [];
  await Promise.all(
    regions.map(async (region) => {
      try {
        const result = await db.applyMigrations.executeWithOptions({ ...PRESETS.migrate, summary: `contract ${plan.regions[region]!.database} in ${region}` }, [
          { ...databaseRef(plan, s.id, region), migrations: contracts, phase: 'contract' },
        ]);
        s.setRegion(region, { migrations: [...(s.region(region).migrations ?? []), ...migrationRecords(result, 'contract')] });
        s.record('migrate', describeMigrations(result, 'contract'), { region, data: { database: result.database, outcomes: result.outcomes } });
      } catch (err) {
        failed.push({ region, error: rootMessage(err) });
        s.record('contract-failed', rootMessage(err), { region, data: { error: rootMessage(err) } });
      }
    }),
  );
  return failed;
}
