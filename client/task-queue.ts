import { isGrpcServiceError, type Client } from '@temporalio/client';
import { optionalTsToDate } from '@temporalio/common/lib/time';
import type { temporal } from '@temporalio/proto';

/**
 * A worker long-polls for about a minute before it polls again, and the server lists a poller for five
 * minutes after its last poll; a poller not seen for longer than this has most likely stopped.
 */
export const STALE_POLLER_MS = 90_000;

/** How long a look at the task queue may take before the CLI gives up on it. */
const DESCRIBE_TIMEOUT_MS = 5_000;
const GRPC_UNIMPLEMENTED = 12;
/** temporal.api.enums.v1 values; the proto package is CommonJS, and its enums are not named ESM exports. */
const TASK_QUEUE_KIND_NORMAL = 1 as temporal.api.enums.v1.TaskQueueKind;
const TASK_QUEUE_TYPE_WORKFLOW = 1 as temporal.api.enums.v1.TaskQueueType;

export interface WorkerPresence {
  taskQueue: string;
  /** A worker polled the queue's workflow tasks within STALE_POLLER_MS. */
  polling: boolean;
  /** Pollers the server still lists, live or stale. */
  pollers: number;
  /** The most recent poll the server saw, ISO 8601. */
  lastPollAt?: string;
}

/**
 * Who polls `taskQueue` for workflow tasks, from the server's DescribeTaskQueue. A server without that
 * call (the time-skipping test server) is taken to have a worker: the caller then asks as before.
 */
export async function workerPresence(client: Client, namespace: string, taskQueue: string, now = Date.now()): Promise<WorkerPresence> {
  let response: temporal.api.workflowservice.v1.IDescribeTaskQueueResponse;
  try {
    response = await client.withDeadline(Date.now() + DESCRIBE_TIMEOUT_MS, () =>
      client.workflowService.describeTaskQueue({
        namespace,
        taskQueue: { name: taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
        taskQueueType: TASK_QUEUE_TYPE_WORKFLOW,
      }),
    );
  } catch (err) {
    if (isGrpcServiceError(err) && err.code === GRPC_UNIMPLEMENTED) return { taskQueue, polling: true, pollers: 0 };
    throw err;
  }
  const pollers = response.pollers ?? [];
  const seen = pollers.map((p) => optionalTsToDate(p.lastAccessTime)?.getTime());
  const known = seen.filter((t): t is number => t !== undefined);
  const last = known.length > 0 ? Math.max(...known) : undefined;
  const polling = seen.some((t) => t === undefined || now - t <= STALE_POLLER_MS);
  return { taskQueue, polling, pollers: pollers.length, lastPollAt: last === undefined ? undefined : new Date(last).toISOString() };
}
