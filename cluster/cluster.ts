import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { stopServerSync } from '../lib/postgres-server';
import { ensureSearchAttributes, logTail } from '../worker/dev-server';
import { portFree } from '../lib/ports';
import { DEFAULT_NAMESPACE, SEARCH_ATTRIBUTES } from '../workflows/definitions';
import { ensureServerBinaries, type Log, type ServerBinaries } from './build';
import { allPorts, type ClusterPorts, portsFrom, postgresBase, SERVICES, type ServiceName } from './paths';
import { applySchema, clusterPostgres, startClusterPostgres, stopClusterPostgres, type ClusterPostgres } from './postgres';
import { alive, type ServiceProcess, startService, stopProcess } from './services';
import { TEMPORAL_SERVER_VERSION } from './versions';

export interface ClusterState {
  dir: string;
  serverVersion: string;
  address: string;
  namespace: string;
  ports: ClusterPorts;
  postgres: ClusterPostgres;
  services: Record<ServiceName, ServiceProcess>;
  startedAt: string;
  startupMs: number;
}

export interface StartClusterOptions {
  dir: string;
  /** The frontend's port; the others follow Temporal's layout around it (paths.ts). */
  port?: number;
  /** Explicit ports, for tests that take free ones. */
  ports?: ClusterPorts;
  namespace?: string;
  log?: Log;
}

/** How long the namespace keeps a closed rollout's history. */
const RETENTION_DAYS = 7;

const stateFile = (dir: string) => join(dir, 'cluster.json');

export function readCluster(dir: string): ClusterState | undefined {
  if (!existsSync(stateFile(dir))) return undefined;
  return JSON.parse(readFileSync(stateFile(dir), 'utf8')) as ClusterState;
}

function writeCluster(state: ClusterState): void {
  const tmp = `${stateFile(state.dir)}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, stateFile(state.dir));
}

/** Temporal keeps membership ports in a PostgreSQL smallint. */
const MAX_MEMBERSHIP_PORT = 32_767;

async function checkPorts(ports: ClusterPorts): Promise<void> {
  const high = Object.entries(ports.membership).filter(([, port]) => port > MAX_MEMBERSHIP_PORT);
  if (high.length > 0) {
    throw new Error(
      `membership ports ${high.map(([s, p]) => `${p} (${s})`).join(', ')} are above ${MAX_MEMBERSHIP_PORT}, which Temporal cannot store; pick a frontend port of at most ${MAX_MEMBERSHIP_PORT + 300 - 6} with --port`,
    );
  }
  const taken: number[] = [];
  for (const port of allPorts(ports)) if (!(await portFree(port))) taken.push(port);
  if (taken.length > 0) {
    throw new Error(
      `ports ${taken.join(', ')} are taken (a dev server or another cluster?); stop what listens there, or pick another frontend port with --port`,
    );
  }
}

/**
 * PostgreSQL with Temporal's schema, then the history, matching, frontend and internal worker
 * services, each a process of its own; then the namespace and Meridian's search attributes.
 * Returns at once when the cluster in `dir` already runs.
 */
export async function startCluster(opts: StartClusterOptions): Promise<ClusterState> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const running = readCluster(opts.dir);
  if (running && SERVICES.every((s) => alive(running.services[s].pid))) return running;
  if (running) await stopCluster(opts.dir, { keepData: true });
  const started = Date.now();
  const bins = await ensureServerBinaries({ log });
  const ports = opts.ports ?? portsFrom(opts.port ?? 7233);
  await checkPorts(ports);
  mkdirSync(opts.dir, { recursive: true });
  const pg = clusterPostgres(postgresBase(opts.dir), ports.postgres);
  await startClusterPostgres(pg);
  await applySchema(bins, pg, log);
  const services = await startServices(bins, ports, opts.dir).catch(async (err: unknown) => {
    await stopClusterPostgres(pg);
    throw err;
  });
  const state: ClusterState = {
    dir: opts.dir,
    serverVersion: TEMPORAL_SERVER_VERSION,
    address: `127.0.0.1:${ports.frontend}`,
    namespace: opts.namespace ?? DEFAULT_NAMESPACE,
    ports,
    postgres: pg,
    services,
    startedAt: new Date().toISOString(),
    startupMs: 0,
  };
  writeCluster(state);
  try {
    await prepareNamespace(state, log);
  } catch (err) {
    await stopCluster(opts.dir, { keepData: true });
    throw err;
  }
  state.startupMs = Date.now() - started;
  writeCluster(state);
  return state;
}

/**
 * The first service writes the cluster's metadata to a new database; services started beside it
 * race to write it too, and the losers exit. So one starts alone, and the rest once it listens.
 */
async function startServices(bins: ServerBinaries, ports: ClusterPorts, dir: string, only: readonly ServiceName[] = SERVICES) {
  const [first, ...rest] = only;
  if (first === undefined) return {} as Record<ServiceName, ServiceProcess>;
  const logs = join(dir, 'logs');
  const started = { [first]: startService(bins, first, ports, logs) } as Record<ServiceName, ServiceProcess>;
  await listening(first, started[first], ports.grpc[first], 60_000);
  for (const s of rest) started[s] = startService(bins, s, ports, logs);
  return started;
}

/** The last error lines of a service's log, messages only. */
function errorLines(logFile: string): string {
  const lines = logTail(logFile, 200).split('\n').filter((l) => /"level":"(error|fatal)"|^Unable|panic/.test(l));
  return lines.slice(-3).map((l) => {
    try {
      const entry = JSON.parse(l) as { msg?: string; error?: string };
      return `  ${entry.msg}${entry.error ? `: ${entry.error}` : ''}`;
    } catch {
      return `  ${l.slice(0, 500)}`;
    }
  }).join('\n');
}

async function listening(service: ServiceName, proc: ServiceProcess, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (await portFree(port)) {
    if (!alive(proc.pid)) throw new Error(`the Temporal ${service} service exited while starting; its log ${proc.logFile} ends:\n${errorLines(proc.logFile)}`);
    if (Date.now() > deadline) throw new Error(`the Temporal ${service} service did not listen on port ${port} within ${timeoutMs / 1000} s; see ${proc.logFile}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Registers the namespace and Meridian's search attributes once the frontend answers. */
async function prepareNamespace(state: ClusterState, log: Log): Promise<void> {
  const connection = await connectWhenServing(state, 90_000);
  try {
    await registerNamespace(connection, state.namespace);
    const added = await retrying(() => ensureSearchAttributes(connection, state.namespace), 60_000);
    await retrying(() => connection.workflowService.listWorkflowExecutions({ namespace: state.namespace, pageSize: 1, query: searchAttributeProbe() }), 60_000);
    log(`namespace ${state.namespace} ready${added.length ? `; search attributes added: ${added.join(', ')}` : ''}`);
  } finally {
    await connection.close();
  }
}

/**
 * A query naming every Meridian search attribute: it fails until the frontend's namespace cache
 * knows them, and so would a rollout started before.
 */
function searchAttributeProbe(): string {
  return Object.keys(SEARCH_ATTRIBUTES).map((name) => `${name} = "probe"`).join(' OR ');
}

async function registerNamespace(connection: Connection, namespace: string): Promise<void> {
  await retrying(async () => {
    try {
      await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(`${RETENTION_DAYS} days`) });
    } catch (err) {
      if (!/already exists|already registered/i.test((err as Error).message)) throw err;
    }
  }, 60_000);
  await retrying(() => connection.workflowService.listWorkflowExecutions({ namespace, pageSize: 1 }), 60_000);
}

