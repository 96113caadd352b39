import pg from 'pg';
import { fingerprintOf } from '../../activities/postgres/fingerprint';
import type { RolloutStatus } from '../../domain/status';
import type { RegionEnd } from '../scenarios';
import type { ChaosPostgres } from './postgres-instance';
import { CONTRACT, COUNTED, EXPAND, INDEX, NEW_VERSION, RECIPE } from './postgres-scenarios';

/**
 * R3's checks from outside, per region database once its rollout ended: the migration ledger, how
 * often each migration took effect, the schema, the reconciled rows and their checkpoint, and that
 * no session, lock or invalid index was left behind.
 */

export interface RegionDatabase {
  region: string;
  database: string;
  end: RegionEnd;
  /** The schema's fingerprint hash before the rollout. */
  before: string;
  /** Rows the canary wrote there, which a rollback must fix exactly once. */
  canaryRows: number;
}

export interface DatabaseFindings {
  problems: string[];
  duplicates: number;
}

const CONTRACTED_COLUMNS = ['created_at', 'discount', 'fix_count', 'format', 'id', 'written_by'];

export async function fingerprintHash(server: ChaosPostgres, database: string): Promise<string> {
  const client = new pg.Client({ connectionString: server.url(database) });
  await client.connect();
  try {
    return (await fingerprintOf(client)).hash;
  } finally {
    await client.end();
  }
}

/** What the ledger must hold at the end: each expand and the contract applied once, or the expands reverted, or no ledger at all. */
function expectedLedger(end: RegionEnd): string[] | undefined {
  if (end === 'new') return [`${EXPAND} applied`, `${INDEX} applied`, `${CONTRACT} applied`];
  if (end === 'old') return [`${EXPAND} reverted`, `${INDEX} reverted`];
  return undefined;
}

/** How often each transactional migration must have taken effect, by `<id> <direction>`. */
function expectedEffects(end: RegionEnd): Record<string, number> {
  if (end === 'new') return { [`${EXPAND} up`]: 1, [`${CONTRACT} up`]: 1 };
  if (end === 'old') return { [`${EXPAND} up`]: 1, [`${EXPAND} down`]: 1 };
  return {};
}

async function ledgerProblems(server: ChaosPostgres, rolloutId: string, r: RegionDatabase): Promise<string[]> {
  const want = expectedLedger(r.end);
  const rows = await server
    .query<{ id: string; rollout_id: string; region: string; reverted_at: Date | null }>(r.database, 'SELECT id, rollout_id, region, reverted_at FROM meridian_migrations ORDER BY applied_at, id')
    .catch(() => undefined);
  if (!want) return rows && rows.length > 0 ? [`${r.region}: the ledger of ${r.database} has ${rows.map((x) => x.id).join(', ')}, expected no migration`] : [];
  if (!rows) return [`${r.region}: ${r.database} has no migration ledger, expected ${want.join(', ')}`];
  const seen = rows.map((x) => `${x.id} ${x.reverted_at ? 'reverted' : 'applied'}`);
  const problems = seen.join('; ') === want.join('; ') ? [] : [`${r.region}: the ledger of ${r.database} shows ${seen.join(', ') || 'nothing'}, expected ${want.join(', ')}`];
  const foreign = rows.filter((x) => x.rollout_id !== rolloutId || x.region !== r.region);
  if (foreign.length > 0) problems.push(`${r.region}: ledger rows of ${r.database} name another rollout or region: ${foreign.map((x) => `${x.id} by ${x.rollout_id} in ${x.region}`).join(', ')}`);
  return problems;
}

async function effectFindings(server: ChaosPostgres, r: RegionDatabase): Promise<DatabaseFindings> {
  const rows = await server.query<{ what: string; n: number }>(r.database, `SELECT migration || ' ' || direction AS what, count(*)::int AS n FROM chaos_effects GROUP BY 1`);
  const seen = Object.fromEntries(rows.map((x) => [x.what, x.n]));
  const want = expectedEffects(r.end);
  const problems: string[] = [];
  let duplicates = 0;
  for (const what of new Set([...Object.keys(want), ...Object.keys(seen), ...COUNTED.map((id) => `${id} up`)])) {
    const n = seen[what] ?? 0;
    if (n > 1) duplicates += n - 1;
    if (n !== (want[what] ?? 0)) problems.push(`${r.region}: migration ${what} took effect ${n} times in ${r.database}, expected ${want[what] ?? 0}`);
  }
  return { problems, duplicates };
}

