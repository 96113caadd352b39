import type pg from 'pg';

export const MIGRATIONS_TABLE = 'meridian_migrations';
export const RECONCILIATIONS_TABLE = 'meridian_reconciliations';
/** Meridian's own bookkeeping: left out of schema fingerprints. */
export const MERIDIAN_TABLES = [MIGRATIONS_TABLE, RECONCILIATIONS_TABLE] as const;

const DDL = `
CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (
  id text PRIMARY KEY,
  checksum text NOT NULL,
  rollout_id text NOT NULL,
  region text NOT NULL,
  applied_at timestamptz NOT NULL,
  reverted_at timestamptz
);
CREATE TABLE IF NOT EXISTS ${RECONCILIATIONS_TABLE} (
  rollout_id text NOT NULL,
  region text NOT NULL,
  recipe text NOT NULL,
  window_start text NOT NULL,
  window_end text NOT NULL,
  last_key text,
  found bigint NOT NULL DEFAULT 0,
  fixed bigint NOT NULL DEFAULT 0,
  started_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  PRIMARY KEY (rollout_id, region, recipe, window_start)
);`;

/** Creates Meridian's tables once; concurrent callers queue on a transaction lock instead of racing the catalog. */
export async function ensureMeridianTables(client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ ok: boolean }>(
    `SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AS ok`,
    MERIDIAN_TABLES as unknown as string[],
  );
  if (rows[0]?.ok) return;
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('meridian_tables'))`);
    await client.query(DDL);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