/** A connection once the frontend answers and the history service behind it serves; throws with the services' logs when one exits first. */
export async function connectWhenServing(state: ClusterState, timeoutMs: number): Promise<Connection> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const dead = SERVICES.filter((s) => !alive(state.services[s].pid));
    if (dead.length > 0) throw new Error(`the Temporal ${dead.join(', ')} service exited while starting; see ${dead.map((s) => state.services[s].logFile).join(', ')}`);
    try {
      const connection = await Connection.connect({ address: state.address, connectTimeout: 2_000 });
      try {
        await connection.workflowService.getSystemInfo({});
        await connection.workflowService.describeNamespace({ namespace: 'temporal-system' });
        return connection;
      } catch (err) {
        await connection.close();
        throw err;
      }
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`the Temporal frontend at ${state.address} did not serve within ${timeoutMs / 1000} s: ${(err as Error).message}; logs in ${join(state.dir, 'logs')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function retrying<T>(fn: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Stops the services, then PostgreSQL; removes the data too unless `keepData`. */
export async function stopCluster(dir: string, opts: { keepData?: boolean } = {}): Promise<void> {
  const state = readCluster(dir);
  if (!state) return;
  await Promise.all(SERVICES.map((s) => stopProcess(state.services[s].pid)));
  await stopClusterPostgres(state.postgres);
  if (opts.keepData) return;
  rmSync(state.postgres.socketDir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}

/** SIGKILLs the Temporal services (all, or `only`), as a crash would; PostgreSQL keeps running. */
export async function killServices(dir: string, only: readonly ServiceName[] = SERVICES): Promise<void> {
  const state = readCluster(dir);
  if (!state) throw new Error(`no cluster in ${dir}`);
  await Promise.all(only.map((s) => stopProcess(state.services[s].pid, 'SIGKILL')));
}

/** Starts again the services that are not running, and waits until the frontend serves. */
export async function restartServices(dir: string, timeoutMs = 90_000): Promise<ClusterState> {
  const state = readCluster(dir);
  if (!state) throw new Error(`no cluster in ${dir}`);
  const bins = await ensureServerBinaries();
  const dead = SERVICES.filter((s) => !alive(state.services[s].pid));
  state.services = { ...state.services, ...(await startServices(bins, state.ports, dir, dead)) };
  writeCluster(state);
  const connection = await connectWhenServing(state, timeoutMs);
  await connection.close();
  return state;
}

/** SIGKILLs the services and stops PostgreSQL, synchronously, for process exit handlers; the data stays. */
export function killClusterSync(dir: string): void {
  const state = readCluster(dir);
  if (!state) return;
  for (const s of SERVICES) {
    try {
      process.kill(state.services[s].pid, 'SIGKILL');
    } catch {}
  }
  stopServerSync(state.postgres.bin, state.postgres.dataDir);
}
