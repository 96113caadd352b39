import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, Connection } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { NativeConnection } from '@temporalio/worker';
import { DEFAULT_NAMESPACE, SEARCH_ATTRIBUTES } from '../workflows/definitions';
import { temporalExecutable } from '../lib/binaries';

export const DEFAULT_PORT = 7233;
export const DEFAULT_UI_PORT = 8233;
export const DEFAULT_DB_FILE = '.meridian/temporal.db';
const HOST = '127.0.0.1';

export interface DevServerOptions {
  dbFile?: string;
  /** Keep the server's state in memory only, gone when it stops; `dbFile` is not used. */
  inMemory?: boolean;
  port?: number;
  uiPort?: number;
  namespace?: string;
  /** A server already answering on the port is reused (the default); false refuses it. */
  reuse?: boolean;
  /** The codec server the UI decodes payloads with (`meridian codec-server`); the UI shows encrypted payloads as they are without it. */
  uiCodecEndpoint?: string;
  /** Where the dev server's own output goes; defaults to beside the database file, or `.meridian/temporal-<port>.log`. */
  logFile?: string;
  log?: (line: string) => void;
}

export interface DevServer {
  address: string;
  uiUrl: string;
  namespace: string;
  /** True when a server already listened on the port and this one was reused. */
  reused: boolean;
  /** The dev server's own output, when this call started it. */
  logFile?: string;
  connection: Connection;
  nativeConnection: NativeConnection;
  client: Client;
  /** Closes the connections, and stops the server if this call started it. */
  stop(): Promise<void>;
}

export function uiUrlFor(rolloutId: string, namespace = DEFAULT_NAMESPACE, uiPort = DEFAULT_UI_PORT): string {
  return workflowUrl(`http://localhost:${uiPort}`, rolloutId, namespace);
}

/** A rollout's page in the Temporal UI at `uiUrl`. */
export function workflowUrl(uiUrl: string, rolloutId: string, namespace = DEFAULT_NAMESPACE): string {
  return `${uiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(rolloutId)}`;
}

/** `--search-attribute Name=Type` for every Meridian search attribute. */
export function searchAttributeArgs(): string[] {
  return Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]);
}

/** 'KeywordList' (the CLI's spelling) -> the proto enum value. */
function indexedValueType(type: string) {
  const name = type.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase() as SearchAttributeType;
  const value = encodeSearchAttributeIndexedValueType(name);
  if (value === undefined) throw new Error(`unknown search attribute type ${type}`);
  return value;
}

/** Registers the Meridian search attributes that the namespace lacks; returns the names it added. */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set([...Object.keys(existing.customAttributes ?? {}), ...Object.keys(existing.systemAttributes ?? {})]);
  const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([name]) => !known.has(name));
  if (missing.length === 0) return [];
  const searchAttributes = Object.fromEntries(missing.map(([name, type]) => [name, indexedValueType(type)]));
  try {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
  } catch (err) {
    if (!/already exists/i.test(err instanceof Error ? err.message : String(err))) throw err;
  }
  return missing.map(([name]) => name);
}

