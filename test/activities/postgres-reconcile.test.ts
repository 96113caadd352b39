import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { databaseEnvVar, type Env } from '../../activities/postgres/connections';
import { reconcile, type ReconcileCheckpoint, type ReconcileInput, type ReconcileResult } from '../../activities/postgres/reconcile';
import { startPostgres, type RunningPostgres } from '../support/postgres';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CHILD = resolve(ROOT, 'test', 'support', 'postgres-reconcile-child.ts');

const WINDOW_START = Date.parse('2026-03-01T10:00:00Z');
const WINDOW_END = Date.parse('2026-03-01T11:00:00Z');
const AFFECTED = 10_000;

let server: RunningPostgres;
let env: Env;

beforeAll(async () => {
  server = await startPostgres({ databases: ['orders'] });
  env = { [databaseEnvVar('orders')]: server.urls.orders };
});

afterAll(async () => {
  await server?.stop();
});

async function sql<T extends pg.QueryResultRow = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: server.urls.orders });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** How many rows the fix touched 0, 1, 2... times, among the canary's rows in the window. */
async function fixCounts(): Promise<Record<string, number>> {
  const rows = await sql<{ fix_count: number; n: string }>(
    `SELECT fix_count, count(*) AS n FROM orders WHERE written_by = '2.4.0' AND created_at >= $1 AND created_at < $2 GROUP BY 1 ORDER BY 1`,
    [new Date(WINDOW_START), new Date(WINDOW_END)],
  );
  return Object.fromEntries(rows.map((r) => [String(r.fix_count), Number(r.n)]));
}

const RECIPE = {
  name: 'orders-v2-format',
  find: `SELECT id AS key FROM orders WHERE written_by = '2.4.0' AND created_at >= $1 AND created_at < $2`,
  // The pause makes a batch take long enough for the test to kill the worker part-way.
  fix: `WITH pause AS (SELECT pg_sleep(0.01)) UPDATE orders SET format = 'v1', fix_count = fix_count + 1 FROM pause WHERE id = ANY($1)`,
  verify: `SELECT count(*) FROM orders WHERE written_by = '2.4.0' AND created_at >= $1 AND created_at < $2 AND format <> 'v1';`,
  batchSize: 100,
};

const input = (extra: Partial<ReconcileInput> = {}): ReconcileInput => ({
  database: 'orders',
  rolloutId: 'rollout/checkout/2.4.0',
  region: 'eu-west-1',
  recipe: RECIPE,
  windowStart: WINDOW_START,
  windowEnd: WINDOW_END,
  ...extra,
});

beforeEach(async () => {
  // Every third row was written by the stable version; some canary rows fall outside the window.
  await sql(`DROP TABLE IF EXISTS orders, meridian_reconciliations;
    CREATE TABLE orders (id bigint PRIMARY KEY, written_by text NOT NULL, created_at timestamptz NOT NULL,
                         format text NOT NULL, fix_count integer NOT NULL DEFAULT 0);
    INSERT INTO orders SELECT g, CASE WHEN g % 3 = 0 THEN '2.3.1' ELSE '2.4.0' END,
                              timestamptz '2026-03-01T10:00:00Z' + (g % 3000) * interval '1 second', 'v2'
      FROM generate_series(1, 15000) g;
    INSERT INTO orders SELECT 100000 + g, '2.4.0', timestamptz '2026-03-01T12:00:00Z', 'v2' FROM generate_series(1, 50) g;`);
  expect(await fixCounts()).toEqual({ '0': AFFECTED });
});

