import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import { DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_STATEMENT_TIMEOUT_MS } from '../../domain/spec-defaults';
import type { MigrationPhase } from '../../domain/stateful';
import { FAILURE } from '../../domain/vocabulary';
import { keepAlive } from '../activity-context';
import { withDatabase, type Env } from './connections';
import { applyDecision, readLedgerRow, recordApplied, recordReverted, revertDecision, type LedgerRef } from './ledger';
import { acquireMigrationLock, releaseMigrationLock } from './migration-lock';
import { resolveMigration, type MigrationInput, type ResolvedMigration } from './migration-source';
import { splitStatements } from './split-sql';
import { describeSqlError, isTransient, sqlErrorInfo } from './sql-error';
import { ensureMeridianTables } from './tables';

export interface ApplyMigrationsInput {
  /** The database's name in the spec; the worker resolves it (see connections.ts). */
  database: string;
  rolloutId: string;
  region: string;
  /** The spec's ordered list; only those of `phase` run, in order. */
  migrations: MigrationInput[];
  phase: MigrationPhase;
  lockTimeoutMs?: number;
  statementTimeoutMs?: number;
}

export interface RevertMigrationsInput {
  database: string;
  rolloutId: string;
  region: string;
  /** The ones to revert, in the order to revert them: the reverse of the order they were applied. */
  migrations: MigrationInput[];
  lockTimeoutMs?: number;
  statementTimeoutMs?: number;
}

export interface MigrationOutcome {
  id: string;
  action: 'applied' | 'reverted' | 'skipped';
  /** Why it was skipped. */
  reason?: string;
  ms: number;
}

export interface MigrationsResult {
  database: string;
  region: string;
  outcomes: MigrationOutcome[];
}

export interface MigrationOptions {
  env?: Env;
  /** Where `{ file }` sources are read from; the working directory by default. */
  baseDir?: string;
  lockPollMs?: number;
  onLockWait?: (holder: string | undefined) => void;
}

type Direction = 'up' | 'down';

/**
 * Applies the `phase` migrations not yet in the ledger, holding the database's migration lock.
 * A transactional migration and its ledger row commit together, so a retried activity does nothing
 * twice. A `transactional: false` one runs statement by statement and is recorded only after every
 * statement succeeded and no index it names is left INVALID; its statements must be safe to run
 * again (`IF NOT EXISTS`), because a retry after a partial failure runs all of them again.
 */
export async function applyMigrations(input: ApplyMigrationsInput, options: MigrationOptions = {}): Promise<MigrationsResult> {
  const list = input.migrations.filter((m) => m.phase === input.phase).map((m) => resolveMigration(m, options.baseDir));
  return run('up', input, list, options);
}

/** Runs `down` of each migration this rollout applied in this region, in the order given. */
export async function revertMigrations(input: RevertMigrationsInput, options: MigrationOptions = {}): Promise<MigrationsResult> {
  return run('down', input, input.migrations.map((m) => resolveMigration(m, options.baseDir)), options);
}

async function run(
  direction: Direction,
  input: LedgerRef & { lockTimeoutMs?: number; statementTimeoutMs?: number },
  list: ResolvedMigration[],
  options: MigrationOptions,
): Promise<MigrationsResult> {
  const ref: LedgerRef = { database: input.database, rolloutId: input.rolloutId, region: input.region };
  const applicationName = `meridian ${input.region} ${input.rolloutId}`;
  return withDatabase(input.database, { env: options.env, applicationName }, async (client) => {
    await client.query(`SET lock_timeout = ${ms(input.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS)}`);
    await client.query(`SET statement_timeout = ${ms(input.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS)}`);
    const key = await acquireMigrationLock(client, input.database, { pollMs: options.lockPollMs, onWait: options.onLockWait });
    try {
      await ensureMeridianTables(client);
      const outcomes: MigrationOutcome[] = [];
      for (const m of list) outcomes.push(await runOne(client, direction, m, ref));
      return { database: input.database, region: input.region, outcomes };
    } finally {
      await releaseMigrationLock(client, key).catch(() => {});
    }
  });
}