function portAnswers(port: number, host = HOST, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ port, host });
    const finish = (answer: boolean) => {
      socket.destroy();
      done(answer);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

/** The last `lines` lines of a log file, for an error message; empty when it cannot be read. */
export function logTail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function withLog(message: string, logFile: string): Error {
  const tail = logTail(logFile);
  return new Error(`${message}; its log is ${logFile}${tail ? `, ending:\n${tail}` : ' (empty)'}`);
}

interface Spawned {
  child: ChildProcess;
  /** Settles when the process has exited. */
  exited: Promise<number | null>;
}

/** Runs `temporal server start-dev` with its stdout and stderr in `logFile`, so its banner stays out of the output. */
function spawnDevServer(path: string, args: string[], logFile: string): Spawned {
  mkdirSync(dirname(logFile), { recursive: true });
  const fd = openSync(logFile, 'w');
  try {
    // A process group of its own, so Ctrl-C reaches only this process, which stops the server after its worker.
    const child = spawn(path, args, { stdio: ['ignore', fd, fd], detached: true });
    child.unref();
    const exited = new Promise<number | null>((done) => {
      child.once('exit', (code) => done(code));
      child.once('error', () => done(null));
    });
    return { child, exited };
  } finally {
    closeSync(fd);
  }
}

/** Connects once the server answers on its port and its namespace is ready; throws, with the log, when it exits first or takes too long. */
async function connectWhenReady(server: Spawned, p: Placement, logFile: string, timeoutMs = 60_000): Promise<TestWorkflowEnvironment> {
  const { address, namespace } = p;
  let exitCode: number | null | undefined;
  void server.exited.then((code) => (exitCode = code ?? -1));
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (exitCode !== undefined) throw withLog(`the Temporal dev server exited (code ${exitCode}) before it was up`, logFile);
    if (await portAnswers(p.port)) {
      let env: TestWorkflowEnvironment | undefined;
      try {
        env = await TestWorkflowEnvironment.createFromExistingServer({ address, namespace });
        await env.connection.operatorService.listSearchAttributes({ namespace });
        return env;
      } catch (err) {
        lastError = err;
        await env?.teardown().catch(() => {});
      }
    }
    await sleep(100);
  }
  const why = lastError instanceof Error ? ` (${lastError.message})` : '';
  throw withLog(`the Temporal dev server did not answer on ${address} within ${timeoutMs / 1000}s${why}`, logFile);
}

/** Stops a spawned server: SIGTERM, then SIGKILL if it lingers. */
async function stopSpawned(server: Spawned): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill('SIGTERM');
  const killed = await Promise.race([server.exited.then(() => true), sleep(10_000).then(() => false)]);
  if (!killed) {
    server.child.kill('SIGKILL');
    await server.exited;
  }
}

function defaultLogFile(port: number, dbFilename: string | undefined): string {
  return dbFilename ? dbFilename.replace(/(\.db)?$/, '.log') : resolve(join('.meridian', `temporal-${port}.log`));
}

interface Placement {
  port: number;
  uiPort: number;
  namespace: string;
  address: string;
  /** Undefined: in memory. */
  dbFilename?: string;
  uiCodecEndpoint?: string;
  log: (line: string) => void;
}

/** Arguments the dev server takes beyond where it listens and keeps its state. */
function extraArgs(p: Placement): string[] {
  return [...searchAttributeArgs(), ...(p.uiCodecEndpoint ? ['--ui-codec-endpoint', p.uiCodecEndpoint] : [])];
}

function startDevServerArgs(p: Placement): string[] {
  return [
    'server', 'start-dev',
    '--ip', HOST, '--port', String(p.port), '--ui-port', String(p.uiPort),
    '--namespace', p.namespace,
    ...(p.dbFilename ? ['--db-filename', p.dbFilename] : []),
    '--log-format', 'pretty', '--log-level', 'warn',
    ...extraArgs(p),
  ];
}

/** A fresh dev server of this process: its output in `logFile`, stopped with the returned environment. */
async function launch(p: Placement, logFile: string): Promise<{ env: TestWorkflowEnvironment; stop: () => Promise<void> }> {
  const where = p.dbFilename ? `state in ${p.dbFilename}` : 'state in memory';
  const executable = temporalExecutable(p.log);
  if (executable.type !== 'existing-path') {
    p.log(`starting Temporal dev server on ${p.address} (downloading the Temporal CLI first), ${where}`);
    const env = await TestWorkflowEnvironment.createLocal({
      server: { executable, dbFilename: p.dbFilename, ip: HOST, port: p.port, ui: true, uiPort: p.uiPort, namespace: p.namespace, extraArgs: extraArgs(p) },
    });
    return { env, stop: () => env.teardown() };
  }
  p.log(`starting Temporal dev server (${executable.path}) on ${p.address}, ${where}`);
  const server = spawnDevServer(executable.path, startDevServerArgs(p), logFile);
  const killOnExit = () => server.child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let running = false;
  void server.exited.then((code) => {
    if (running) p.log(`the Temporal dev server on ${p.address} exited (code ${code}); its log is ${logFile}`);
  });
  try {
    const env = await connectWhenReady(server, p, logFile);
    running = true;
    const stop = async () => {
      running = false;
      await env.teardown();
      await stopSpawned(server);
      process.off('exit', killOnExit);
    };
    return { env, stop };
  } catch (err) {
    await stopSpawned(server);
    process.off('exit', killOnExit);
    throw err;
  }
}

