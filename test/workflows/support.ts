import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { SimulatedFleet } from '../../activities/fleet';
import type { RolloutPlan } from '../../domain/plan';
import type { RolloutStatus } from '../../domain/status';
import { RolloutClient } from '../../client/rollout-client';
import { NoWorkerError } from '../../client/rollout-errors';
import { rolloutWorkflow } from '../../workflows';
import { startTestWorker, tempFleetFile } from './harness';

export interface RolloutRun {
  handle: WorkflowHandle<typeof rolloutWorkflow>;
  fleet: SimulatedFleet;
  worker: Worker;
  status(): Promise<RolloutStatus>;
  /** Polls the status query until `predicate` holds. */
  until(predicate: (s: RolloutStatus) => boolean, what: string, timeoutMs?: number): Promise<RolloutStatus>;
  /** The rollout's end: its final status, whether it completed or failed. */
  end(): Promise<{ status: RolloutStatus; failure?: WorkflowFailedError }>;
}

let counter = 0;

/** Starts a worker on its own task queue and fleet file, runs one rollout, and stops the worker after `body`. */
export async function withRollout(
  env: TestWorkflowEnvironment,
  plan: RolloutPlan,
  body: (run: RolloutRun) => Promise<void>,
  opts: { analysisChunkMs?: number } = {},
): Promise<SimulatedFleet> {
  const taskQueue = `test-${process.pid}-${++counter}`;
  const fleetFile = tempFleetFile();
  const fleet = new SimulatedFleet(fleetFile);
  const worker = await startTestWorker(env, { fleetFile, taskQueue });
  const id = `rollout/${plan.service}/${plan.version}-${taskQueue}`;
  await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(rolloutWorkflow, {
      taskQueue,
      workflowId: id,
      args: [{ plan, startedBy: 'test', searchAttributes: false, analysisChunkMs: opts.analysisChunkMs }],
    });
    // As operators see it: the rollout's state with each running stage's live figures.
    const rollouts = new RolloutClient(env.client);
    const status = () => rollouts.status(id);
    const run: RolloutRun = {
      handle,
      fleet,
      worker,
      status,
      async until(predicate, what, timeoutMs = 60_000) {
        const deadline = Date.now() + timeoutMs;
        let last: RolloutStatus | undefined;
        while (Date.now() < deadline) {
          // Right after the worker starts the server may not list it as a poller yet.
          const now = await status().catch((err: unknown) => {
            if (err instanceof NoWorkerError) return undefined;
            throw err;
          });
          if (!now) {
            await new Promise((r) => setTimeout(r, 50));
            continue;
          }
          last = now;
          if (predicate(last)) return last;
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error(`timed out waiting for ${what}; last status: ${JSON.stringify(last, null, 1).slice(0, 3000)}`);
      },
      async end() {
        try {
          await handle.result();
          return { status: await status() };
        } catch (err) {
          if (err instanceof WorkflowFailedError) return { status: await status(), failure: err };
          throw err;
        }
      },
    };
    try {
      await body(run);
    } finally {
      // A rollout left running would hold the time-skipping server's clock for the next test.
      await handle.terminate('test finished').catch(() => undefined);
    }
  });
  return fleet;
}

/** How a rollout ended, for an assertion's message: the failure that closed it and its last audit entries. */
export function endedHow(status: RolloutStatus, failure?: WorkflowFailedError): string {
  const cause = failure?.cause;
  const closed = cause ? `closed by ${cause.name}: ${cause.message}` : 'completed';
  const last = status.audit.slice(-6).map((a) => `${a.region ?? '-'} ${a.action}: ${a.reason}`);
  return `${closed}; last audit: ${last.join(' | ')}`;
}
