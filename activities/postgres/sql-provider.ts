import pg from 'pg';
import type { MetricSpec } from '../../domain/spec';
import type { SqlProviderSpec } from '../../domain/stateful';
import type { MetricContext, MetricProvider } from '../metrics/provider';
import { renderTemplate, templateValues } from '../metrics/template';
import { describeDatabase, resolveDatabaseUrl, type Env } from './connections';
import { describeSqlError, sqlErrorInfo } from './sql-error';

export interface SqlProviderOptions {
  /** Where the worker reads `MERIDIAN_DATABASE_<NAME>`; the process environment by default. */
  env?: Env;
  /** Connections kept per database. */
  poolSize?: number;
}

export type SqlMetricProvider = MetricProvider & { isOnline(metric?: MetricSpec): Promise<boolean>; close(): Promise<void> };

/**
 * An invariant query as a metric (Flagger's RunQuery): the first column of the first row, as a
 * number. No row or NULL is no data (`undefined`); an unreachable database or a failing query
 * throws an error naming the database and the query. Queries run in a READ ONLY transaction with
 * the spec's timeout as `statement_timeout`.
 */
export function sqlProvider(options: SqlProviderOptions = {}): SqlMetricProvider {
  const pools = new Map<string, pg.Pool>();
  const poolFor = (database: string, timeoutMs: number): pg.Pool => {
    let pool = pools.get(database);
    if (!pool) {
      pool = new pg.Pool({
        connectionString: resolveDatabaseUrl(database, options.env),
        max: options.poolSize ?? 2,
        idleTimeoutMillis: 30_000,
        connectionTimeoutMillis: timeoutMs,
        allowExitOnIdle: true,
        application_name: 'meridian sql metric',
      });
      pool.on('error', () => {});
      pools.set(database, pool);
    }
    return pool;
  };
  return {
    type: 'sql',
    query: async (metric, ctx) => {
      const spec = sqlSpec(metric);
      return querySql(spec, ctx, poolFor(spec.database, spec.timeout), options.env);
    },
    isOnline: async (metric?: MetricSpec) => {
      if (!metric) return true;
      const spec = sqlSpec(metric);
      const client = await poolFor(spec.database, spec.timeout).connect().catch((err: Error) => {
        throw new Error(`${where(spec, options.env)} is not reachable: ${err.message}`);
      });
      client.release();
      return true;
    },
    close: async () => {
      const all = [...pools.values()];
      pools.clear();
      await Promise.all(all.map((p) => p.end().catch(() => {})));
    },
  };
}

/** One value of `spec.query` with its placeholders rendered as SQL string literal contents. */
export async function querySql(spec: SqlProviderSpec, ctx: MetricContext, pool: pg.Pool, env?: Env): Promise<number | undefined> {
  const query = renderTemplate(spec.query, templateValues(ctx), escapeSqlString);
  const failure = (why: string) => new Error(`sql metric on ${where(spec, env)}, query ${query}: ${why}`);
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw failure(`not reachable: ${err instanceof Error ? err.message : String(err)}`);
  }
  let broken: Error | undefined;
  let first: unknown;
  try {
    await client.query(`BEGIN TRANSACTION READ ONLY; SET LOCAL statement_timeout = '${Math.round(spec.timeout)}ms'`);
    const config = { text: query, rowMode: 'array', query_timeout: spec.timeout + 1_000 } as pg.QueryArrayConfig;
    const { rows } = await client.query<unknown[]>(config);
    first = rows[0]?.[0];
    await client.query('ROLLBACK');
  } catch (err) {
    broken = err as Error;
    throw failure(describeSqlError(sqlErrorInfo(err, query)));
  } finally {
    // A session left mid-transaction, or timed out on this side, is not reused.
    client.release(broken);
  }
  if (first === null || first === undefined) return undefined;
  if (typeof first === 'boolean') return first ? 1 : 0;
  const value = Number(first);
  if (typeof first === 'object' || Number.isNaN(value)) throw failure(`the first column is ${JSON.stringify(first)}, not a number`);
  return value;
}

/** Escapes text for the inside of a standard '...' SQL string literal. */
export function escapeSqlString(value: string): string {
  if (value.includes('\0')) throw new Error('a placeholder value contains a NUL character');
  return value.replace(/'/g, "''");
}

function where(spec: SqlProviderSpec, env?: Env): string {
  try {
    return describeDatabase(spec.database, resolveDatabaseUrl(spec.database, env));
  } catch {
    return `database "${spec.database}"`;
  }
}

function sqlSpec(metric: MetricSpec): SqlProviderSpec {
  const provider: { type: string } = metric.provider;
  if (provider.type !== 'sql') throw new Error(`metric "${metric.name}" has provider type "${provider.type}", not sql`);
  return provider as unknown as SqlProviderSpec;
}