describe('reconcile', () => {
  it('resumes after the worker process is killed mid-way and fixes every row exactly once', async () => {
    // node itself with the tsx loader: the tsx CLI would run the work in a grandchild that SIGKILL misses.
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(input())], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<NodeJS.Signals | null>((done) => child.once('exit', (_code, signal) => done(signal)));
    let last: ReconcileCheckpoint | undefined;
    for await (const line of createInterface({ input: child.stdout! })) {
      last = JSON.parse(line) as ReconcileCheckpoint;
      if (last.found >= 3_000) {
        child.kill('SIGKILL');
        break;
      }
    }
    expect(await exited).toBe('SIGKILL');
    expect(last!.found).toBeGreaterThanOrEqual(3_000);
    // The server finishes whatever the dead process had already sent (perhaps a COMMIT) before it notices.
    while ((await sql(`SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'meridian reconcile%'`)).length > 0) {
      await new Promise((r) => setTimeout(r, 20));
    }

    const [saved] = await sql<{ last_key: string; found: string; fixed: string; finished_at: Date | null }>('SELECT * FROM meridian_reconciliations');
    expect(saved!.finished_at).toBeNull();
    expect(Number(saved!.found)).toBeLessThan(AFFECTED);
    // Whatever batch was in flight when the process died was rolled back with its checkpoint.
    expect(await fixCounts()).toEqual({ '0': AFFECTED - Number(saved!.fixed), '1': Number(saved!.fixed) });

    const heartbeats: ReconcileCheckpoint[] = [];
    const activity = new MockActivityEnvironment({ heartbeatDetails: last });
    activity.on('heartbeat', (d: ReconcileCheckpoint) => heartbeats.push(d));
    const result = (await activity.run(reconcile, input(), undefined, { env })) as ReconcileResult;

    expect(result).toMatchObject({ recipe: 'orders-v2-format', found: AFFECTED, fixed: AFFECTED, remaining: 0, resumedFrom: saved!.last_key });
    expect(result.batches).toBe((AFFECTED - Number(saved!.found)) / 100);
    expect(await fixCounts()).toEqual({ '1': AFFECTED });
    expect(heartbeats.at(-1)).toEqual({ lastKey: '14999', found: AFFECTED, fixed: AFFECTED });
    expect(await sql(`SELECT count(*)::int AS n FROM orders WHERE fix_count <> 0 AND (written_by <> '2.4.0' OR id > 100000)`)).toEqual([{ n: 0 }]);
  });

  it('a cancelled attempt resumes from the committed checkpoint even when its last heartbeat is stale', async () => {
    const first = new MockActivityEnvironment();
    const beats: ReconcileCheckpoint[] = [];
    first.on('heartbeat', (d: ReconcileCheckpoint) => {
      beats.push(d);
      if (beats.length === 20) first.cancel();
    });
    const err = await first.run(reconcile, input(), undefined, { env }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledFailure);
    expect(await fixCounts()).toEqual({ '0': AFFECTED - 2_000, '1': 2_000 });

    // A heartbeat from long before: the checkpoint row, committed with each fix, wins.
    const second = new MockActivityEnvironment({ heartbeatDetails: beats[4] });
    const result = (await second.run(reconcile, input(), undefined, { env })) as ReconcileResult;
    expect(result).toMatchObject({ found: AFFECTED, fixed: AFFECTED, remaining: 0, batches: 80, resumedFrom: beats[19]!.lastKey });
    expect(await fixCounts()).toEqual({ '1': AFFECTED });

    const again = await reconcile(input(), undefined, { env });
    expect(again).toMatchObject({ found: AFFECTED, fixed: AFFECTED, remaining: 0, batches: 0 });
    expect(await fixCounts()).toEqual({ '1': AFFECTED });
  });

  it('two attempts running at once still fix each row once', async () => {
    const [a, b] = await Promise.all([reconcile(input(), undefined, { env }), reconcile(input(), undefined, { env })]);
    expect(a.batches + b.batches).toBe(AFFECTED / 100);
    expect([a.found, b.found, a.remaining, b.remaining]).toEqual([AFFECTED, AFFECTED, 0, 0]);
    expect(await fixCounts()).toEqual({ '1': AFFECTED });
  });

  it('compares text keys as text, and reports what verify still counts', async () => {
    const recipe = {
      name: 'text-keys',
      find: `SELECT 'order-' || id AS key FROM orders WHERE written_by = '2.4.0' AND created_at >= $1 AND created_at < $2`,
      // Only even ids get fixed, so verify counts the odd half.
      fix: `UPDATE orders SET format = 'v1', fix_count = fix_count + 1 WHERE 'order-' || id = ANY($1) AND id % 2 = 0`,
      verify: RECIPE.verify,
      batchSize: 333,
    };
    const checkpoints: ReconcileCheckpoint[] = [];
    const result = await reconcile(input({ recipe }), undefined, { env, onBatch: (c) => checkpoints.push(c) });
    const even = (await sql<{ n: number }>(`SELECT count(*)::int AS n FROM orders WHERE written_by = '2.4.0' AND id <= 15000 AND id % 2 = 0`))[0]!.n;
    expect(result).toMatchObject({ found: AFFECTED, fixed: even, remaining: AFFECTED - even, batches: Math.ceil(AFFECTED / 333) });
    const keys = checkpoints.map((c) => c.lastKey!);
    expect(keys).toEqual([...keys].sort());
    expect(keys.at(-1)).toBe('order-9998');
    expect(await fixCounts()).toEqual({ '0': AFFECTED - even, '1': even });
  });

  it('a failing fix names the recipe, the statement and the SQL error, and commits nothing', async () => {
    const recipe = { ...RECIPE, fix: `UPDATE orders SET format = 'v1' WHERE id = ANY($1) AND nosuch > 0` };
    const err = await reconcile(input({ recipe }), undefined, { env }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    const failure = err as ApplicationFailure;
    expect(failure.message).toBe(
      'reconciliation "orders-v2-format" on database "orders", fix: ERROR 42703 at line 1, column 56: column "nosuch" does not exist',
    );
    expect(failure.nonRetryable).toBe(true);
    expect(await fixCounts()).toEqual({ '0': AFFECTED });
    expect(await sql('SELECT last_key, found::int FROM meridian_reconciliations')).toEqual([{ last_key: null, found: 0 }]);

    // find runs wrapped in Meridian's keyset query; the position still points into the recipe's text.
    const badFind = { ...RECIPE, name: 'bad-find', find: 'SELECT id AS key\nFROM orders WHERE nosuch2 > 0' };
    const findErr = (await reconcile(input({ recipe: badFind }), undefined, { env }).catch((e: unknown) => e)) as ApplicationFailure;
    expect(findErr.message).toBe('reconciliation "bad-find" on database "orders", find: ERROR 42703 at line 2, column 19: column "nosuch2" does not exist');
  });
});
