import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseEnvVar, type Env } from '../../activities/postgres/connections';
import { escapeSqlString, sqlProvider, type SqlMetricProvider } from '../../activities/postgres/sql-provider';
import type { MetricContext } from '../../activities/metrics/provider';
import type { MetricSpec } from '../../domain/spec';
import { sqlProvider as sqlProviderSchema } from '../../domain/stateful';
import { startPostgres, type RunningPostgres } from '../support/postgres';

let server: RunningPostgres;
let env: Env;
let provider: SqlMetricProvider;

const ctx: MetricContext = { rolloutId: 'rollout/checkout/2.4.0', service: 'checkout', version: '2.4.0', region: 'eu-west-1', role: 'canary' };

/** A metric whose provider is `sql` (the spec's provider union gains it when the schema is wired in). */
const metric = (query: string, extra: Record<string, unknown> = {}): MetricSpec =>
  ({ name: 'unreadable_rows', provider: sqlProviderSchema.parse({ type: 'sql', database: 'orders', query, ...extra }) }) as unknown as MetricSpec;

beforeAll(async () => {
  server = await startPostgres({ databases: ['orders'] });
  env = { [databaseEnvVar('orders')]: server.urls.orders, [databaseEnvVar('gone')]: 'postgres://postgres@127.0.0.1:1/gone' };
  const client = new pg.Client({ connectionString: server.urls.orders });
  await client.connect();
  await client.query(`CREATE TABLE orders (id serial PRIMARY KEY, region text NOT NULL, version text NOT NULL, format text NOT NULL, ratio numeric);
    INSERT INTO orders (region, version, format, ratio) VALUES
      ('eu-west-1', '2.4.0', 'v2', 0.25), ('eu-west-1', '2.4.0', 'v2', NULL), ('eu-west-1', '2.4.0', 'v1', NULL),
      ('us-east-1', '2.4.0', 'v2', NULL), ('eu-west-1', '2.3.1', 'v1', NULL)`);
  await client.end();
  provider = sqlProvider({ env });
});

afterAll(async () => {
  await provider?.close();
  await server?.stop();
});

describe('sql metric provider', () => {
  it('returns the first column of the first row as a number, with placeholders filled in', async () => {
    const unreadable = metric(`SELECT count(*) FROM orders WHERE region = '{{region}}' AND version = '{{version}}' AND format = 'v2'`);
    expect(await provider.query(unreadable, ctx)).toBe(2);
    expect(await provider.query(unreadable, { ...ctx, region: 'us-east-1' })).toBe(1);
    expect(await provider.query(metric('SELECT ratio, 99 FROM orders WHERE ratio IS NOT NULL'), ctx)).toBe(0.25);
    expect(await provider.query(metric(`SELECT count(*) FROM orders WHERE version = '{{version}}'`), { ...ctx, version: "2.4.0' OR ''='" })).toBe(0);
    expect(escapeSqlString("it's")).toBe("it''s");
  });

  it('no row, or NULL, is no data', async () => {
    expect(await provider.query(metric('SELECT 1 WHERE false'), ctx)).toBeUndefined();
    expect(await provider.query(metric(`SELECT max(ratio) FROM orders WHERE region = 'nowhere'`), ctx)).toBeUndefined();
  });

  it('a value that is not a number, a failing query or a write is an error naming the database and query', async () => {
    await expect(provider.query(metric(`SELECT 'many'`), ctx)).rejects.toThrow(
      `sql metric on database "orders" (127.0.0.1:${server.port}/orders), query SELECT 'many': the first column is "many", not a number`,
    );
    await expect(provider.query(metric('SELECT count(*) FROM nosuch'), ctx)).rejects.toThrow(
      'query SELECT count(*) FROM nosuch: ERROR 42P01 at line 1, column 22: relation "nosuch" does not exist',
    );
    await expect(provider.query(metric('DELETE FROM orders RETURNING 1'), ctx)).rejects.toThrow('ERROR 25006');
    await expect(provider.query(metric('SELECT pg_sleep(5)', { timeout: '200ms' }), ctx)).rejects.toThrow('ERROR 57014');
    // The pool stays usable after each of those.
    expect(await provider.query(metric('SELECT count(*) FROM orders'), ctx)).toBe(5);
  });

  it('a database that is down or not configured is an error (the provider is down)', async () => {
    const on = (database: string) => metric('SELECT 1', { database });
    const down = on('gone');
    await expect(provider.query(down, ctx)).rejects.toThrow(/^sql metric on database "gone" \(127\.0\.0\.1:1\/gone\), query SELECT 1: not reachable: .*ECONNREFUSED/);
    await expect(provider.isOnline(down)).rejects.toThrow('database "gone" (127.0.0.1:1/gone) is not reachable');
    expect(await provider.isOnline(metric('SELECT 1'))).toBe(true);

    await expect(provider.query(on('orders-eu'), ctx)).rejects.toThrow(
      'database "orders-eu" is not configured on this worker: set MERIDIAN_DATABASE_ORDERS_EU to its connection URL',
    );
  });
});
