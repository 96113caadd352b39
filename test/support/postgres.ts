import { execFile, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { requireTool } from '../../lib/tools';
import { freePort } from './processes';

export interface RunningPostgres {
  /** Connection URL of each database asked for, by name. */
  urls: Record<string, string>;
  port: number;
  /** Connection URL of the `postgres` maintenance database. */
  adminUrl: string;
  stop(): Promise<void>;
}

const run = promisify(execFile);
let user: string | undefined;

/**
 * The folder with `initdb`, `pg_ctl` and `postgres`: MERIDIAN_POSTGRES_BIN, PATH, the newest under
 * /usr/lib/postgresql, or the project's cache (lib/tools.ts); when none is there, throws the line
 * that says how to install them.
 */
export function findPostgresBin(): string {
  return requireTool('postgres');
}

/**
 * initdb refuses to run as root, so as root the cluster belongs to the `postgres` OS user, or to
 * `nobody` where no PostgreSQL package made one.
 */
function serverUser(): string {
  user ??= spawnSync('id', ['-u', 'postgres'], { stdio: 'ignore' }).status === 0 ? 'postgres' : 'nobody';
  return user;
}

/** util-linux's runuser lives in sbin, which a non-login root shell may leave off PATH. */
function runuser(): string {
  return ['/usr/sbin/runuser', '/sbin/runuser'].find((path) => existsSync(path)) ?? 'runuser';
}

function asServerUser(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? [runuser(), ['-u', serverUser(), '--', command, ...args]] : [command, args];
}

async function exec(command: string, args: string[]): Promise<void> {
  const [cmd, argv] = asServerUser(command, args);
  try {
    await run(cmd, argv, { timeout: 120_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/**
 * A throwaway PostgreSQL cluster on a free loopback port with trust authentication, one database
 * per name (created empty), removed again by `stop()`.
 */
export async function startPostgres(options: { databases: string[] }): Promise<RunningPostgres> {
  const bin = findPostgresBin();
  const base = mkdtempSync(join(tmpdir(), 'meridian-pg-'));
  if (process.getuid?.() === 0) chownSync(base, ...ownerIds());
  const data = join(base, 'data');
  const log = join(base, 'server.log');
  const pgCtl = join(bin, 'pg_ctl');
  const cleanup = () => {
    spawnSync(...asServerUser(pgCtl, ['stop', '-D', data, '-m', 'immediate', '-w']), { stdio: 'ignore' });
    rmSync(base, { recursive: true, force: true });
  };
  process.once('exit', cleanup);
  try {
    await exec(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    const port = await startServer(pgCtl, data, log, base);
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
      stop: async () => {
        process.removeListener('exit', cleanup);
        await exec(pgCtl, ['stop', '-D', data, '-m', 'fast', '-w']).catch(() => undefined);
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
async function startServer(pgCtl: string, data: string, log: string, socketDir: string): Promise<number> {
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const settings = [
      `-c listen_addresses=127.0.0.1`,
      `-c port=${port}`,
      `-c unix_socket_directories=${socketDir}`,
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
    ].join(' ');
    try {
      await exec(pgCtl, ['start', '-D', data, '-l', log, '-w', '-t', '60', '-o', settings]);
      return port;
    } catch (err) {
      last = err;
      const tail = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-5).join('\n') : '';
      if (!/could not bind|address already in use/i.test(tail)) throw new Error(`${(err as Error).message}\n${tail}`);
    }
  }
  throw last;
}

function ownerIds(): [number, number] {
  const user = serverUser();
  const passwd = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  const group = spawnSync('id', ['-g', user], { encoding: 'utf8' });
  if (passwd.status !== 0) throw new Error(`running as root needs an OS user "${user}" to own the cluster (initdb refuses root)`);
  return [Number(passwd.stdout.trim()), Number(group.stdout.trim())];
}
