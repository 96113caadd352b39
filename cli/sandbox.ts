import { resolve } from 'node:path';
import { Client } from '@temporalio/client';
import { DefaultLogger, Runtime, type LogLevel, type Worker } from '@temporalio/worker';
import { codecDataConverter } from '../client/codec';
import { RolloutClient } from '../client/rollout-client';
import { workerPresence } from '../client/task-queue';
import { serverAt, startDevServer, type DevServer } from '../worker/dev-server';
import { createWorker } from '../worker/index';

/** Where a demo or rehearsal runs: a local dev server it starts (or reuses), or a server at `address`. */
export interface ServerPlacement {
  port?: number;
  uiPort?: number;
  dbFile?: string;
  /** The local server keeps no state file. */
  inMemory?: boolean;
  /** False: a server already on the port is refused, not reused. */
  reuse?: boolean;
  /** Use the server at this address; nothing is started. */
  address?: string;
  /** The codec server the local server's UI decodes payloads with. */
  uiCodecEndpoint?: string;
  namespace?: string;
}

export interface SandboxOptions extends ServerPlacement {
  fleetFile: string;
  taskQueue: string;
  log: (line: string) => void;
  /** The SDK's own log level; MERIDIAN_DEBUG=1 turns everything on. */
  sdkLogLevel?: LogLevel;
}

/** Keeps the SDK's logs out of the live view; must run before anything touches the Temporal runtime. */
function installRuntime(level: LogLevel): void {
  const effective: LogLevel = process.env.MERIDIAN_DEBUG ? 'DEBUG' : level;
  try {
    Runtime.install({ logger: new DefaultLogger(effective), telemetryOptions: { logging: { filter: { core: effective, other: 'ERROR' }, forward: {} } } });
  } catch {
    // Already installed by an earlier caller in this process; keep theirs.
  }
}

/** The local dev server plus a worker in this process: everything a rollout needs, nothing running beforehand. */
export interface Sandbox {
  server: DevServer;
  client: RolloutClient;
  fleetFile: string;
  /** Settles when the worker stops, on `stop()` or on Ctrl-C (the Temporal runtime shuts workers down on SIGINT). */
  workerDone: Promise<void>;
  stop(): Promise<void>;
}

export async function startSandbox(opts: SandboxOptions): Promise<Sandbox> {
  installRuntime(opts.sdkLogLevel ?? 'ERROR');
  const { address, namespace, log } = opts;
  if (address) log(`using the Temporal server at ${address}`);
  const server = address
    ? await serverAt(address, { namespace, log })
    : await startDevServer({ port: opts.port, uiPort: opts.uiPort, dbFile: opts.dbFile, inMemory: opts.inMemory, reuse: opts.reuse, namespace, uiCodecEndpoint: opts.uiCodecEndpoint, log });
  const fleetFile = resolve(opts.fleetFile);
  let worker: Worker;
  try {
    opts.log(`starting a worker on task queue "${opts.taskQueue}" (bundling workflows), fleet ${fleetFile}`);
    worker = await createWorker({ connection: server.nativeConnection, namespace: server.namespace, taskQueue: opts.taskQueue, fleetFile });
  } catch (err) {
    await server.stop();
    throw err;
  }
  const workerDone = worker.run();
  // With codec keys in the environment the worker encrypts, so the rollout client must decrypt.
  const dataConverter = codecDataConverter();
  const temporal = dataConverter ? new Client({ connection: server.connection, namespace: server.namespace, dataConverter }) : server.client;
  const client = new RolloutClient(temporal, { namespace: server.namespace, taskQueue: opts.taskQueue });
  await Promise.race([untilPolled(server, opts.taskQueue), workerDone.catch(() => undefined)]);
  return {
    server,
    client,
    fleetFile,
    workerDone,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerDone.catch(() => {});
      await server.stop();
    },
  };
}

/**
 * Waits, for a few seconds at most, until the server lists the worker as a poller of its task
 * queue: the CLI's commands ask the server that before they query, and a worker's first poll
 * reaches it a moment after the worker starts.
 */
async function untilPolled(server: DevServer, taskQueue: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const presence = await workerPresence(server.client, server.namespace, taskQueue).catch(() => undefined);
    if (presence?.polling) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}
