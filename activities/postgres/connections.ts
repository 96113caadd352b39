import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import { FAILURE } from '../../domain/vocabulary';

export type Env = Record<string, string | undefined>;

export interface ConnectOptions {
  /** Where the worker reads connection URLs; the process environment by default. */
  env?: Env;
  /** Shown in pg_stat_activity, so a waiting rollout can say who holds a lock. */
  applicationName?: string;
  connectTimeoutMs?: number;
}

/** `orders-eu.1` → `MERIDIAN_DATABASE_ORDERS_EU_1`. */
export function databaseEnvVar(name: string): string {
  return `MERIDIAN_DATABASE_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/**
 * The connection URL of a database the spec names. Only the worker knows it, so no secret is in
 * workflow input or history; a missing or malformed variable is a permanent error naming the variable.
 */
export function resolveDatabaseUrl(name: string, env: Env = process.env): string {
  const variable = databaseEnvVar(name);
  const url = env[variable];
  if (url === undefined || url.trim() === '') {
    throw ApplicationFailure.nonRetryable(
      `database "${name}" is not configured on this worker: set ${variable} to its connection URL (postgres://user:password@host:5432/dbname)`,
      FAILURE.databaseNotConfigured,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    throw ApplicationFailure.nonRetryable(`database "${name}": ${variable} is not a URL (write postgres://user:password@host:5432/dbname)`, FAILURE.databaseNotConfigured);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw ApplicationFailure.nonRetryable(`database "${name}": ${variable} must be a postgres:// URL, not ${parsed.protocol}//`, FAILURE.databaseNotConfigured);
  }
  return url.trim();
}

/** Host, port and database of a URL, without user or password: safe for messages. */
export function describeDatabase(name: string, url: string): string {
  const u = new URL(url);
  return `database "${name}" (${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname})`;
}

/** One session on the named database; the caller ends it. */
export async function connectDatabase(name: string, options: ConnectOptions = {}): Promise<pg.Client> {
  const url = resolveDatabaseUrl(name, options.env);
  const client = new pg.Client({
    connectionString: url,
    application_name: (options.applicationName ?? 'meridian').slice(0, 63),
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
  });
  // A session dropped while idle must not crash the worker; the next query reports it.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw new Error(`${describeDatabase(name, url)} is not reachable: ${err instanceof Error ? err.message : String(err)}`);
  }
  return client;
}

/** Runs `work` on a fresh session and always ends it (which also drops any session-level lock). */
export async function withDatabase<T>(name: string, options: ConnectOptions, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connectDatabase(name, options);
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => {});
  }
}
