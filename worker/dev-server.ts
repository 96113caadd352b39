import { mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, resolve } from 'node:path';
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
  port?: number;
  uiPort?: number;
  namespace?: string;
  log?: (line: string) => void;
}

export interface DevServer {
  address: string;
  uiUrl: string;
  namespace: string;
  /** True when a server already listened on the port and this one was reused. */
  reused: boolean;
  connection: Connection;
  nativeConnection: NativeConnection;
  client: Client;
  /** Closes the connections, and stops the server if this call started it. */
  stop(): Promise<void>;
}

export function uiUrlFor(rolloutId: string, namespace = DEFAULT_NAMESPACE, uiPort = DEFAULT_UI_PORT): string {
  return `http://localhost:${uiPort}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(rolloutId)}`;
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

/**
 * Starts the Temporal CLI dev server with a SQLite file and the UI, or reuses a server that already
 * answers on the port. Either way Meridian's search attributes exist afterwards.
 */
export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const port = opts.port ?? DEFAULT_PORT;
  const uiPort = opts.uiPort ?? DEFAULT_UI_PORT;
  const namespace = opts.namespace ?? DEFAULT_NAMESPACE;
  const log = opts.log ?? (() => {});
  const address = `${HOST}:${port}`;
  const uiUrl = `http://localhost:${uiPort}`;

  let env: TestWorkflowEnvironment;
  const reused = await portAnswers(port);
  if (reused) {
    log(`a server already answers on ${address}; reusing it`);
    try {
      env = await TestWorkflowEnvironment.createFromExistingServer({ address, namespace });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(`port ${port} is taken but no Temporal server answers there (${why}); free the port or pick another`, { cause: err });
    }
    const added = await ensureSearchAttributes(env.connection, namespace);
    if (added.length > 0) log(`registered search attributes: ${added.join(', ')}`);
  } else {
    const dbFilename = resolve(opts.dbFile ?? DEFAULT_DB_FILE);
    mkdirSync(dirname(dbFilename), { recursive: true });
    const executable = temporalExecutable(log);
    log(
      executable.type === 'existing-path'
        ? `starting Temporal dev server (${executable.path}) on ${address}, state in ${dbFilename}`
        : `starting Temporal dev server on ${address} (downloading the Temporal CLI first), state in ${dbFilename}`,
    );
    env = await TestWorkflowEnvironment.createLocal({
      server: { executable, dbFilename, ip: HOST, port, ui: true, uiPort, namespace, extraArgs: searchAttributeArgs() },
    });
    log(`Temporal is up at ${address}, UI at ${uiUrl}`);
  }

  return {
    address,
    uiUrl,
    namespace,
    reused,
    connection: env.connection,
    nativeConnection: env.nativeConnection,
    client: env.client,
    stop: () => env.teardown(),
  };
}
