import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, Worker, type NativeConnection, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities } from '../activities/index';
import { SimulatedFleet } from '../activities/fleet/index';
import { DEFAULT_NAMESPACE, TASK_QUEUE } from '../workflows/definitions';

export const DEFAULT_FLEET_FILE = '.meridian/fleet.json';
export const ACTIVITY_SLOTS = 2000;

/** The workflow entry module, resolved from this file so the worker runs from any working directory. */
export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface CreateWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue?: string;
  fleetFile?: string;
  /** A prebuilt bundle (tests bundle once and share it); otherwise the worker bundles WORKFLOWS_PATH itself. */
  workflowBundle?: WorkflowBundleOption;
}

export async function createWorker(opts: CreateWorkerOptions): Promise<Worker> {
  const fleet = new SimulatedFleet(opts.fleetFile ?? DEFAULT_FLEET_FILE);
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? DEFAULT_NAMESPACE,
    taskQueue: opts.taskQueue ?? TASK_QUEUE,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities({ fleet }),
    // An analysis activity holds its slot for a whole chunk while it mostly sleeps between samples.
    // With the SDK's default of 100 slots, 100 regions in analysis would starve every other
    // activity, rollbacks included.
    maxConcurrentActivityTaskExecutions: ACTIVITY_SLOTS,
  });
}

export function bundleWorkflows(): Promise<{ code: string }> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH });
}
