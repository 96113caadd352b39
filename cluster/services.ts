import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { ServerBinaries } from './build';
import { DATABASES, DB_USER } from './postgres';
import type { ClusterPorts, ServiceName } from './paths';

/** The server configuration docker-compose.yml mounts too; the server renders it from the environment. */
export const CONFIG_FILE = resolve(import.meta.dirname, '..', 'deploy', 'temporal', 'config.yaml');
export const DYNAMIC_CONFIG_FILE = resolve(import.meta.dirname, '..', 'deploy', 'temporal', 'dynamicconfig.yaml');

export interface ServiceProcess {
  pid: number;
  logFile: string;
}

/** The variables deploy/temporal/config.yaml reads, for one local cluster. */
export function configEnv(ports: ClusterPorts, logLevel = 'warn'): Record<string, string> {
  return {
    LOG_LEVEL: logLevel,
    BIND_ON_IP: '127.0.0.1',
    POSTGRES_SEEDS: '127.0.0.1',
    DB_PORT: String(ports.postgres),
    POSTGRES_USER: DB_USER,
    POSTGRES_PWD: '',
    DBNAME: DATABASES.temporal,
    VISIBILITY_DBNAME: DATABASES.visibility,
    FRONTEND_GRPC_PORT: String(ports.grpc.frontend),
    FRONTEND_HTTP_PORT: String(ports.frontendHttp),
    FRONTEND_MEMBERSHIP_PORT: String(ports.membership.frontend),
    HISTORY_GRPC_PORT: String(ports.grpc.history),
    HISTORY_MEMBERSHIP_PORT: String(ports.membership.history),
    MATCHING_GRPC_PORT: String(ports.grpc.matching),
    MATCHING_MEMBERSHIP_PORT: String(ports.membership.matching),
    WORKER_GRPC_PORT: String(ports.grpc.worker),
    WORKER_MEMBERSHIP_PORT: String(ports.membership.worker),
    DYNAMIC_CONFIG_FILE_PATH: DYNAMIC_CONFIG_FILE,
    TEMPORAL_SERVER_CONFIG_FILE_PATH: CONFIG_FILE,
    TEMPORAL_ALLOW_NO_AUTH: 'true',
  };
}

/** One Temporal service in a process of its own, in its own process group so it outlives the command that started it. */
export function startService(bins: ServerBinaries, service: ServiceName, ports: ClusterPorts, logDir: string): ServiceProcess {
  const logFile = join(logDir, `${service}.log`);
  mkdirSync(dirname(logFile), { recursive: true });
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(bins.server, ['start', '--service', service], {
      env: { ...process.env, ...configEnv(ports) },
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start the Temporal ${service} service (${bins.server})`);
    return { pid: child.pid, logFile };
  } finally {
    closeSync(fd);
  }
}

export function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' || (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(pid: number, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
  if (!alive(pid)) return;
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive(pid)) {
    if (Date.now() > deadline) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resident memory and CPU time of a process, from /proc; undefined once it is gone. */
export function usage(pid: number): { rssBytes: number; cpuSeconds: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { rssBytes: rssKb * 1024, cpuSeconds: ticks / 100 };
  } catch {
    return undefined;
  }
}
