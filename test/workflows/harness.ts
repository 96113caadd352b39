import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker, WorkflowBundleOption } from '@temporalio/worker';
import { testServerExecutable } from '../../lib/binaries';
import { DEFAULT_NAMESPACE } from '../../workflows/definitions';
import { createWorker } from '../../worker/index';
import { tempFile } from '../support/temp-dir';

/** The bundle test/global-setup.ts built for this run, if any. */
export function sharedBundlePath(): string | undefined {
  return process.env.MERIDIAN_WORKFLOW_BUNDLE || undefined;
}

/** The shared workflow bundle, for workers and `Worker.runReplayHistories`. */
export function workflowBundle(): WorkflowBundleOption {
  const codePath = sharedBundlePath();
  if (!codePath) {
    const why = process.env.MERIDIAN_WORKFLOW_BUNDLE_ERROR;
    throw new Error(
      why
        ? `the workflow code did not bundle: ${why}`
        : 'MERIDIAN_WORKFLOW_BUNDLE is not set; run the tests through vitest (test/global-setup.ts bundles the workflows)',
    );
  }
  return { codePath };
}

/** The time-skipping test server; it lacks Meridian's search attributes, so start rollouts with `searchAttributes: false`. */
export function startTimeSkipping(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createTimeSkipping({ server: { executable: testServerExecutable((line) => console.log(line)) } });
}

/**
 * A worker on the environment's connection with the shared bundle; outside vitest (scripts) it bundles the
 * workflows itself. Run it with `worker.runUntil(...)`.
 */
export function startTestWorker(env: TestWorkflowEnvironment, opts: { fleetFile: string; taskQueue: string }): Promise<Worker> {
  const inVitest = Boolean(process.env.VITEST);
  return createWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? DEFAULT_NAMESPACE,
    taskQueue: opts.taskQueue,
    fleetFile: opts.fleetFile,
    workflowBundle: inVitest ? workflowBundle() : undefined,
  });
}

/** A fleet state file in a fresh temporary directory, removed when the test ends. */
export function tempFleetFile(): string {
  return tempFile('fleet.json', 'meridian-fleet-');
}
