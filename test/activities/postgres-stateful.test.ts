import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { databaseEnvVar, describeDatabase, resolveDatabaseUrl } from '../../activities/postgres/connections';
import { diffFingerprints } from '../../activities/postgres/fingerprint';
import { splitStatements } from '../../activities/postgres/split-sql';
import { isTransient, sqlErrorInfo } from '../../activities/postgres/sql-error';
import { advisoryLockKey, databaseSettings, migration, migrationChecksum, reconciliation, sha256Hex, sqlProvider } from '../../domain/stateful';
import { SECRETS } from '../support/secrets';

describe('stateful spec schemas', () => {
  it('fills defaults and parses durations', () => {
    expect(databaseSettings.parse({})).toEqual({ lockTimeout: 5_000, statementTimeout: 300_000 });
    expect(databaseSettings.parse({ lockTimeout: '2s', statementTimeout: '1m30s' })).toEqual({ lockTimeout: 2_000, statementTimeout: 90_000 });
    expect(migration.parse({ id: '001-a', up: { file: 'sql/001.up.sql' }, down: 'DROP TABLE a', phase: 'expand' })).toEqual({
      id: '001-a',
      up: { file: 'sql/001.up.sql' },
      down: 'DROP TABLE a',
      phase: 'expand',
      transactional: true,
    });
    expect(reconciliation.parse({ name: 'r', find: 'f', fix: 'x', verify: 'v' }).batchSize).toBe(1000);
    expect(sqlProvider.parse({ type: 'sql', database: 'orders-eu', query: `SELECT 1 WHERE '{{region}}' <> ''` }).timeout).toBe(10_000);
  });

  it('rejects what the worker could not use, saying why', () => {
    const issues = (r: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }) =>
      r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues(databaseSettings.safeParse({ lockTimeout: 'soon' }))).toEqual(['lockTimeout: bad duration "soon" (write it like 30s, 5m, 1h30m, 2d)']);
    expect(issues(migration.safeParse({ id: '001', up: 'x', down: 'y', phase: 'migrate' }))?.[0]).toMatch(/^phase: /);
    expect(issues(sqlProvider.safeParse({ type: 'sql', database: 'postgres://u:p@h/db', query: 'SELECT {{cluster}}' }))).toEqual([
      'database: must be letters, digits, "_", "-" or "." (a name, not a URL)',
      'query: unknown placeholder {{cluster}} (known: region, service, version, namespace, role)',
    ]);
    expect(reconciliation.safeParse({ name: 'r', find: 'f', fix: 'x', verify: 'v', batchSize: 0 }).success).toBe(false);
  });
});

describe('checksums and lock keys', () => {
  it('sha256Hex agrees with node:crypto, including multi-block and non-ASCII text', () => {
    for (const text of ['', 'abc', 'x'.repeat(55), 'y'.repeat(56), 'z'.repeat(64), 'ÄÖ € 😀 '.repeat(40)]) {
      expect(sha256Hex(text)).toBe(createHash('sha256').update(text).digest('hex'));
    }
  });

  it('a checksum ignores line endings and surrounding whitespace, nothing else', () => {
    const up = 'ALTER TABLE orders\n  ADD COLUMN discount numeric;';
    expect(migrationChecksum(`\n${up.replace('\n', '\r\n')}  \n`)).toBe(migrationChecksum(up));
    expect(migrationChecksum(up.replace('numeric', 'integer'))).not.toBe(migrationChecksum(up));
    expect(migrationChecksum(up.replace('  ', ' '))).not.toBe(migrationChecksum(up));
  });

  it('the advisory lock key is a stable non-negative bigint per database name', () => {
    const key = advisoryLockKey('orders');
    expect(key).toBe(advisoryLockKey('orders'));
    expect(key).not.toBe(advisoryLockKey('orders2'));
    for (const name of ['orders', 'a', 'eu-west-1', 'ÜBER']) {
      const n = BigInt(advisoryLockKey(name));
      expect(n >= 0n && n < 2n ** 63n).toBe(true);
    }
  });
});

