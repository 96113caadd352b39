import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { findPostgresBin, giveToServerUser, initCluster, PortTakenError, startServer, stopServer, stopServerSync } from '../../lib/postgres-server';
import { freePort } from './processes';

export { findPostgresBin };

export interface RunningPostgres {
  /** Connection URL of each database asked for, by name. */
  urls: Record<string, string>;
  port: number;
  /** Connection URL of the `postgres` maintenance database. */
  adminUrl: string;
  /** Crashes the server (an immediate stop, recovered from the WAL), keeps it down `downMs`, and starts it again on the same port. */
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A throwaway PostgreSQL cluster on a free loopback port with trust authentication, one database
 * per name (created empty), removed again by `stop()`.
 */
export async function startPostgres(options: { databases: string[] }): Promise<RunningPostgres> {
  const bin = findPostgresBin();
  const base = mkdtempSync(join(tmpdir(), 'meridian-pg-'));
  giveToServerUser(base);
  const data = join(base, 'data');
  const log = join(base, 'server.log');
  const cleanup = () => {
    stopServerSync(bin, data);
    rmSync(base, { recursive: true, force: true });
  };
  process.once('exit', cleanup);
  try {
    await initCluster(bin, data, 'postgres');
    const port = await startOnFreePort(bin, data, log, base);
    const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    try {
      for (const name of options.databases) await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    } finally {
      await admin.end();
    }
    const urls = Object.fromEntries(options.databases.map((name) => [name, `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(name)}`]));
    return {
      urls,
      port,
      adminUrl,
      restart: async (downMs = 0) => {
        await stopServer(bin, data, 'immediate');
        await new Promise((r) => setTimeout(r, downMs));
        await startServer({ bin, dataDir: data, port, logFile: log, socketDir: base, fast: true });
      },
      stop: async () => {
        process.removeListener('exit', cleanup);
        await stopServer(bin, data).catch(() => undefined);
        rmSync(base, { recursive: true, force: true });
      },
    };
  } catch (err) {
    process.removeListener('exit', cleanup);
    cleanup();
    throw err;
  }
}

/** Another process may take the port between probe and bind; try a few. */
async function startOnFreePort(bin: string, dataDir: string, logFile: string, socketDir: string): Promise<number> {
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      await startServer({ bin, dataDir, port, logFile, socketDir, fast: true });
      return port;
    } catch (err) {
      last = err;
      if (!(err instanceof PortTakenError)) throw err;
    }
  }
  throw last;
}
