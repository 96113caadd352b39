import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { databaseEnvVar, type Env } from '../../activities/postgres/connections';
import { diffFingerprints, schemaFingerprint } from '../../activities/postgres/fingerprint';
import type { MigrationInput } from '../../activities/postgres/migration-source';
import { applyMigrations, revertMigrations } from '../../activities/postgres/migrations';
import { startPostgres, type RunningPostgres } from '../support/postgres';

let server: RunningPostgres;
let env: Env;

beforeAll(async () => {
  server = await startPostgres({ databases: ['shop'] });
  env = { [databaseEnvVar('shop')]: server.urls.shop };
});

afterAll(async () => {
  await server?.stop();
});

async function sql(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: server.urls.shop });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

const REF = { database: 'shop', rolloutId: 'rollout/shop/2.0.0', region: 'eu-west-1' };

const EXPAND: MigrationInput[] = [
  {
    id: '001-discount',
    phase: 'expand',
    up: `ALTER TABLE orders ADD COLUMN discount numeric(10,2) NOT NULL DEFAULT 0;
         ALTER TABLE orders ADD CONSTRAINT orders_discount_check CHECK (discount >= 0);
         CREATE INDEX orders_status_idx ON orders (status);`,
    down: `DROP INDEX orders_status_idx;
           ALTER TABLE orders DROP CONSTRAINT orders_discount_check;
           ALTER TABLE orders DROP COLUMN discount;`,
  },
  {
    id: '002-refunds',
    phase: 'expand',
    up: `CREATE TABLE refunds (id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES orders (id), amount integer NOT NULL);
         CREATE INDEX refunds_order_idx ON refunds (order_id);
         ALTER TYPE order_state ADD VALUE 'refunded';`,
    down: `DROP TABLE refunds;`,
  },
];

describe('schema fingerprint', () => {
  beforeEach(async () => {
    await sql(`DROP SCHEMA IF EXISTS public CASCADE; DROP SCHEMA IF EXISTS audit CASCADE; CREATE SCHEMA public;
      CREATE TYPE order_state AS ENUM ('open', 'paid');
      CREATE TABLE orders (id bigserial PRIMARY KEY, status text NOT NULL, state order_state NOT NULL DEFAULT 'open', total integer);
      CREATE SCHEMA audit;
      CREATE TABLE audit.events (id bigint PRIMARY KEY, body jsonb);`);
  });

  it('describes columns, types, defaults, indexes and constraints, without Meridian tables', async () => {
    await applyMigrations({ ...REF, migrations: [], phase: 'expand' }, { env });
    const fp = await schemaFingerprint('shop', { env });
    expect(fp.objects['table orders']).toBe('exists');
    expect(fp.objects['column orders.total']).toBe('integer');
    expect(fp.objects['column orders.state']).toBe("order_state not null default 'open'::order_state");
    expect(fp.objects['column orders.id']).toBe("bigint not null default nextval('orders_id_seq'::regclass)");
    expect(fp.objects['constraint orders.orders_pkey']).toBe('PRIMARY KEY (id)');
    expect(fp.objects['index orders_pkey']).toBe('CREATE UNIQUE INDEX orders_pkey ON public.orders USING btree (id)');
    expect(fp.objects['type order_state']).toBe("enum ('open', 'paid')");
    expect(fp.objects['column audit.events.body']).toBe('jsonb');
    expect(fp.objects['sequence orders_id_seq']).toBe('bigint start 1 increment 1');
    expect(Object.keys(fp.objects).filter((k) => k.includes('meridian'))).toEqual([]);
    expect(fp.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is equal again after expand and revert, and unchanged by data', async () => {
    const before = await schemaFingerprint('shop', { env });
    await applyMigrations({ ...REF, migrations: [EXPAND[0]!], phase: 'expand' }, { env });
    await sql(`INSERT INTO orders (status, discount) VALUES ('new', 5)`);
    const expanded = await schemaFingerprint('shop', { env });
    expect(expanded.hash).not.toBe(before.hash);
    expect(diffFingerprints(before, expanded)).toEqual([
      'column orders.discount added',
      'constraint orders.orders_discount_check added',
      'index orders_status_idx added',
    ]);

    await revertMigrations({ ...REF, migrations: [EXPAND[0]!] }, { env });
    const after = await schemaFingerprint('shop', { env });
    expect(diffFingerprints(before, after)).toEqual([]);
    expect(after.hash).toBe(before.hash);
  });

  it('spells out what an incomplete down left behind', async () => {
    const before = await schemaFingerprint('shop', { env });
    await applyMigrations({ ...REF, migrations: EXPAND, phase: 'expand' }, { env });
    const expanded = await schemaFingerprint('shop', { env });
    // A new table is one line, not one per column, index and constraint.
    expect(diffFingerprints(before, expanded)).toEqual([
      'column orders.discount added',
      'constraint orders.orders_discount_check added',
      'index orders_status_idx added',
      'sequence refunds_id_seq added',
      'table refunds added',
      "type order_state changed: enum ('open', 'paid') → enum ('open', 'paid', 'refunded')",
    ]);

    await revertMigrations({ ...REF, migrations: [EXPAND[1]!, EXPAND[0]!] }, { env });
    await sql('ALTER TABLE orders ALTER COLUMN total TYPE bigint; ALTER TABLE audit.events ALTER COLUMN body SET NOT NULL');
    const after = await schemaFingerprint('shop', { env });
    expect(after.hash).not.toBe(before.hash);
    expect(diffFingerprints(before, after)).toEqual([
      'column audit.events.body changed: jsonb → jsonb not null',
      'column orders.total changed: integer → bigint',
      "type order_state changed: enum ('open', 'paid') → enum ('open', 'paid', 'refunded')",
    ]);
    expect(diffFingerprints(after, before)).toContain('column orders.total changed: bigint → integer');

    await sql('DROP TABLE orders CASCADE');
    expect(diffFingerprints(after, await schemaFingerprint('shop', { env }))).toEqual([
      'sequence orders_id_seq dropped',
      'table orders dropped',
    ]);
  });
});
