import { closeSync, mkdirSync, openSync, readSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import { loadSqlite } from './sqlite';

/** The first 16 bytes of every SQLite database file. */
const SQLITE_HEADER = 'SQLite format 3\0';
/** How long a change waits for another process's transaction on the same file before it fails. */
const BUSY_TIMEOUT_MS = 10_000;

/** What a database of this store holds: the `application_id` that marks its files, the `user_version` and the DDL of that version. */
export interface Schema {
  applicationId: number;
  version: number;
  ddl: string;
}

/** Why a state file cannot hold the fleet: the JSON fleet of an earlier Meridian, not SQLite, another program's database, another schema version, or unreadable. */
export type FleetFileProblem = 'json' | 'notSqlite' | 'otherDatabase' | 'otherVersion' | 'unusable';

/** The state file cannot be used: the message names it and says what to do. */
export class FleetFileError extends Error {
  readonly file: string;
  readonly problem: FleetFileProblem;

  constructor(file: string, problem: FleetFileProblem, message: string) {
    super(message);
    this.file = file;
    this.problem = problem;
    this.name = 'FleetFileError';
  }
}

/**
 * One SQLite database in one file, shared by every instance and process that opens it. WAL lets
 * readers run beside the one writer; each change runs in one BEGIN IMMEDIATE transaction, which takes
 * the write lock before it reads, so read-modify-writes of different processes never interleave and
 * a process that finds the lock taken waits up to the busy timeout.
 */
export class SqliteStore {
  readonly file: string;
  private readonly db: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();

  constructor(file: string, schema: Schema) {
    this.file = file;
    refuseForeignFile(file);
    try {
      mkdirSync(dirname(file), { recursive: true });
      this.db = new (loadSqlite().DatabaseSync)(file, { timeout: BUSY_TIMEOUT_MS });
    } catch (err) {
      throw unusable(file, 'open', err);
    }
    try {
      // Refused before anything is written, so a database of something else stays as it was.
      this.read(() => this.schemaState(schema));
      this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL');
      this.write(() => {
        if (this.schemaState(schema) === 'empty') this.createSchema(schema);
      });
    } catch (err) {
      this.db.close();
      throw err instanceof FleetFileError ? err : unusable(file, 'open', err);
    }
  }

  /** Runs `change` in one BEGIN IMMEDIATE transaction; a throw rolls everything back. */
  write<R>(change: () => R): R {
    return this.transaction('BEGIN IMMEDIATE', change);
  }

  /** Runs `query` in one read transaction, so its statements see one state. */
  read<R>(query: () => R): R {
    return this.transaction('BEGIN', query);
  }

  get<T>(sql: string, ...params: SQLInputValue[]): T | undefined {
    return this.statement(sql).get(...params) as T | undefined;
  }

  all<T>(sql: string, ...params: SQLInputValue[]): T[] {
    return this.statement(sql).all(...params) as T[];
  }

  run(sql: string, ...params: SQLInputValue[]): void {
    this.statement(sql).run(...params);
  }

  close(): void {
    this.db.close();
  }

  private statement(sql: string): StatementSync {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private transaction<R>(begin: string, body: () => R): R {
    this.db.exec(begin);
    try {
      const result = body();
      this.db.exec('COMMIT');
      return result;
    } catch (err) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
  }

  /** `ready` when the database holds this schema, `empty` when it holds nothing yet; refuses any other. */
  private schemaState(schema: Schema): 'ready' | 'empty' {
    const applicationId = this.get<{ application_id: number }>('PRAGMA application_id')!.application_id;
    const version = this.get<{ user_version: number }>('PRAGMA user_version')!.user_version;
    if (applicationId === schema.applicationId && version === schema.version) return 'ready';
    if (applicationId === schema.applicationId) {
      throw new FleetFileError(
        this.file,
        'otherVersion',
        `${this.file} holds a simulated fleet of schema version ${version}, and this Meridian reads version ${schema.version}; delete the file (the fleet starts afresh) or pass another --fleet-file`,
      );
    }
    if (this.get<{ n: number }>('SELECT count(*) AS n FROM sqlite_schema')!.n === 0) return 'empty';
    throw new FleetFileError(this.file, 'otherDatabase', `${this.file} is a SQLite database of something other than Meridian's simulated fleet; pass another --fleet-file`);
  }

  private createSchema(schema: Schema): void {
    this.db.exec(schema.ddl);
    this.db.exec(`PRAGMA application_id = ${schema.applicationId}; PRAGMA user_version = ${schema.version}`);
  }
}

/** Fails, naming the file, when `file` holds something that is not a SQLite database: most likely the JSON fleet of an earlier Meridian. */
function refuseForeignFile(file: string): void {
  const head = readHead(file, SQLITE_HEADER.length);
  if (head === undefined || head.length === 0 || head.toString('latin1') === SQLITE_HEADER) return;
  if (head.toString('utf8').trimStart().startsWith('{')) {
    throw new FleetFileError(
      file,
      'json',
      `${file} holds a simulated fleet in the JSON format of an earlier Meridian, which this one no longer reads; delete it (the fleet starts afresh) or pass another --fleet-file`,
    );
  }
  throw new FleetFileError(file, 'notSqlite', `${file} is not a SQLite database, so it cannot hold the simulated fleet; pass another --fleet-file`);
}

/** The first `length` bytes of `file`; undefined when there is no file. */
function readHead(file: string, length: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw unusable(file, 'read', err);
  }
  try {
    const buf = Buffer.alloc(length);
    return buf.subarray(0, readSync(fd, buf, 0, length, 0));
  } catch (err) {
    throw unusable(file, 'read', err);
  } finally {
    closeSync(fd);
  }
}

function unusable(file: string, verb: 'open' | 'read', err: unknown): FleetFileError {
  const why = err instanceof Error ? err.message : String(err);
  return new FleetFileError(file, 'unusable', `cannot ${verb} the simulated fleet's state file ${file} (${why}); check the path, or pass another --fleet-file`);
}
