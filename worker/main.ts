import '../lib/require-node.js';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeEncryption } from '../client/codec';
import { connectionConfig, connectWorkerConnection, type ConnectionOverrides } from '../client/connection';
import { formatDuration } from '../domain/duration';
import { TASK_QUEUE } from '../workflows/definitions';
import { createWorker, DEFAULT_FLEET_FILE, DEFAULT_SHUTDOWN_GRACE_MS, SHUTDOWN_FORCE_AFTER_GRACE_MS, type WorkerDeployment } from './index';

export interface RunWorkerOptions extends ConnectionOverrides {
  taskQueue?: string;
  fleetFile?: string;
  /** How long running activities may take to finish once a stop is asked for; DEFAULT_SHUTDOWN_GRACE_MS if absent. */
  shutdownGraceMs?: number;
  /** The Worker Deployment build this worker is; unversioned without it. */
  deployment?: WorkerDeployment;
  /** A keyring file enforced on every rollout's approvals. */
  keyring?: string;
  log?: (line: string) => void;
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** The exit status of a process killed by the signal, as a shell reports it. */
const SIGNAL_EXIT: Record<(typeof SIGNALS)[number], number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Connects (TEMPORAL_* variables or a config profile; MERIDIAN_TASK_QUEUE overrides the task queue) and polls
 * until SIGINT or SIGTERM, which the Temporal runtime turns into a drain: no new tasks, running activities get
 * the grace period to finish, then they are cancelled and reported failed, so Temporal retries them on another
 * worker at once. Resolves once the worker stopped and the connection closed; a second signal exits at once.
 */
export async function runWorker(opts: RunWorkerOptions = {}): Promise<void> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const { address } = connectionConfig(opts);
  const { connection, namespace } = await connectWorkerConnection(opts);
  const taskQueue = opts.taskQueue ?? (process.env.MERIDIAN_TASK_QUEUE || TASK_QUEUE);
  const fleetFile = resolve(opts.fleetFile ?? DEFAULT_FLEET_FILE);
  const graceMs = opts.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
  try {
    const worker = await createWorker({ connection, namespace, taskQueue, fleetFile, shutdownGraceMs: graceMs, deployment: opts.deployment, ...(opts.keyring ? { keyring: resolve(opts.keyring) } : {}) });
    const stop = onStopSignals(graceMs, log);
    try {
      const running = worker.run();
      log(`worker polling task queue "${taskQueue}" on ${address} (namespace ${namespace}, fleet ${fleetFile}, ${describeBuild(opts.deployment)}, ${describeEncryption()})`);
      await untilStopped(running, graceMs, stop);
    } finally {
      stop.dispose();
    }
    log('worker stopped');
  } finally {
    await connection.close();
  }
}

function describeBuild(deployment: WorkerDeployment | undefined): string {
  if (!deployment) return 'unversioned';
  const { deploymentName, buildId } = deployment;
  return `build ${buildId} of deployment ${deploymentName}, rollouts pinned to it; it gets new rollouts once current: meridian deployment set-current ${buildId} --deployment-name ${deploymentName}`;
}

/** The worker stopped before its cancelled activities did; they are retried after their timeouts. */
export class ShutdownExpiredError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ShutdownExpiredError';
  }
}

interface StopSignals {
  /** When the first stop signal came; undefined while none has. */
  since(): number | undefined;
  dispose(): void;
}

/** Logs the drain the first signal starts; a second one exits at once, leaving running activities to their timeouts. */
function onStopSignals(graceMs: number, log: (line: string) => void): StopSignals {
  let first: number | undefined;
  const onSignal = (signal: (typeof SIGNALS)[number]) => {
    if (first === undefined) {
      first = Date.now();
      log(`${signal} received: polling stopped; running activities have ${formatDuration(graceMs)} (--shutdown-grace) to finish, then they are cancelled and retried on another worker`);
      return;
    }
    log(`${signal} received again: exiting now; Temporal retries the running activities when their heartbeat or start-to-close timeout passes`);
    process.exit(SIGNAL_EXIT[signal]);
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  return {
    since: () => first,
    dispose: () => {
      for (const s of SIGNALS) process.off(s, onSignal);
    },
  };
}

/**
 * Waits for the worker to stop. Past the grace period and the force time the SDK gives up on activities
 * that ignored their cancellation and the run fails (with the native worker's complaint that they still
 * hold it, not with the expiry itself); that failure is reported as what it is.
 */
async function untilStopped(running: Promise<void>, graceMs: number, stop: StopSignals): Promise<void> {
  try {
    await running;
  } catch (err) {
    const since = stop.since();
    const forceMs = graceMs + SHUTDOWN_FORCE_AFTER_GRACE_MS;
    if (since === undefined || Date.now() - since < forceMs) throw err;
    throw new ShutdownExpiredError(
      `activities were still running ${formatDuration(forceMs)} after the stop (--shutdown-grace ${formatDuration(graceMs)}, then ${formatDuration(SHUTDOWN_FORCE_AFTER_GRACE_MS)} for cancelled ones to end), so the worker stopped without them; ` +
        'Temporal retries them when their heartbeat or start-to-close timeout passes. Give the worker a longer --shutdown-grace if they need it',
      { cause: err },
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  runWorker().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
