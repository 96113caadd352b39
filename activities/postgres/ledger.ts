import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import { FAILURE } from '../../domain/vocabulary';
import type { ResolvedMigration } from './migration-source';
import { MIGRATIONS_TABLE } from './tables';

export interface LedgerRow {
  id: string;
  checksum: string;
  rollout_id: string;
  region: string;
  applied_at: Date;
  reverted_at: Date | null;
}

export interface LedgerRef {
  database: string;
  rolloutId: string;
  region: string;
}

export type Decision = { run: true } | { run: false; reason: string };

export async function readLedgerRow(client: pg.Client, id: string, forUpdate: boolean): Promise<LedgerRow | undefined> {
  const { rows } = await client.query<LedgerRow>(`SELECT * FROM ${MIGRATIONS_TABLE} WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`, [id]);
  return rows[0];
}

/** Every ledger row, oldest application first. */
export async function readLedger(client: pg.Client): Promise<LedgerRow[]> {
  const { rows } = await client.query<LedgerRow>(`SELECT * FROM ${MIGRATIONS_TABLE} ORDER BY applied_at, id`);
  return rows;
}

export async function recordApplied(client: pg.Client, m: ResolvedMigration, ref: LedgerRef): Promise<void> {
  await client.query(
    `INSERT INTO ${MIGRATIONS_TABLE} (id, checksum, rollout_id, region, applied_at, reverted_at)
     VALUES ($1, $2, $3, $4, clock_timestamp(), NULL)
     ON CONFLICT (id) DO UPDATE SET checksum = EXCLUDED.checksum, rollout_id = EXCLUDED.rollout_id,
       region = EXCLUDED.region, applied_at = EXCLUDED.applied_at, reverted_at = NULL`,
    [m.id, m.checksum, ref.rolloutId, ref.region],
  );
}

export async function recordReverted(client: pg.Client, id: string): Promise<void> {
  await client.query(`UPDATE ${MIGRATIONS_TABLE} SET reverted_at = clock_timestamp() WHERE id = $1`, [id]);
}

/** Apply unless the ledger already has it; an applied migration whose text changed is refused. */
export function applyDecision(row: LedgerRow | undefined, m: ResolvedMigration, ref: LedgerRef): Decision {
  if (!row || row.reverted_at) return { run: true };
  if (row.checksum !== m.checksum) throw changedFailure(m, row, ref);
  return { run: false, reason: `already applied by ${row.rollout_id} in ${row.region} at ${row.applied_at.toISOString()}` };
}

/**
 * Revert only what this rollout applied in this region: a migration applied by an earlier rollout,
 * or by another region sharing the database, stays in place.
 */
export function revertDecision(row: LedgerRow | undefined, m: ResolvedMigration, ref: LedgerRef): Decision {
  if (!row) return { run: false, reason: 'never applied' };
  if (row.reverted_at) return { run: false, reason: `already reverted at ${row.reverted_at.toISOString()}` };
  if (row.rollout_id !== ref.rolloutId || row.region !== ref.region) {
    return { run: false, reason: `applied by ${row.rollout_id} in ${row.region}, not by this rollout in this region; left in place` };
  }
  if (row.checksum !== m.checksum) throw changedFailure(m, row, ref);
  return { run: true };
}

export function changedFailure(m: ResolvedMigration, row: LedgerRow, ref: LedgerRef): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `migration "${m.id}" on database "${ref.database}" changed since it was applied: ledger checksum ${row.checksum}, ` +
      `spec checksum ${m.checksum} (applied by ${row.rollout_id} in ${row.region} at ${row.applied_at.toISOString()}). ` +
      `Never edit an applied migration: add a new migration with a new id instead.`,
    FAILURE.migrationChanged,
    { migrationId: m.id, database: ref.database, ledgerChecksum: row.checksum, specChecksum: m.checksum },
  );
}
