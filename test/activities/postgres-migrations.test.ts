import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { databaseEnvVar, type Env } from '../../activities/postgres/connections';
import { readLedger } from '../../activities/postgres/ledger';
import type { MigrationInput } from '../../activities/postgres/migration-source';
import { applyMigrations, revertMigrations, type MigrationsResult } from '../../activities/postgres/migrations';
import { migrationChecksum } from '../../domain/stateful';
import { startPostgres, type RunningPostgres } from '../support/postgres';

const DATABASES = ['orders', 'shared', 'indexes'];
let server: RunningPostgres;
let env: Env;

beforeAll(async () => {
  server = await startPostgres({ databases: DATABASES });
  env = Object.fromEntries(DATABASES.map((name) => [databaseEnvVar(name), server.urls[name]]));
});

afterAll(async () => {
  await server?.stop();
});

async function sql<T extends pg.QueryResultRow = Record<string, unknown>>(database: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: server.urls[database] });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

async function ledger(database: string) {
  const client = new pg.Client({ connectionString: server.urls[database] });
  await client.connect();
  try {
    return await readLedger(client);
  } finally {
    await client.end();
  }
}

const columns = async (database: string, table: string) =>
  (await sql<{ column_name: string }>(database, 'SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY column_name', [table])).map(
    (r) => r.column_name,
  );

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

const actions = (result: MigrationsResult) => result.outcomes.map((o) => `${o.id}:${o.action}`);

const ORDERS: MigrationInput[] = [
  {
    id: '001-discount',
    phase: 'expand',
    up: `ALTER TABLE orders ADD COLUMN discount numeric(10,2) NOT NULL DEFAULT 0;
INSERT INTO audit (note) VALUES ('001 up');`,
    down: `ALTER TABLE orders DROP COLUMN discount;
INSERT INTO audit (note) VALUES ('001 down');`,
  },
  { id: '002-status-index', phase: 'expand', up: 'CREATE INDEX orders_status_idx ON orders (status)', down: 'DROP INDEX orders_status_idx' },
  { id: '003-drop-legacy', phase: 'contract', up: 'ALTER TABLE orders DROP COLUMN legacy_note', down: 'ALTER TABLE orders ADD COLUMN legacy_note text' },
];
const REF = { database: 'orders', rolloutId: 'rollout/checkout/2.4.0', region: 'eu-west-1' };