/** A server someone else runs at `address`; Meridian's search attributes are added when missing. */
export async function existingServer(address: string, namespace: string, log: (line: string) => void): Promise<TestWorkflowEnvironment> {
  let env: TestWorkflowEnvironment;
  try {
    env = await TestWorkflowEnvironment.createFromExistingServer({ address, namespace });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`no Temporal server answers at ${address} (${why}); start one or pick another address`, { cause: err });
  }
  const added = await ensureSearchAttributes(env.connection, namespace);
  if (added.length > 0) log(`registered search attributes: ${added.join(', ')}`);
  return env;
}

/** The server at `address`, run by someone else: used as it is and never stopped, only disconnected. */
export async function serverAt(address: string, opts: { namespace?: string; log?: (line: string) => void } = {}): Promise<DevServer> {
  const namespace = opts.namespace ?? DEFAULT_NAMESPACE;
  const env = await existingServer(address, namespace, opts.log ?? (() => {}));
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  // The dev server's convention; a server elsewhere may show its UI at another address.
  const uiUrl = `http://${host === HOST ? 'localhost' : host}:${port + 1000}`;
  return { address, uiUrl, namespace, reused: true, ...handles(env), stop: () => env.teardown() };
}

/**
 * Starts the Temporal CLI dev server with the UI, its state in a SQLite file or in memory and its own
 * output in a log file, or reuses a server that already answers on the port unless `reuse` is false.
 * Either way Meridian's search attributes exist afterwards.
 */
export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const port = opts.port ?? DEFAULT_PORT;
  const uiPort = opts.uiPort ?? DEFAULT_UI_PORT;
  const namespace = opts.namespace ?? DEFAULT_NAMESPACE;
  const log = opts.log ?? (() => {});
  const address = `${HOST}:${port}`;
  const uiUrl = `http://localhost:${uiPort}`;
  const common = { address, uiUrl, namespace };

  if (await portAnswers(port)) {
    if (opts.reuse === false) throw new Error(`port ${port} is taken; pick another port, or point at the server there with --address ${address}`);
    log(`a server already answers on ${address}; reusing it`);
    const env = await existingServer(address, namespace, log).catch((err: Error) => {
      const why = err.cause instanceof Error ? err.cause.message : err.message;
      throw new Error(`port ${port} is taken but no Temporal server answers there (${why}); free the port or pick another`, { cause: err });
    });
    return { ...common, reused: true, ...handles(env), stop: () => env.teardown() };
  }
  const dbFilename = opts.inMemory ? undefined : resolve(opts.dbFile ?? DEFAULT_DB_FILE);
  if (dbFilename) mkdirSync(dirname(dbFilename), { recursive: true });
  const logFile = resolve(opts.logFile ?? defaultLogFile(port, dbFilename));
  const { env, stop } = await launch({ port, uiPort, namespace, address, dbFilename, uiCodecEndpoint: opts.uiCodecEndpoint, log }, logFile);
  log(`Temporal is up at ${address}, UI at ${uiUrl}; the server's own log is ${logFile}`);
  return { ...common, reused: false, logFile, ...handles(env), stop };
}

function handles(env: TestWorkflowEnvironment): Pick<DevServer, 'connection' | 'nativeConnection' | 'client'> {
  return { connection: env.connection, nativeConnection: env.nativeConnection, client: env.client };
}
