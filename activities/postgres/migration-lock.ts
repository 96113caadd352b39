import type pg from 'pg';
import { advisoryLockKey } from '../../domain/stateful';
import { heartbeat, sleep } from '../activity-context';

export interface LockWaitOptions {
  /** How often to try again and heartbeat while another session holds the lock. */
  pollMs?: number;
  /** Called on every failed try with who holds the lock, when PostgreSQL says. */
  onWait?: (holder: string | undefined) => void;
}

/**
 * Takes the session advisory lock that serializes migrations on the connected database and returns
 * its key. The key comes from the server's own database name, so two spec names that point at one
 * database still share it. While waiting it heartbeats `{ waitingForLock: { database, holder } }`.
 */
export async function acquireMigrationLock(client: pg.Client, database: string, options: LockWaitOptions = {}): Promise<string> {
  const { rows } = await client.query<{ name: string }>('SELECT current_database() AS name');
  const key = advisoryLockKey(rows[0]!.name);
  for (;;) {
    const attempt = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [key]);
    if (attempt.rows[0]!.ok) return key;
    const holder = await lockHolder(client, key);
    options.onWait?.(holder);
    heartbeat({ waitingForLock: { database, holder: holder ?? 'unknown session' } });
    await sleep(options.pollMs ?? 500);
  }
}

export async function releaseMigrationLock(client: pg.Client, key: string): Promise<void> {
  await client.query('SELECT pg_advisory_unlock($1::bigint)', [key]);
}

/** `meridian eu-west-1 rollout/checkout/2.4.0 (pid 4242, since 2026-...)` of the session holding `key`. */
export async function lockHolder(client: pg.Client, key: string): Promise<string | undefined> {
  const { rows } = await client.query<{ pid: number; application_name: string | null; backend_start: Date | null }>(
    `SELECT l.pid, a.application_name, a.backend_start
       FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid::bigint = ($1::bigint >> 32) AND l.objid::bigint = ($1::bigint & 4294967295)`,
    [key],
  );
  const row = rows[0];
  if (!row) return undefined;
  const since = row.backend_start ? `, since ${row.backend_start.toISOString()}` : '';
  return `${row.application_name || 'a session'} (pid ${row.pid}${since})`;
}
