import { execFile, spawnSync } from 'node:child_process';
import { chownSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireTool } from './tools';

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

export function asServerUser(command: string, args: string[]): [string, string[]] {
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

/** As root, hands `dir` to the OS user the server runs as, so initdb and the server can write there. */
export function giveToServerUser(dir: string): void {
  if (process.getuid?.() !== 0) return;
  const name = serverUser();
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (uid.status !== 0) throw new Error(`running as root needs an OS user "${name}" to own the PostgreSQL cluster (initdb refuses root)`);
  chownSync(dir, Number(uid.stdout.trim()), Number(gid.stdout.trim()));
}

/** A new cluster in `dataDir` with trust authentication for `superuser`. */
export async function initCluster(bin: string, dataDir: string, superuser: string): Promise<void> {
  await exec(join(bin, 'initdb'), ['-D', dataDir, '-U', superuser, '--auth-local=trust', '--auth-host=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
}

export interface ServerOptions {
  bin: string;
  dataDir: string;
  port: number;
  logFile: string;
  socketDir: string;
  /** Throwaway test data: no fsync, no synchronous commit. */
  fast?: boolean;
  maxConnections?: number;
}

export class PortTakenError extends Error {}

/** Starts the server on 127.0.0.1:`port` and waits until it accepts connections. */
export async function startServer(opts: ServerOptions): Promise<void> {
  const settings = [
    `-c listen_addresses=127.0.0.1`,
    `-c port=${opts.port}`,
    `-c unix_socket_directories=${opts.socketDir}`,
    ...(opts.maxConnections ? [`-c max_connections=${opts.maxConnections}`] : []),
    ...(opts.fast ? ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off'] : []),
  ].join(' ');
  try {
    await exec(join(opts.bin, 'pg_ctl'), ['start', '-D', opts.dataDir, '-l', opts.logFile, '-w', '-t', '60', '-o', settings]);
  } catch (err) {
    const tail = existsSync(opts.logFile) ? readFileSync(opts.logFile, 'utf8').split('\n').slice(-5).join('\n') : '';
    if (/could not bind|address already in use/i.test(tail)) throw new PortTakenError(`port ${opts.port} is taken:\n${tail}`);
    throw new Error(`${(err as Error).message}\n${tail}`);
  }
}

/** `fast` ends sessions and checkpoints; `immediate` is a crash, recovered from the WAL at the next start. */
export async function stopServer(bin: string, dataDir: string, mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
  await exec(join(bin, 'pg_ctl'), ['stop', '-D', dataDir, '-m', mode, '-w']);
}

/** The same stop, synchronously, for process exit handlers. */
export function stopServerSync(bin: string, dataDir: string): void {
  spawnSync(...asServerUser(join(bin, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'immediate', '-w']), { stdio: 'ignore' });
}

/** The postmaster's pid from its pid file, when it runs. */
export function serverPid(dataDir: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]!, 10);
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}
