import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { findPostgresBin, giveToServerUser, initCluster, serverPid, startServer, stopServer } from '../lib/postgres-server';
import type { ServerBinaries } from './build';

const run = promisify(execFile);

export const DB_USER = 'temporal';
export const DATABASES = { temporal: 'temporal', visibility: 'temporal_visibility' } as const;

export interface ClusterPostgres {
  bin: string;
  dataDir: string;
  logFile: string;
  socketDir: string;
  port: number;
}

export function clusterPostgres(base: string, port: number): ClusterPostgres {
  return { bin: findPostgresBin(), dataDir: join(base, 'data'), logFile: join(base, 'server.log'), socketDir: base, port };
}

/** Creates the data folder on first use, then starts the server unless it runs already. */
export async function startClusterPostgres(pg: ClusterPostgres): Promise<void> {
  if (!existsSync(join(pg.dataDir, 'PG_VERSION'))) {
    mkdirSync(pg.socketDir, { recursive: true });
    giveToServerUser(pg.socketDir);
    await initCluster(pg.bin, pg.dataDir, DB_USER);
  }
  if (serverPid(pg.dataDir) !== undefined) return;
  await startServer({ bin: pg.bin, dataDir: pg.dataDir, port: pg.port, logFile: pg.logFile, socketDir: pg.socketDir, maxConnections: 300 });
}

export async function stopClusterPostgres(pg: ClusterPostgres, mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
  if (serverPid(pg.dataDir) === undefined) return;
  await stopServer(pg.bin, pg.dataDir, mode);
}

/** The script docker-compose.yml runs in the admin-tools image, run here with the cached tool and schema. */
export const SCHEMA_SCRIPT = resolve(import.meta.dirname, '..', 'deploy', 'temporal', 'setup-schema.sh');

/**
 * The persistence and visibility databases with the module's versioned schema, applied by
 * Temporal's own schema tool: created and set up on first use, brought up to date every time.
 */
export async function applySchema(bins: ServerBinaries, pg: ClusterPostgres, log: (line: string) => void): Promise<void> {
  const env = {
    ...process.env,
    SQL_HOST: '127.0.0.1',
    SQL_PORT: String(pg.port),
    SQL_USER: DB_USER,
    SQL_PASSWORD: '',
    DBNAME: DATABASES.temporal,
    VISIBILITY_DBNAME: DATABASES.visibility,
    SCHEMA_DIR: bins.schema,
    TEMPORAL_SQL_TOOL: bins.sqlTool,
  };
  try {
    const { stdout } = await run('sh', [SCHEMA_SCRIPT], { env, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });
    for (const line of stdout.split('\n').filter((l) => /^schema of/.test(l))) log(line);
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    const tail = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim().split('\n').slice(-8).join('\n') || e.message;
    throw new Error(`setting up Temporal's schema on PostgreSQL 127.0.0.1:${pg.port} failed (${SCHEMA_SCRIPT}):\n${tail}`);
  }
}