describe('applyMigrations and revertMigrations', () => {
  beforeEach(async () => {
    await sql(
      'orders',
      `DROP TABLE IF EXISTS orders, audit, meridian_migrations;
       CREATE TABLE orders (id bigint PRIMARY KEY, status text NOT NULL, legacy_note text);
       CREATE TABLE audit (n serial PRIMARY KEY, note text NOT NULL);`,
    );
  });

  it('applies one phase in order with ledger rows, and reverts in the order given', async () => {
    const applied = await applyMigrations({ ...REF, migrations: ORDERS, phase: 'expand' }, { env });
    expect(actions(applied)).toEqual(['001-discount:applied', '002-status-index:applied']);
    expect(await columns('orders', 'orders')).toEqual(['discount', 'id', 'legacy_note', 'status']);

    const rows = await ledger('orders');
    expect(rows.map((r) => [r.id, r.checksum, r.rollout_id, r.region, r.reverted_at])).toEqual([
      ['001-discount', migrationChecksum(ORDERS[0]!.up as string), REF.rolloutId, REF.region, null],
      ['002-status-index', migrationChecksum(ORDERS[1]!.up as string), REF.rolloutId, REF.region, null],
    ]);
    expect(rows[0]!.applied_at.getTime()).toBeLessThanOrEqual(rows[1]!.applied_at.getTime());

    const contract = await applyMigrations({ ...REF, migrations: ORDERS, phase: 'contract' }, { env });
    expect(actions(contract)).toEqual(['003-drop-legacy:applied']);

    const reverted = await revertMigrations({ ...REF, migrations: [ORDERS[2]!, ORDERS[1]!, ORDERS[0]!] }, { env });
    expect(actions(reverted)).toEqual(['003-drop-legacy:reverted', '002-status-index:reverted', '001-discount:reverted']);
    expect(await columns('orders', 'orders')).toEqual(['id', 'legacy_note', 'status']);
    const after = await ledger('orders');
    expect(after.every((r) => r.reverted_at instanceof Date && r.reverted_at >= r.applied_at)).toBe(true);
    expect((await sql<{ note: string }>('orders', 'SELECT note FROM audit ORDER BY n')).map((r) => r.note)).toEqual(['001 up', '001 down']);
  });

  it('does nothing twice when repeated, as a retried activity would', async () => {
    await applyMigrations({ ...REF, migrations: ORDERS, phase: 'expand' }, { env });
    const again = await applyMigrations({ ...REF, migrations: ORDERS, phase: 'expand' }, { env });
    expect(again.outcomes.map((o) => o.action)).toEqual(['skipped', 'skipped']);
    expect(again.outcomes[0]!.reason).toMatch(/^already applied by rollout\/checkout\/2\.4\.0 in eu-west-1 at /);

    const down = [ORDERS[1]!, ORDERS[0]!];
    await revertMigrations({ ...REF, migrations: down }, { env });
    const revertAgain = await revertMigrations({ ...REF, migrations: down }, { env });
    expect(revertAgain.outcomes.map((o) => o.reason?.replace(/ at .*/, ''))).toEqual(['already reverted', 'already reverted']);
    expect((await sql<{ note: string }>('orders', 'SELECT note FROM audit ORDER BY n')).map((r) => r.note)).toEqual(['001 up', '001 down']);

    const reapplied = await applyMigrations({ ...REF, migrations: ORDERS, phase: 'expand' }, { env });
    expect(reapplied.outcomes.map((o) => o.action)).toEqual(['applied', 'applied']);
    expect((await ledger('orders')).map((r) => r.reverted_at)).toEqual([null, null]);
  });

  it('refuses a migration whose text changed since it was applied, naming the id and both checksums', async () => {
    await applyMigrations({ ...REF, migrations: ORDERS, phase: 'expand' }, { env });
    const edited = { ...ORDERS[0]!, up: (ORDERS[0]!.up as string).replace('numeric(10,2)', 'numeric(12,2)') };
    const failure = await failureOf(applyMigrations({ ...REF, migrations: [edited], phase: 'expand' }, { env }));
    expect(failure.type).toBe('MigrationChanged');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain('migration "001-discount" on database "orders" changed since it was applied');
    expect(failure.message).toContain(`ledger checksum ${migrationChecksum(ORDERS[0]!.up as string)}`);
    expect(failure.message).toContain(`spec checksum ${migrationChecksum(edited.up)}`);

    const revert = await failureOf(revertMigrations({ ...REF, migrations: [edited] }, { env }));
    expect(revert.type).toBe('MigrationChanged');
    expect(await columns('orders', 'orders')).toContain('discount');
  });

  it('reverts only what this rollout applied in this region', async () => {
    await applyMigrations({ ...REF, migrations: ORDERS, phase: 'expand' }, { env });
    const other = { ...REF, rolloutId: 'rollout/checkout/2.5.0' };
    const applied = await applyMigrations({ ...other, migrations: ORDERS, phase: 'expand' }, { env });
    expect(applied.outcomes.map((o) => o.action)).toEqual(['skipped', 'skipped']);

    const reverted = await revertMigrations({ ...other, migrations: [ORDERS[1]!, ORDERS[0]!] }, { env });
    expect(reverted.outcomes.map((o) => o.reason)).toEqual([
      'applied by rollout/checkout/2.4.0 in eu-west-1, not by this rollout in this region; left in place',
      'applied by rollout/checkout/2.4.0 in eu-west-1, not by this rollout in this region; left in place',
    ]);
    expect(await columns('orders', 'orders')).toContain('discount');
    expect((await ledger('orders')).map((r) => r.reverted_at)).toEqual([null, null]);
  });

  it('a failing migration names its id and the SQL error with its position, and leaves nothing behind', async () => {
    const broken: MigrationInput = {
      id: '004-broken',
      phase: 'expand',
      up: 'ALTER TABLE orders ADD COLUMN note text;\nUPDATE orders SET note = nosuch_column;',
      down: 'ALTER TABLE orders DROP COLUMN note',
    };
    const failure = await failureOf(applyMigrations({ ...REF, migrations: [ORDERS[0]!, broken], phase: 'expand' }, { env }));
    expect(failure.type).toBe('MigrationFailed');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toBe(
      'migration "004-broken" (up) failed on database "orders": ERROR 42703 at line 2, column 26: column "nosuch_column" does not exist',
    );
    expect(failure.details?.[0]).toMatchObject({ migrationId: '004-broken', direction: 'up', code: '42703', line: 2, column: 26 });
    expect(await columns('orders', 'orders')).not.toContain('note');
    expect((await ledger('orders')).map((r) => r.id)).toEqual(['001-discount']);

    const downFails = await failureOf(revertMigrations({ ...REF, migrations: [{ ...ORDERS[0]!, down: 'ALTER TABLE orders DROP COLUMN discont' }] }, { env }));
    expect(downFails.message).toContain('migration "001-discount" (down) failed on database "orders": ERROR 42703');
    expect(downFails.message).toContain('column "discont" of relation "orders" does not exist');
    expect((await ledger('orders'))[0]!.reverted_at).toBeNull();
  });

  it('a lock held past lock_timeout fails the migration as retryable', async () => {
    const holder = new pg.Client({ connectionString: server.urls.orders });
    await holder.connect();
    try {
      await holder.query('BEGIN; LOCK TABLE orders IN ACCESS SHARE MODE');
      const failure = await failureOf(applyMigrations({ ...REF, migrations: ORDERS, phase: 'expand', lockTimeoutMs: 200 }, { env }));
      expect(failure.message).toContain('migration "001-discount" (up) failed on database "orders": ERROR 55P03');
      expect(failure.nonRetryable).toBe(false);
    } finally {
      await holder.end();
    }
    expect(await ledger('orders')).toEqual([]);
  });
});

