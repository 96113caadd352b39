/**
 * Reconciliation throughput on a real PostgreSQL: rows fixed per second over many affected rows,
 * at several batch sizes, with the peak resident memory of the process doing the work (the worker).
 * Run alone: `tsx bench/reconcile.ts`.
 */
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { databaseEnvVar } from '../activities/postgres/connections';
import { reconcile } from '../activities/postgres/reconcile';
import { startPostgres } from '../test/support/postgres';

export interface ReconcileBenchOptions {
  /** Affected rows; 1,000,000 by default. */
  rows?: number;
  batchSizes?: number[];
}

export interface ReconcileFigure {
  batchSize: number;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  /** Highest resident set size of this process while the reconciliation ran. */
  peakRssMb: number;
  /** Highest V8 heap in use meanwhile, garbage included: RSS mostly reflects how lazily V8 collects. */
  peakHeapMb: number;
}

const WINDOW_START = '2026-03-01T10:00:00Z';
const WINDOW_END = '2026-03-01T11:00:00Z';

const RECIPE = {
  name: 'bench',
  find: `SELECT id AS key FROM items WHERE written_by = '2.4.0' AND created_at >= $1 AND created_at < $2`,
  fix: `UPDATE items SET format = 'v1', fix_count = fix_count + 1 WHERE id = ANY($1)`,
  verify: `SELECT count(*) FROM items WHERE written_by = '2.4.0' AND created_at >= $1 AND created_at < $2 AND format <> 'v1'`,
};

export async function benchReconcile(opts: ReconcileBenchOptions = {}): Promise<ReconcileFigure[]> {
  const rows = opts.rows ?? 1_000_000;
  const server = await startPostgres({ databases: ['bench'] });
  const env = { [databaseEnvVar('bench')]: server.urls.bench! };
  const figures: ReconcileFigure[] = [];
  try {
    for (const batchSize of opts.batchSizes ?? [1_000, 10_000]) {
      await fillTable(server.urls.bench!, rows);
      let peak = process.memoryUsage.rss();
      let heap = process.memoryUsage().heapUsed;
      const sampler = setInterval(() => {
        const now = process.memoryUsage();
        peak = Math.max(peak, now.rss);
        heap = Math.max(heap, now.heapUsed);
      }, 20);
      const started = performance.now();
      const input = {
        database: 'bench',
        rolloutId: `bench/${batchSize}`,
        region: 'bench-1',
        recipe: { ...RECIPE, batchSize },
        windowStart: WINDOW_START,
        windowEnd: WINDOW_END,
      };
      const result = await reconcile(input, undefined, { env });
      const seconds = (performance.now() - started) / 1000;
      clearInterval(sampler);
      peak = Math.max(peak, process.memoryUsage.rss());
      if (result.fixed !== rows || result.remaining !== 0) {
        throw new Error(`batch size ${batchSize}: fixed ${result.fixed} of ${rows} rows, ${result.remaining} remaining`);
      }
      figures.push({
        batchSize,
        rows,
        seconds: round(seconds, 2),
        rowsPerSecond: Math.round(rows / seconds),
        peakRssMb: round(peak / 2 ** 20, 1),
        peakHeapMb: round(heap / 2 ** 20, 1),
      });
    }
  } finally {
    await server.stop();
  }
  return figures;
}

async function fillTable(url: string, rows: number): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP TABLE IF EXISTS items, meridian_reconciliations;
      CREATE TABLE items (id bigint PRIMARY KEY, written_by text NOT NULL, created_at timestamptz NOT NULL,
                          format text NOT NULL, fix_count integer NOT NULL DEFAULT 0, payload text NOT NULL)`);
    await client.query(
      `INSERT INTO items SELECT g, '2.4.0', timestamptz '${WINDOW_START}' + (g % 3600) * interval '1 second', 'v2', 0, md5(g::text)
         FROM generate_series(1, $1::bigint) g`,
      [rows],
    );
    await client.query('VACUUM ANALYZE items');
  } finally {
    await client.end();
  }
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await benchReconcile();
  console.log(JSON.stringify(figures, null, 2));
}