async function schemaProblems(server: ChaosPostgres, r: RegionDatabase): Promise<string[]> {
  if (r.end !== 'new') {
    const now = await fingerprintHash(server, r.database);
    return now === r.before ? [] : [`${r.region}: the schema of ${r.database} differs from before the rollout (fingerprint ${now.slice(0, 12)}, was ${r.before.slice(0, 12)})`];
  }
  const columns = await server.query<{ c: string }>(r.database, `SELECT column_name AS c FROM information_schema.columns WHERE table_name = 'orders' ORDER BY 1`);
  const index = await server.query<{ valid: boolean }>(r.database, `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'orders_written_by_idx'`);
  const problems: string[] = [];
  const names = columns.map((x) => x.c);
  if (names.join(',') !== CONTRACTED_COLUMNS.join(',')) problems.push(`${r.region}: orders in ${r.database} has columns ${names.join(', ')}, expected ${CONTRACTED_COLUMNS.join(', ')}`);
  if (!index[0]?.valid) problems.push(`${r.region}: index orders_written_by_idx in ${r.database} is ${index[0] ? 'INVALID' : 'missing'}`);
  return problems;
}

/** The canary's rows: every one fixed exactly once, and the checkpoint finished with the same counts. */
async function reconcileFindings(server: ChaosPostgres, rolloutId: string, r: RegionDatabase): Promise<DatabaseFindings> {
  const rows = await server.query<{ format: string; fix_count: number; n: number }>(
    r.database,
    `SELECT format, fix_count, count(*)::int AS n FROM orders WHERE written_by = $1 GROUP BY 1, 2 ORDER BY 1, 2`,
    [NEW_VERSION],
  );
  const seen = rows.map((x) => `${x.n} ${x.format} fixed ${x.fix_count}x`).join(', ');
  const want = r.canaryRows === 0 ? '' : `${r.canaryRows} v1 fixed 1x`;
  const problems = seen === want ? [] : [`${r.region}: canary rows in ${r.database} are ${seen || 'none'}, expected ${want || 'none'}`];
  const duplicates = rows.reduce((sum, x) => sum + (x.fix_count > 1 ? (x.fix_count - 1) * x.n : 0), 0);
  if (r.canaryRows === 0) return { problems, duplicates };
  const checkpoints = await server
    .query<{ found: string; fixed: string; finished: boolean }>(r.database, `SELECT found, fixed, finished_at IS NOT NULL AS finished FROM meridian_reconciliations WHERE rollout_id = $1 AND region = $2 AND recipe = $3`, [rolloutId, r.region, RECIPE.name])
    .catch(() => []);
  const cp = checkpoints.map((c) => `found ${c.found}, fixed ${c.fixed}${c.finished ? '' : ', unfinished'}`).join('; ');
  const wantCp = `found ${r.canaryRows}, fixed ${r.canaryRows}`;
  if (cp !== wantCp) problems.push(`${r.region}: the reconciliation checkpoint in ${r.database} says ${cp || 'nothing'}, expected ${wantCp}`);
  return { problems, duplicates };
}

/** Sessions of Meridian still open, advisory locks still held, indexes left INVALID: a migration or reconciliation that never let go. */
async function leftoverProblems(server: ChaosPostgres, r: RegionDatabase): Promise<string[]> {
  const [left] = await server.query<{ sessions: number; locks: number }>(
    'postgres',
    `SELECT (SELECT count(*)::int FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'meridian%') AS sessions,
            (SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = $1)) AS locks`,
    [r.database],
  );
  const [invalid] = await server.query<{ n: number }>(r.database, 'SELECT count(*)::int AS n FROM pg_index WHERE NOT indisvalid');
  const problems: string[] = [];
  if (left!.sessions > 0) problems.push(`${r.region}: ${left!.sessions} Meridian sessions still open on ${r.database}`);
  if (left!.locks > 0) problems.push(`${r.region}: ${left!.locks} advisory locks still held on ${r.database}`);
  if (invalid!.n > 0) problems.push(`${r.region}: ${invalid!.n} INVALID indexes left in ${r.database}`);
  return problems;
}

/** What the rollout's own status says it reconciled in a region with canary rows. */
export function statusCountProblems(status: RolloutStatus | undefined, r: RegionDatabase): string[] {
  if (r.canaryRows === 0 || !status) return [];
  const counts = status.compensation.find((c) => c.undo.kind === 'reconcileData' && c.undo.region === r.region)?.counts;
  const want = { found: r.canaryRows, fixed: r.canaryRows, remaining: 0 };
  return JSON.stringify(counts) === JSON.stringify(want) ? [] : [`${r.region}: the status reports reconciliation counts ${JSON.stringify(counts ?? null)}, expected ${JSON.stringify(want)}`];
}

export async function databaseFindings(server: ChaosPostgres, rolloutId: string, r: RegionDatabase): Promise<DatabaseFindings> {
  const effects = await effectFindings(server, r);
  const reconciled = await reconcileFindings(server, rolloutId, r);
  const problems = [
    ...(await ledgerProblems(server, rolloutId, r)),
    ...effects.problems,
    ...(await schemaProblems(server, r)),
    ...reconciled.problems,
    ...(await leftoverProblems(server, r)),
  ];
  return { problems, duplicates: effects.duplicates + reconciled.duplicates };
}
