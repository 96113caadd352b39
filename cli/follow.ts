import type { RolloutClient } from '../client/rollout-client';
import { TERMINAL_PHASES, type RolloutStatus } from '../domain/status';
import { CliError, ExitCode } from './exit-codes';
import type { LiveView } from './live';

export interface FollowOptions {
  intervalMs?: number;
  signal?: AbortSignal;
}

/** Feeds every status change into `view` until the rollout reaches a terminal phase; returns the last status. */
export async function followRollout(client: RolloutClient, id: string, view: LiveView, opts: FollowOptions = {}): Promise<RolloutStatus> {
  let last: RolloutStatus | undefined;
  try {
    for await (const status of client.watch(id, { intervalMs: opts.intervalMs ?? 500, signal: opts.signal })) {
      last = status;
      view.update(status);
    }
  } finally {
    view.finish();
  }
  if (!last || !TERMINAL_PHASES.includes(last.phase)) {
    throw new CliError(
      `stopped following ${id} before it ended${last ? ` (it is ${last.phase})` : ''}; it keeps running, follow it again with: meridian watch ${id}`,
      ExitCode.Unexpected,
    );
  }
  return last;
}
