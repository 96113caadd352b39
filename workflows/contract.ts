import { condition, proxyActivities } from '@temporalio/workflow';
import type { RolloutActivities } from '../activities/types';
import { rootMessage } from '../domain/errors';
import type { RolloutPlan } from '../domain/plan';
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
 * (NeedsAttention) while every region keeps the new version; `retry` runs the failed regions again
 * (the ledger skips what is done), `abort` gives up on the contract. Returns false on an abort.
 */
export async function applyContract(s: RolloutState): Promise<boolean> {
  const { plan } = s;
  const contracts = (plan.migrations ?? []).filter((m) => m.phase === 'contract');
  let pending = contractRegions(plan, s.order);
  s.record('contract', `every region is promoted and baked: applying ${contracts.map((m) => m.id).join(', ')} in ${pending.join(', ')}`);
  s.sync();
  for (;;) {
    const failed: { region: string; error: string }[] = [];
    await Promise.all(
      pending.map(async (region) => {
        try {
          const result = await db.applyMigrations.executeWithOptions({ ...PRESETS.migrate, summary: `contract ${plan.regions[region]!.database} in ${region}` }, [
            { ...databaseRef(plan, s.id, region), migrations: contracts, phase: 'contract' },
          ]);
          s.setRegion(region, { migrations: [...(s.region(region).migrations ?? []), ...migrationRecords(result, 'contract')] });
          s.record('migrate', describeMigrations(result, 'contract'), { region, data: { database: result.database, outcomes: result.outcomes } });
        } catch (err) {
          failed.push({ region, error: rootMessage(err) });
          s.record('contract-failed', rootMessage(err), { region });
        }
      }),
    );
    if (failed.length === 0) return true;
    pending = failed.map((f) => f.region);
    s.needsAttention = true;
    s.reason =
      `contract migrations failed: ${failed.map((f) => `${f.region}: ${f.error}`).join('; ')}. Every region runs ${plan.image} with the expand migrations; ` +
      `the code is not rolled back. Fix the cause, then run: meridian retry ${s.id} --by <you> (or abort to end without the contract)`;
    s.record('needs-attention', s.reason);
    s.retryCompensation = false;
    s.contractPending = true;
    s.sync();
    await condition(() => s.retryCompensation || s.abort !== undefined);
    s.contractPending = false;
    s.needsAttention = false;
    s.retryCompensation = false;
    s.reason = undefined;
    if (s.abort) return false;
  }
}