describe('connections', () => {
  it('maps a database name to the variable holding its URL, and says which to set', () => {
    expect(databaseEnvVar('orders-eu.1')).toBe('MERIDIAN_DATABASE_ORDERS_EU_1');
    expect(resolveDatabaseUrl('orders', { MERIDIAN_DATABASE_ORDERS: ` postgres://u:${SECRETS.databasePassword}@db:5432/orders ` })).toBe(`postgres://u:${SECRETS.databasePassword}@db:5432/orders`);
    expect(() => resolveDatabaseUrl('orders', {})).toThrow(
      'database "orders" is not configured on this worker: set MERIDIAN_DATABASE_ORDERS to its connection URL (postgres://user:password@host:5432/dbname)',
    );
    expect(() => resolveDatabaseUrl('orders', { MERIDIAN_DATABASE_ORDERS: 'mysql://db/orders' })).toThrow('must be a postgres:// URL, not mysql://');
    expect(describeDatabase('orders', `postgres://u:${SECRETS.databasePassword}@db:5432/orders`)).toBe('database "orders" (db:5432/orders)');
  });
});

describe('splitStatements', () => {
  it('splits at top-level semicolons only, keeping offsets into the script', () => {
    const script = `-- a comment; not a split
CREATE INDEX CONCURRENTLY a ON t (x);
/* block; /* nested; */ still */ SELECT 'it''s; fine', "odd;name", E'back\\'slash;';
CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
SELECT $1;  ;
`;
    const parts = splitStatements(script);
    expect(parts.map((p) => p.text)).toEqual([
      '-- a comment; not a split\nCREATE INDEX CONCURRENTLY a ON t (x)',
      `/* block; /* nested; */ still */ SELECT 'it''s; fine', "odd;name", E'back\\'slash;'`,
      'CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql',
      'SELECT $1',
    ]);
    for (const p of parts) expect(script.slice(p.offset, p.offset + p.text.length)).toBe(p.text);
  });
});

describe('sql errors', () => {
  it('turns a position into line and column, shifted by the statement offset', () => {
    const text = 'SELECT 1;\nSELECT nosuch FROM t';
    expect(sqlErrorInfo({ message: 'column "nosuch" does not exist', code: '42703', position: '8' }, text, 10)).toEqual({
      message: 'column "nosuch" does not exist',
      code: '42703',
      position: 18,
      line: 2,
      column: 8,
    });
    expect(isTransient({ message: 'x', code: '55P03' })).toBe(true);
    expect(isTransient({ message: 'x', code: '40001' })).toBe(true);
    expect(isTransient({ message: 'Connection terminated' })).toBe(true);
    expect(isTransient({ message: 'x', code: '42P01' })).toBe(false);
  });
});

describe('diffFingerprints', () => {
  const fp = (objects: Record<string, string>) => ({ hash: '', objects });

  it('spells out added, dropped and changed objects, once per new or dropped table', () => {
    const before = fp({
      'table orders': 'exists',
      'column orders.id': 'bigint not null',
      'column orders.total': 'integer',
      'index orders_total_idx': 'CREATE INDEX orders_total_idx ON public.orders USING btree (total)',
      'table legacy': 'exists',
      'column legacy.x': 'text',
      'index legacy_x_idx': 'CREATE INDEX legacy_x_idx ON public.legacy USING btree (x)',
      'function f(integer)': 'a'.repeat(32),
    });
    const after = fp({
      'table orders': 'exists',
      'column orders.id': 'bigint not null',
      'column orders.total': 'bigint',
      'column orders.discount': 'numeric',
      'table refunds': 'exists',
      'column refunds.id': 'bigint',
      'constraint refunds.refunds_pkey': 'PRIMARY KEY (id)',
      'function f(integer)': 'b'.repeat(200),
    });
    expect(diffFingerprints(before, after)).toEqual([
      'column orders.discount added',
      'column orders.total changed: integer → bigint',
      'function f(integer) changed',
      'index orders_total_idx dropped',
      'table legacy dropped',
      'table refunds added',
    ]);
    expect(diffFingerprints(after, after)).toEqual([]);
  });
});
