import pg from 'pg';
import { databaseEnvVar } from '../../activities/postgres/connections';
import { fingerprintOf } from '../../activities/postgres/fingerprint';
import type { SchemaFingerprint } from '../../domain/status';
import type { RunningPostgres } from './postgres';

/** A shop's orders table as the old version (2.3.1) knows it; `fix_count` counts how often a reconciliation touched a row. */
export const BASE_SCHEMA = `
CREATE TABLE orders (
  id bigserial PRIMARY KEY,
  written_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  format text NOT NULL DEFAULT 'v1',
  fix_count integer NOT NULL DEFAULT 0,
  legacy_note text
)`;

export const MIGRATIONS = [
  {
    id: '001-add-discount',
    phase: 'expand' as const,
    up: 'ALTER TABLE orders ADD COLUMN discount numeric(10,2) NOT NULL DEFAULT 0',
    down: 'ALTER TABLE orders DROP COLUMN discount',
  },
  {
    id: '002-written-by-index',
    phase: 'expand' as const,
    up: 'CREATE INDEX orders_written_by_idx ON orders (written_by)',
    down: 'DROP INDEX orders_written_by_idx',
  },
  {
    id: '003-drop-legacy-note',
    phase: 'contract' as const,
    up: 'ALTER TABLE orders DROP COLUMN legacy_note',
    down: 'ALTER TABLE orders ADD COLUMN legacy_note text',
  },
];

/** Rows the new version (2.4.0) wrote in its own format during the canary become old-format rows again. */
export const RECIPE = {
  name: 'orders-v2-format',
  find: `SELECT id AS key FROM orders WHERE written_by = '2.4.0' AND created_at >= $1 AND created_at < $2`,
  fix: `UPDATE orders SET format = 'v1', fix_count = fix_count + 1 WHERE id = ANY($1)`,
  verify: `SELECT count(*) FROM orders WHERE written_by = '2.4.0' AND created_at >= $1 AND created_at < $2 AND format <> 'v1'`,
  batchSize: 7,
};

let counter = 0;

/**
 * Fresh databases with the base schema, one per name, reachable by the worker under those names
 * (`MERIDIAN_DATABASE_<NAME>` in this process's environment). Returns name -> URL.
 */
export async function freshDatabases(server: RunningPostgres, names: string[], schema = BASE_SCHEMA): Promise<Record<string, string>> {
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  const urls: Record<string, string> = {};
  try {
    for (const name of names) {
      const real = `${name}_${process.pid}_${++counter}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
      await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(real)}`);
      urls[name] = `postgres://postgres@127.0.0.1:${server.port}/${real}`;
      process.env[databaseEnvVar(name)] = urls[name];
      await sql(urls[name], schema);
    }
  } finally {
    await admin.end();
  }
  return urls;
}

export async function sql<T extends pg.QueryResultRow = Record<string, unknown>>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

export async function fingerprint(url: string): Promise<SchemaFingerprint> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fingerprintOf(client);
  } finally {
    await client.end();
  }
}

export interface LedgerEntry {
  id: string;
  rollout_id: string;
  region: string;
  applied_at: Date;
  reverted_at: Date | null;
}

export function ledger(url: string): Promise<LedgerEntry[]> {
  return sql<LedgerEntry>(url, 'SELECT id, rollout_id, region, applied_at, reverted_at FROM meridian_migrations ORDER BY applied_at, id');
}

/** `count` rows the canary wrote at `at` (plus i ms each), as the new version. */
export async function writeCanaryRows(url: string, at: string, count: number): Promise<void> {
  await sql(url, `INSERT INTO orders (written_by, created_at, format) SELECT '2.4.0', $1::timestamptz + g * interval '1 millisecond', 'v2' FROM generate_series(1, $2::int) g`, [at, count]);
}
