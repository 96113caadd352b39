import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import { DEFAULT_RECONCILE_BATCH, DEFAULT_STATEMENT_TIMEOUT_MS } from '../../domain/spec-defaults';
import { FAILURE } from '../../domain/vocabulary';
import { activityContext, heartbeat, throwIfCancelled } from '../activity-context';
import { withDatabase, type Env } from './connections';
import { describeSqlError, isTransient, sqlErrorInfo } from './sql-error';
import { ensureMeridianTables, RECONCILIATIONS_TABLE } from './tables';

/** A recipe as the spec gives it (`batchSize` defaults to DEFAULT_RECONCILE_BATCH). */
export interface RecipeInput {
  name: string;
  find: string;
  fix: string;
  verify: string;
  batchSize?: number;
}

export interface ReconcileInput {
  database: string;
  rolloutId: string;
  region: string;
  recipe: RecipeInput;
  /** The canary window: epoch milliseconds or a timestamp PostgreSQL reads; `$1` and `$2` of find and verify. */
  windowStart: number | string;
  windowEnd: number | string;
  statementTimeoutMs?: number;
}

/** What the activity heartbeats after every committed batch. */
export interface ReconcileCheckpoint {
  /** The last key fixed, as text; null before the first batch. */
  lastKey: string | null;
  found: number;
  fixed: number;
}

export interface ReconcileResult {
  recipe: string;
  /** Keys `find` returned, over every attempt. */
  found: number;
  /** Rows `fix` reported changed, over every attempt. */
  fixed: number;
  /** What `verify` counted at the end; 0 means reconciled. */
  remaining: number;
  /** Batches this attempt committed. */
  batches: number;
  /** Where this attempt started: the last key an earlier attempt committed. */
  resumedFrom: string | null;
}

export interface ReconcileOptions {
  env?: Env;
  /** Called after every committed batch. */
  onBatch?: (checkpoint: ReconcileCheckpoint) => void;
}

const WINDOW_USED = '$1::text IS NOT NULL AND $2::text IS NOT NULL';

/**
 * Fixes the rows a canary wrote, in keyed batches: each batch's `fix` and the checkpoint row in
 * `meridian_reconciliations` commit in one transaction, and each batch locks that row first, so an
 * attempt killed anywhere resumes after the last committed batch and no key is fixed twice, even
 * when a stale attempt is still running. The row is the source of truth; `checkpoint` (by default
 * the activity's last heartbeat) only seeds a row that does not exist. Memory holds one batch of keys.
 */