async function runOne(client: pg.Client, direction: Direction, m: ResolvedMigration, ref: LedgerRef): Promise<MigrationOutcome> {
  const started = Date.now();
  const stop = keepAlive(() => ({ migration: m.id, direction }));
  const decide = direction === 'up' ? applyDecision : revertDecision;
  const record = () => (direction === 'up' ? recordApplied(client, m, ref) : recordReverted(client, m.id));
  const done = (): MigrationOutcome => ({ id: m.id, action: direction === 'up' ? 'applied' : 'reverted', ms: Date.now() - started });
  const skipped = (reason: string): MigrationOutcome => ({ id: m.id, action: 'skipped', reason, ms: Date.now() - started });
  try {
    if (!m.transactional) {
      const decision = decide(await readLedgerRow(client, m.id, false), m, ref);
      if (!decision.run) return skipped(decision.reason);
      await runStatements(client, direction, m, ref);
      await record();
      return done();
    }
    await client.query('BEGIN');
    try {
      const decision = decide(await readLedgerRow(client, m.id, true), m, ref);
      if (!decision.run) {
        await client.query('ROLLBACK');
        return skipped(decision.reason);
      }
      const sql = direction === 'up' ? m.up : m.down;
      await client.query(sql).catch((err) => {
        throw migrationFailure(direction, m, ref, err, sql);
      });
      await record();
      await client.query('COMMIT').catch((err) => {
        throw migrationFailure(direction, m, ref, err);
      });
      return done();
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  } finally {
    stop();
  }
}

/** A non-transactional migration: one statement at a time, in autocommit. */
async function runStatements(client: pg.Client, direction: Direction, m: ResolvedMigration, ref: LedgerRef): Promise<void> {
  const sql = direction === 'up' ? m.up : m.down;
  const statements = splitStatements(sql);
  for (const [i, statement] of statements.entries()) {
    try {
      await client.query(statement.text);
    } catch (err) {
      const invalid = await invalidIndexesNamedIn(client, sql).catch(() => []);
      const partial = i > 0 ? `statements 1-${i} of ${statements.length} took effect; ` : '';
      throw migrationFailure(direction, m, ref, err, sql, statement.offset, {
        statement: i + 1,
        note: `${partial}not recorded in the ledger${leftInvalid(invalid)}`,
      });
    }
  }
  const invalid = await invalidIndexesNamedIn(client, sql);
  if (invalid.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `migration "${m.id}" (${direction}) on database "${ref.database}" ran, but${leftInvalid(invalid)}; not recorded in the ledger`,
      FAILURE.migrationIncomplete,
      { migrationId: m.id, direction, database: ref.database, invalidIndexes: invalid },
    );
  }
}

/** A failed CREATE INDEX CONCURRENTLY leaves an INVALID index that `IF NOT EXISTS` would then skip. */
async function invalidIndexesNamedIn(client: pg.Client, sql: string): Promise<string[]> {
  const { rows } = await client.query<{ name: string; qualified: string }>(
    `SELECT c.relname AS name, format('%I.%I', n.nspname, c.relname) AS qualified
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'`,
  );
  const text = sql.toLowerCase();
  return rows.filter((r) => text.includes(r.name.toLowerCase())).map((r) => r.qualified);
}

function leftInvalid(indexes: string[]): string {
  if (indexes.length === 0) return '';
  return `; index ${indexes.join(', ')} is left INVALID: drop it (DROP INDEX CONCURRENTLY ${indexes[0]}) and retry`;
}

function migrationFailure(
  direction: Direction,
  m: ResolvedMigration,
  ref: LedgerRef,
  err: unknown,
  sql?: string,
  offset = 0,
  extra: { statement?: number; note?: string } = {},
): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const info = sqlErrorInfo(err, sql, offset);
  if (info.code === '25001' && !info.hint) info.hint = 'mark the migration transactional: false to run it outside a transaction';
  const where = extra.statement !== undefined ? `, statement ${extra.statement}` : '';
  const note = extra.note ? `; ${extra.note}` : '';
  return ApplicationFailure.create({
    message: `migration "${m.id}" (${direction}) failed on database "${ref.database}"${where}: ${describeSqlError(info)}${note}`,
    type: FAILURE.migrationFailed,
    nonRetryable: !isTransient(info),
    details: [{ migrationId: m.id, direction, database: ref.database, statement: extra.statement, ...info }],
  });
}

function ms(value: number): string {
  return `'${Math.max(0, Math.round(value))}ms'`;
}
