import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../../lib/ports';
import { findPostgresBin, giveToServerUser, initCluster, PortTakenError, startServer, stopServer, stopServerSync } from '../../lib/postgres-server';

const SUPERUSER = 'postgres';
/** Tries to find a free port, or to get the same one back after a restart, before giving up. */
const BIND_TRIES = 5;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A PostgreSQL server of R3's own (not the cluster's), durable as a production one is (fsync and
 * synchronous commit on), which the row crashes and starts again on the same port. The data lives
 * in a fresh folder under the system's temporary folder (the server's OS user must reach it) and is
 * removed by stop().
 */
export class ChaosPostgres {
  /** Crash-restarts so far. */
  restarts = 0;

  private readonly bin: string;
  private readonly base: string;
  readonly port: number;
  private readonly cleanup: () => void;

  private constructor(bin: string, base: string, port: number, cleanup: () => void) {
    this.bin = bin;
    this.base = base;
    this.port = port;
    this.cleanup = cleanup;
  }

  static async start(): Promise<ChaosPostgres> {
    const bin = findPostgresBin();
    const base = mkdtempSync(join(tmpdir(), 'meridian-chaos-pg-'));
    giveToServerUser(base);
    const cleanup = () => {
      stopServerSync(bin, join(base, 'data'));
      rmSync(base, { recursive: true, force: true });
    };
    process.once('exit', cleanup);
    try {
      await initCluster(bin, join(base, 'data'), SUPERUSER);
      for (let tried = 1; ; tried++) {
        const port = await freePort();
        const server = new ChaosPostgres(bin, base, port, cleanup);
        try {
          await server.boot();
          return server;
        } catch (err) {
          if (!(err instanceof PortTakenError) || tried >= BIND_TRIES) throw err;
        }
      }
    } catch (err) {
      process.removeListener('exit', cleanup);
      cleanup();
      throw err;
    }
  }

  get logFile(): string {
    return join(this.base, 'server.log');
  }

  url(database: string): string {
    return `postgres://${SUPERUSER}@127.0.0.1:${this.port}/${encodeURIComponent(database)}`;
  }

  /** A new empty database; returns its URL. */
  async createDatabase(name: string): Promise<string> {
    await this.query('postgres', `CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    return this.url(name);
  }

  /** One statement on a fresh session, for checks from outside. */
  async query<T extends pg.QueryResultRow = Record<string, unknown>>(database: string, text: string, values: unknown[] = []): Promise<T[]> {
    const client = new pg.Client({ connectionString: this.url(database), connectionTimeoutMillis: 10_000 });
    client.on('error', () => {});
    await client.connect();
    try {
      return (await client.query<T>(text, values)).rows;
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** A crash (immediate stop: no checkpoint, sessions cut), `downMs` down, then a start on the same port that recovers from the WAL. */
  async restart(downMs: number): Promise<void> {
    await stopServer(this.bin, join(this.base, 'data'), 'immediate');
    this.restarts += 1;
    await sleep(downMs);
    for (let tried = 1; ; tried++) {
      try {
        return await this.boot();
      } catch (err) {
        if (!(err instanceof PortTakenError) || tried >= BIND_TRIES) throw err;
        await sleep(500);
      }
    }
  }

  async stop(): Promise<void> {
    process.removeListener('exit', this.cleanup);
    await stopServer(this.bin, join(this.base, 'data')).catch(() => {});
    this.cleanup();
  }

  private boot(): Promise<void> {
    return startServer({ bin: this.bin, dataDir: join(this.base, 'data'), port: this.port, logFile: this.logFile, socketDir: this.base, maxConnections: 200 });
  }
}