export async function reconcile(input: ReconcileInput, checkpoint?: ReconcileCheckpoint, options: ReconcileOptions = {}): Promise<ReconcileResult> {
  const seed = checkpoint ?? heartbeatCheckpoint();
  const recipe = input.recipe;
  const limit = recipe.batchSize ?? DEFAULT_RECONCILE_BATCH;
  const window = [timestamp(input.windowStart), timestamp(input.windowEnd)];
  const find = body(recipe.find);
  const first = `SELECT f.key::text AS key FROM (${find}) AS f WHERE f.key IS NOT NULL AND ${WINDOW_USED} ORDER BY f.key LIMIT $3`;
  const next = `SELECT f.key::text AS key FROM (${find}) AS f WHERE f.key > $3 AND ${WINDOW_USED} ORDER BY f.key LIMIT $4`;
  const id = [input.rolloutId, input.region, recipe.name, window[0]];
  const applicationName = `meridian reconcile ${input.region} ${input.rolloutId}`;

  return withDatabase(input.database, { env: options.env, applicationName }, async (client) => {
    await client.query(`SET statement_timeout = '${Math.round(input.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS)}ms'`);
    await ensureMeridianTables(client);
    await client.query(
      `INSERT INTO ${RECONCILIATIONS_TABLE} (rollout_id, region, recipe, window_start, window_end, last_key, found, fixed)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
      [...id, window[1], seed?.lastKey ?? null, seed?.found ?? 0, seed?.fixed ?? 0],
    );
    let state = await readState(client, id, false);
    const resumedFrom = state.lastKey;
    let batches = 0;
    while (!state.finished) {
      throwIfCancelled();
      await client.query('BEGIN');
      try {
        state = await readState(client, id, true);
        if (state.finished) {
          await client.query('COMMIT');
          break;
        }
        const found = await step(input, 'find', find, state.lastKey === null ? first : next, () =>
          client.query<{ key: string }>(state.lastKey === null ? first : next, state.lastKey === null ? [...window, limit] : [...window, state.lastKey, limit]),
        );
        const keys = found.rows.map((r) => r.key);
        if (keys.length === 0) {
          await client.query(`UPDATE ${RECONCILIATIONS_TABLE} SET finished_at = now(), updated_at = now() ${WHERE}`, id);
          await client.query('COMMIT');
          state = { ...state, finished: true };
          break;
        }
        const fixed = await step(input, 'fix', recipe.fix, recipe.fix, () => client.query(recipe.fix, [keys]));
        state = { lastKey: keys[keys.length - 1]!, found: state.found + keys.length, fixed: state.fixed + (fixed.rowCount ?? 0), finished: false };
        await client.query(`UPDATE ${RECONCILIATIONS_TABLE} SET last_key = $5, found = $6, fixed = $7, updated_at = now() ${WHERE}`, [
          ...id,
          state.lastKey,
          state.found,
          state.fixed,
        ]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
      batches++;
      const progress: ReconcileCheckpoint = { lastKey: state.lastKey, found: state.found, fixed: state.fixed };
      heartbeat(progress);
      options.onBatch?.(progress);
    }
    const check = `SELECT * FROM (${body(recipe.verify)}) AS v WHERE ${WINDOW_USED}`;
    const verified = await step(input, 'verify', body(recipe.verify), check, () => client.query(check, window));
    const remaining = Number(verified.rows[0] ? Object.values(verified.rows[0])[0] : NaN);
    if (!Number.isFinite(remaining)) {
      throw ApplicationFailure.nonRetryable(
        `reconciliation "${recipe.name}" on database "${input.database}": verify must return one row with a count, got ${JSON.stringify(verified.rows[0] ?? null)}`,
        FAILURE.reconciliationFailed,
      );
    }
    return { recipe: recipe.name, found: state.found, fixed: state.fixed, remaining, batches, resumedFrom };
  });
}

const WHERE = 'WHERE rollout_id = $1 AND region = $2 AND recipe = $3 AND window_start = $4';

interface State extends ReconcileCheckpoint {
  finished: boolean;
}

async function readState(client: pg.Client, id: unknown[], lock: boolean): Promise<State> {
  const { rows } = await client.query<{ last_key: string | null; found: string; fixed: string; finished_at: Date | null }>(
    `SELECT last_key, found, fixed, finished_at FROM ${RECONCILIATIONS_TABLE} ${WHERE}${lock ? ' FOR UPDATE' : ''}`,
    id,
  );
  const row = rows[0]!;
  return { lastKey: row.last_key, found: Number(row.found), fixed: Number(row.fixed), finished: row.finished_at !== null };
}

/** Runs one of the recipe's statements; an error's position is mapped back into the recipe's own text. */
async function step<T>(input: ReconcileInput, what: 'find' | 'fix' | 'verify', text: string, sent: string, query: () => Promise<T>): Promise<T> {
  try {
    return await query();
  } catch (err) {
    const info = sqlErrorInfo(err, text, -sent.indexOf(text));
    throw ApplicationFailure.create({
      message: `reconciliation "${input.recipe.name}" on database "${input.database}", ${what}: ${describeSqlError(info)}`,
      type: FAILURE.reconciliationFailed,
      nonRetryable: !isTransient(info),
      details: [{ recipe: input.recipe.name, database: input.database, statement: what, ...info }],
    });
  }
}

function heartbeatCheckpoint(): ReconcileCheckpoint | undefined {
  const details = activityContext()?.info.heartbeatDetails as Partial<ReconcileCheckpoint> | undefined;
  if (!details || typeof details.found !== 'number' || typeof details.fixed !== 'number') return undefined;
  return { lastKey: typeof details.lastKey === 'string' ? details.lastKey : null, found: details.found, fixed: details.fixed };
}

function timestamp(value: number | string): string {
  return typeof value === 'number' ? new Date(value).toISOString() : value;
}

/** A query wrapped as a subquery cannot end in a semicolon. */
function body(sql: string): string {
  return sql.trim().replace(/;+\s*$/, '');
}
