import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseEnvVar } from '../../activities/postgres/connections';
import { RolloutClient } from '../../client/rollout-client';
import { startDevServer, type DevServer } from '../../worker/dev-server';
import type { RolloutStatus } from '../../domain/status';
import { startPostgres, type RunningPostgres } from '../support/postgres';
import { freePort, startWorkerProcess } from '../support/processes';
import { testPlan } from '../support/spec';
import { freshDatabases, MIGRATIONS, RECIPE, sql, writeCanaryRows } from '../support/stateful';
import { tempDir } from '../support/temp-dir';

const ROWS = 300;

let server: DevServer;
let pgServer: RunningPostgres;
let dir: string;
const workers: ChildProcess[] = [];


/** A worker in its own process that knows the database by name. */
async function startWorker(env: Record<string, string>): Promise<ChildProcess> {
  const child = await startWorkerProcess({ address: server.address, fleetFile: join(dir, 'fleet.json'), env });
  workers.push(child);
  return child;
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  dir = tempDir('meridian-stateful-e2e-');
  [server, pgServer] = await Promise.all([
    startDevServer({ dbFile: join(dir, 'temporal.db'), port: await freePort(), uiPort: await freePort() }),
    startPostgres({ databases: [] }),
  ]);
}, 120_000);

afterAll(async () => {
  for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
  await Promise.all([server?.stop(), pgServer?.stop()]);
});

describe('a worker killed in the middle of a reconciliation', () => {
  it('resumes from its checkpoint on another worker and fixes no row twice', async () => {
    const urls = await freshDatabases(pgServer, ['orders-kill']);
    const url = urls['orders-kill']!;
    const env = { [databaseEnvVar('orders-kill')]: url };
    // Slow batches of 10, so the kill lands part-way through.
    const recipe = { ...RECIPE, batchSize: 10, fix: `WITH pause AS (SELECT pg_sleep(0.15)) UPDATE orders SET format = 'v1', fix_count = fix_count + 1 FROM pause WHERE id = ANY($1)` };
    const plan = testPlan(
      {
        service: 'orders',
        image: 'registry.test/shop/orders@sha256:' + 'ef'.repeat(32),
        steps: [{ kind: 'setWeight', weight: 10 }, { kind: 'approval', name: 'rows-written' }],
        metrics: undefined,
        bake: undefined,
        simulation: undefined,
        migrations: MIGRATIONS.slice(0, 1),
        reconciliations: [recipe],
      },
      {
        waves: { 'wave-1': ['eu-west-1'] },
        region: () => ({ target: { kind: 'simulated', initial: { image: 'registry.test/shop/orders:2.3.1' } }, database: 'orders-kill' }),
      },
    );
    let worker = await startWorker(env);
    const client = new RolloutClient(server.client, { namespace: server.namespace });
    const id = await client.start(plan, { id: `stateful-kill-${process.pid}` });

    const gated = await until('the canary at its gate', async () => {
      const s = await client.status(id);
      return s.pendingApprovals.length > 0 ? s : undefined;
    });
    const deployed = gated.audit.find((a) => a.action === 'deploy-canary')!;
    await writeCanaryRows(url, deployed.at, ROWS);
    await client.abort(id, { by: 'test', reason: 'exercise the reconciliation' });

    const partial = await until('a checkpoint part-way through', async () => {
      const rows = await sql<{ fixed: string; last_key: string | null; finished_at: Date | null }>(url, 'SELECT fixed, last_key, finished_at FROM meridian_reconciliations').catch(() => []);
      const row = rows[0];
      return row && Number(row.fixed) >= 50 ? row : undefined;
    });
    worker.kill('SIGKILL');
    await new Promise((r) => worker.once('exit', r));
    const atKill = (await sql<{ fixed: string; finished_at: Date | null }>(url, 'SELECT fixed, finished_at FROM meridian_reconciliations'))[0]!;
    expect(Number(partial.fixed)).toBeGreaterThanOrEqual(50);
    expect(Number(atKill.fixed), 'the kill landed before the end').toBeLessThan(ROWS);
    expect(atKill.finished_at).toBeNull();

    worker = await startWorker(env);
    const status = await until(
      'the rollback to finish',
      async () => {
        const s: RolloutStatus = await client.status(id);
        return ['RolledBack', 'NeedsAttention', 'Failed'].includes(s.phase) ? s : undefined;
      },
      180_000,
    );
    expect(status.phase, status.reason).toBe('RolledBack');
    const reconciled = status.compensation.find((c) => c.undo.kind === 'reconcileData')!;
    expect(reconciled.counts).toEqual({ found: ROWS, fixed: ROWS, remaining: 0 });

    const counts = await sql<{ fix_count: number; format: string; n: string }>(url, `SELECT fix_count, format, count(*) AS n FROM orders GROUP BY 1, 2`);
    expect(counts.map((c) => ({ fixCount: c.fix_count, format: c.format, n: Number(c.n) }))).toEqual([{ fixCount: 1, format: 'v1', n: ROWS }]);

    const history = await server.client.workflow.getHandle(id).fetchHistory();
    const attempts = history.events!.flatMap((e) => (e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt ?? 1] : []));
    expect(Math.max(...attempts), 'the reconciliation ran again after the kill').toBeGreaterThanOrEqual(2);
  }, 300_000);
});
