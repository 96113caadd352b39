import { userInfo } from 'node:os';
import type { Command } from 'commander';
import type { RolloutClient } from '../client/rollout-client';
import type { ConnectionOverrides } from '../client/connection';

/** `--by` defaults to the login name. */
export function defaultUser(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.USER) return env.USER;
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

/** `--address` and `--namespace` from the root command; absent ones fall back to TEMPORAL_* and the config profile. */
export function connectionOverrides(cmd: Command): ConnectionOverrides {
  const { address, namespace } = cmd.optsWithGlobals<{ address?: string; namespace?: string }>();
  return { address, namespace };
}

/**
 * The root's `--task-queue`, else MERIDIAN_TASK_QUEUE (an empty one counts as unset); undefined leaves
 * the choice to the client and the worker, whose default is Meridian's own queue.
 */
export function taskQueueOf(cmd: Command, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return cmd.optsWithGlobals<{ taskQueue?: string }>().taskQueue ?? (env.MERIDIAN_TASK_QUEUE?.trim() || undefined);
}

/** Connects, runs `use`, and always closes the connection so the process can exit. */
export async function withClient<T>(cmd: Command, use: (client: RolloutClient) => Promise<T>): Promise<T> {
  const { RolloutClient } = await import('../client/rollout-client');
  const client = await RolloutClient.connect({ ...connectionOverrides(cmd), taskQueue: taskQueueOf(cmd) });
  try {
    return await use(client);
  } finally {
    await client.client.connection.close();
  }
}

export function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
