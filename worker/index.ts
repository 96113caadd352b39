import type { DataConverter } from '@temporalio/common';
import { Worker, type NativeConnection, type WorkerOptions, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities } from '../activities/index';
import { SimulatedFleet } from '../activities/fleet/index';
import { codecDataConverter } from '../client/codec';
import { DEFAULT_NAMESPACE, TASK_QUEUE } from '../workflows/definitions';
import { cachedWorkflowBundle } from './bundle';

export const DEFAULT_FLEET_FILE = '.meridian/fleet.db';
export const ACTIVITY_SLOTS = 2000;

/** How long a stopping worker lets its running activities finish before it cancels them and hands them back. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 30_000;

/**
 * Past the grace period, how long cancelled activities have to stop before the worker gives up on
 * them and exits anyway: an activity that ignores cancellation must not hold a stopping worker forever.
 */
export const SHUTDOWN_FORCE_AFTER_GRACE_MS = 10_000;

/**
 * How long a workflow task waits on this worker's sticky queue before the server hands it to any
 * worker of the task queue. A worker that was killed leaves its rollouts' next tasks there, so this
 * bounds how long a timer that fires during a crash waits for the restarted worker: the SDK's 10 s
 * default added 10 s to such a step. Lower values cost more full-history replays when a busy worker
 * is slow to take its own sticky tasks.
 */
export const STICKY_QUEUE_TIMEOUT_MS = 3_000;

/** A build of Meridian within a Temporal Worker Deployment. */
export interface WorkerDeployment {
  deploymentName: string;
  buildId: string;
}

export interface CreateWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue?: string;
  fleetFile?: string;
  /** A prebuilt bundle (tests bundle once and share it); otherwise the workflows' bundle from the bundle cache (worker/bundle.ts). */
  workflowBundle?: WorkflowBundleOption;
  /**
   * How long a stopping worker lets running activities finish before it cancels them (`meridian worker`
   * passes DEFAULT_SHUTDOWN_GRACE_MS); without it they are cancelled at once, as in tests and `dev`.
   */
  shutdownGraceMs?: number;
  /** Turns on Worker Deployment versioning; without it the worker is unversioned. */
  deployment?: WorkerDeployment;
  /** The payload codec and failure converter; by default the encryption the environment configures (client/codec.ts), if any. */
  dataConverter?: DataConverter;
  /** A keyring file enforced on every rollout's approvals (`meridian worker --keyring`, MERIDIAN_KEYRING). */
  keyring?: string;
}

export async function createWorker(opts: CreateWorkerOptions): Promise<Worker> {
  const dataConverter = opts.dataConverter ?? codecDataConverter();
  const fleet = new SimulatedFleet(opts.fleetFile ?? DEFAULT_FLEET_FILE);
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? DEFAULT_NAMESPACE,
    taskQueue: opts.taskQueue ?? TASK_QUEUE,
    // Failures raised inside the sandbox go through the bundle's own failure converter.
    workflowBundle: opts.workflowBundle ?? (await cachedWorkflowBundle({ failureConverterPath: dataConverter?.failureConverterPath })),
    ...(dataConverter ? { dataConverter } : {}),
    activities: createActivities({ fleet, ...(opts.keyring ? { keyring: opts.keyring } : {}) }),
    // An analysis activity holds its slot for a whole chunk while it mostly sleeps between samples.
    // With the SDK's default of 100 slots, 100 regions in analysis would starve every other
    // activity, rollbacks included.
    maxConcurrentActivityTaskExecutions: ACTIVITY_SLOTS,
    stickyQueueScheduleToStartTimeout: STICKY_QUEUE_TIMEOUT_MS,
    ...shutdown(opts.shutdownGraceMs),
    ...versioning(opts.deployment),
  });
}

function shutdown(graceMs: number | undefined): Pick<WorkerOptions, 'shutdownGraceTime' | 'shutdownForceTime'> {
  if (graceMs === undefined) return {};
  return { shutdownGraceTime: graceMs, shutdownForceTime: graceMs + SHUTDOWN_FORCE_AFTER_GRACE_MS };
}

/**
 * Every workflow this worker starts stays pinned to its build: a rollout, and the region stages it
 * starts on the same task queue, run to their end on the code they began with, while new rollouts
 * go to whichever build is current.
 */
function versioning(deployment: WorkerDeployment | undefined): Pick<WorkerOptions, 'workerDeploymentOptions'> {
  if (!deployment) return {};
  return { workerDeploymentOptions: { useWorkerVersioning: true, version: deployment, defaultVersioningBehavior: 'PINNED' } };
}