describe('two rollouts on one database', () => {
  const slow = (id: string): MigrationInput => ({
    id,
    phase: 'expand',
    up: `SELECT pg_sleep(0.4); CREATE TABLE ${id.replace('-', '_')} (id int)`,
    down: `DROP TABLE ${id.replace('-', '_')}`,
  });

  it('serialize on the advisory lock, and the waiting one says who holds it', async () => {
    const a = { database: 'shared', rolloutId: 'rollout/a/1', region: 'eu-west-1', phase: 'expand' as const, migrations: [slow('a-1'), slow('a-2')] };
    const b = { database: 'shared', rolloutId: 'rollout/b/1', region: 'us-east-1', phase: 'expand' as const, migrations: [slow('b-1'), slow('b-2')] };
    const runA = applyMigrations(a, { env, lockPollMs: 50 });
    // B starts only once A holds the lock; without it, their 0.4 s migrations would interleave a-1, b-1, a-2, b-2.
    while ((await sql('shared', `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted`)).length === 0) await new Promise((r) => setTimeout(r, 20));
    const heartbeats: unknown[] = [];
    const activity = new MockActivityEnvironment();
    activity.on('heartbeat', (d: unknown) => heartbeats.push(d));
    const runB = activity.run(applyMigrations, b, { env, lockPollMs: 50 });
    await Promise.all([runA, runB]);

    const rows = await ledger('shared');
    expect(rows.map((r) => r.id)).toEqual(['a-1', 'a-2', 'b-1', 'b-2']);
    expect(rows[2]!.applied_at.getTime() - rows[1]!.applied_at.getTime()).toBeGreaterThanOrEqual(350);
    const waiting = heartbeats.filter((d): d is { waitingForLock: { database: string; holder: string } } => typeof d === 'object' && d !== null && 'waitingForLock' in d);
    expect(waiting.length).toBeGreaterThan(0);
    expect(waiting[0]!.waitingForLock.database).toBe('shared');
    expect(waiting[0]!.waitingForLock.holder).toMatch(/^meridian eu-west-1 rollout\/a\/1 \(pid \d+, since /);
    expect(await sql('shared', `SELECT 1 FROM pg_locks WHERE locktype = 'advisory'`)).toEqual([]);
  });
});

describe('transactional: false', () => {
  const CIC: MigrationInput = {
    id: '010-created-index',
    phase: 'expand',
    transactional: false,
    up: `-- builds without blocking writes; must be safe to run again
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_created_idx ON orders (created_at);
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS orders_ref_idx ON orders (ref);`,
    down: 'DROP INDEX CONCURRENTLY IF EXISTS orders_ref_idx; DROP INDEX CONCURRENTLY IF EXISTS orders_created_idx;',
  };
  const REF_I = { database: 'indexes', rolloutId: 'rollout/checkout/2.4.0', region: 'eu-west-1' };
  const indexes = async () =>
    sql<{ name: string; valid: boolean }>(
      'indexes',
      `SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = 'orders'::regclass AND NOT i.indisprimary ORDER BY 1`,
    );

  beforeEach(async () => {
    await sql(
      'indexes',
      `DROP TABLE IF EXISTS orders, meridian_migrations;
       CREATE TABLE orders (id bigint PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), ref text);
       INSERT INTO orders (id, ref) SELECT g, 'r' || g FROM generate_series(1, 1000) g;`,
    );
  });

  it('runs CREATE INDEX CONCURRENTLY outside a transaction and records it after success', async () => {
    const applied = await applyMigrations({ ...REF_I, migrations: [CIC], phase: 'expand' }, { env });
    expect(actions(applied)).toEqual(['010-created-index:applied']);
    expect(await indexes()).toEqual([
      { name: 'orders_created_idx', valid: true },
      { name: 'orders_ref_idx', valid: true },
    ]);
    expect((await ledger('indexes')).map((r) => [r.id, r.checksum])).toEqual([['010-created-index', migrationChecksum(CIC.up as string)]]);

    const reverted = await revertMigrations({ ...REF_I, migrations: [CIC] }, { env });
    expect(actions(reverted)).toEqual(['010-created-index:reverted']);
    expect(await indexes()).toEqual([]);
  });

  it('inside a transaction the same text fails with a hint to mark it transactional: false', async () => {
    const failure = await failureOf(applyMigrations({ ...REF_I, migrations: [{ ...CIC, transactional: true }], phase: 'expand' }, { env }));
    expect(failure.message).toContain('ERROR 25001');
    expect(failure.message).toContain('hint: mark the migration transactional: false');
  });

  it('a half-applied one is not recorded, names the INVALID index, and applies once that is cleaned up', async () => {
    await sql('indexes', `UPDATE orders SET ref = 'dup' WHERE id IN (1, 2)`);
    const failed = await failureOf(applyMigrations({ ...REF_I, migrations: [CIC], phase: 'expand' }, { env }));
    expect(failed.message).toContain('migration "010-created-index" (up) failed on database "indexes", statement 2');
    expect(failed.message).toContain('ERROR 23505');
    expect(failed.message).toContain('statements 1-1 of 2 took effect; not recorded in the ledger; index public.orders_ref_idx is left INVALID');
    expect(await indexes()).toEqual([
      { name: 'orders_created_idx', valid: true },
      { name: 'orders_ref_idx', valid: false },
    ]);
    expect(await ledger('indexes')).toEqual([]);

    await sql('indexes', `UPDATE orders SET ref = 'r2' WHERE id = 2`);
    const refused = await failureOf(applyMigrations({ ...REF_I, migrations: [CIC], phase: 'expand' }, { env }));
    expect(refused.type).toBe('MigrationIncomplete');
    expect(refused.message).toContain('DROP INDEX CONCURRENTLY public.orders_ref_idx');
    expect(await ledger('indexes')).toEqual([]);

    await sql('indexes', 'DROP INDEX CONCURRENTLY orders_ref_idx');
    const applied = await applyMigrations({ ...REF_I, migrations: [CIC], phase: 'expand' }, { env });
    expect(actions(applied)).toEqual(['010-created-index:applied']);
    expect((await indexes()).every((i) => i.valid)).toBe(true);
  });
});
