import { Client, Connection } from '@temporalio/client';
import type { ClusterState } from '../../cluster/index';
import { RolloutClient, type RolloutRecord, type RolloutView } from '../../client/rollout-client';
import { TERMINAL_PHASES, type RolloutPhase, type RolloutStatus } from '../../domain/status';
import { codecDataConverter } from '../../client/codec';

/** Following the rollouts of R3 and R4 from outside: the server's record first, the workflow's status where a worker answers. */

export interface RolloutEnd {
  id: string;
  record?: RolloutRecord;
  /** Closed, or stopped for a person (NeedsAttention), before the bound. */
  ended: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function connectRollouts(cluster: ClusterState, taskQueue: string): Promise<{ client: RolloutClient; close: () => Promise<void> }> {
  const connection = await Connection.connect({ address: cluster.address });
  const dataConverter = codecDataConverter();
  const client = new RolloutClient(new Client({ connection, namespace: cluster.namespace, ...(dataConverter ? { dataConverter } : {}) }), { namespace: cluster.namespace, taskQueue });
  return { client, close: () => connection.close() };
}

/**
 * Polls the server's record of `id` until the workflow closed or reached a terminal phase, or
 * `deadline` (epoch ms) passed. `left` is a terminal phase it was in when an operator moved it on
 * (NeedsAttention before a retry): it counts only once the rollout has been out of it.
 */
export async function settle(client: RolloutClient, id: string, deadline: number, left?: RolloutPhase): Promise<RolloutEnd> {
  let record: RolloutRecord | undefined;
  let moved = left === undefined;
  for (;;) {
    record = (await client.record(id).catch(() => undefined)) ?? record;
    moved ||= record !== undefined && (record.phase !== left || record.closedAt !== undefined);
    if (moved && record && (record.closedAt || TERMINAL_PHASES.includes(record.phase))) return { id, record, ended: true };
    if (Date.now() > deadline) return { id, record, ended: false };
    await sleep(500);
  }
}

/** Polls the status until `done` holds; undefined when the rollout ended or `deadline` passed first. */
export async function waitForStatus(client: RolloutClient, id: string, done: (s: RolloutView) => boolean, deadline: number): Promise<RolloutView | undefined> {
  while (Date.now() < deadline) {
    const status = await client.status(id).catch(() => undefined);
    if (status && done(status)) return status;
    if (status?.ended) return undefined;
    await sleep(250);
  }
  return undefined;
}

/** The status at the end: the result of a closed rollout, the live one of a rollout waiting for a person. */
export async function statusOf(client: RolloutClient, end: RolloutEnd): Promise<RolloutStatus | undefined> {
  return client.status(end.id).catch(() => undefined);
}

/** Ends a rollout a row leaves behind (stuck, or waiting for a person), so no worker keeps working on it. */
export async function terminateIfRunning(client: RolloutClient, id: string, reason: string): Promise<void> {
  const record = await client.record(id).catch(() => undefined);
  if (!record || record.closedAt) return;
  await client.client.workflow.getHandle(id).terminate(reason).catch(() => {});
}

/** The highest attempt any activity of `type` reached in the workflow `workflowId`: above 1 when a fault made it run again. */
export async function maxAttempt(client: RolloutClient, workflowId: string, type: string): Promise<number> {
  const history = await client.client.workflow.getHandle(workflowId).fetchHistory();
  const types = new Map<string, string>();
  let max = 0;
  for (const e of history.events ?? []) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) types.set(String(e.eventId), scheduled.activityType?.name ?? '');
    const started = e.activityTaskStartedEventAttributes;
    if (started && types.get(String(started.scheduledEventId)) === type) max = Math.max(max, started.attempt ?? 1);
  }
  return max;
}
