import { ApplicationFailure } from '@temporalio/common';
import { FAILURE } from '../domain/vocabulary';
import type { Env } from './postgres/connections';
import { diffFingerprints, schemaFingerprint } from './postgres/fingerprint';
import { applyMigrations, revertMigrations } from './postgres/migrations';
import { reconcile } from './postgres/reconcile';
import type { StatefulActivities } from './types';

/** The database side of a stateful rollout; connections are resolved by name from `env` (the process environment). */
export function createStatefulActivities(env?: Env): StatefulActivities {
  return {
    schemaFingerprint: (input) => schemaFingerprint(input.database, { env }),
    applyMigrations: (input) => applyMigrations(input, { env }),
    /**
     * Runs the `down` migrations, then requires the schema to match the fingerprint taken before the
     * expand. A mismatch is permanent: the difference and the migrations go into the failure.
     */
    async revertMigrations(input) {
      const { expected, ...revert } = input;
      const result = await revertMigrations(revert, { env });
      if (!expected) return { ...result, fingerprint: undefined };
      const after = await schemaFingerprint(input.database, { env });
      if (after.hash !== expected.hash) {
        const diff = diffFingerprints(expected, after);
        const ids = input.migrations.map((m) => m.id).join(', ');
        throw ApplicationFailure.nonRetryable(
          `schema of database "${input.database}" in ${input.region} differs from before the expand after reverting ${ids}: ${diff.join('; ') || 'hash differs'}`,
          FAILURE.schemaMismatch,
          { database: input.database, region: input.region, migrationIds: input.migrations.map((m) => m.id), difference: diff },
        );
      }
      return { ...result, fingerprint: after.hash };
    },
    /** Resumes from the heartbeat details of a killed attempt; rows still wrong after `verify` fail it for a human to look at. */
    async reconcileData(input) {
      const result = await reconcile(input, undefined, { env });
      if (result.remaining > 0) {
        throw ApplicationFailure.nonRetryable(
          `reconciliation "${result.recipe}" on database "${input.database}" in ${input.region}: verify still counts ${result.remaining} rows wrong (found ${result.found}, fixed ${result.fixed})`,
          FAILURE.reconciliationIncomplete,
          { found: result.found, fixed: result.fixed, remaining: result.remaining },
        );
      }
      return result;
    },
  };
}
