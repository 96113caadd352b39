import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type { RolloutClient } from '../../client/rollout-client';
import { TERMINAL_PHASES, type RolloutStatus } from '../../domain/status';

export type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** One activity a workflow scheduled: its type, its input's `key`, the attempts that started, how the last one ended. */
export interface Ran {
  type: string;
  key?: string;
  attempts: number[];
  outcome?: string;
}

/** Every activity in `events`, in the order scheduled. */
export function activities(events: HistoryEvent[]): Ran[] {
  const byScheduled = new Map<string, Ran>();
  for (const e of events) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) {
      const input = scheduled.input?.payloads?.[0];
      const arg = input ? (defaultPayloadConverter.fromPayload(input) as { key?: string }) : undefined;
      byScheduled.set(String(e.eventId), { type: scheduled.activityType?.name ?? '', key: arg?.key, attempts: [] });
    }
    const started = e.activityTaskStartedEventAttributes;
    if (started) byScheduled.get(String(started.scheduledEventId))?.attempts.push(started.attempt ?? 1);
    for (const [attr, outcome] of [
      [e.activityTaskCompletedEventAttributes, 'completed'],
      [e.activityTaskFailedEventAttributes, 'failed'],
      [e.activityTaskTimedOutEventAttributes, 'timed out'],
    ] as const) {
      if (attr) byScheduled.get(String(attr.scheduledEventId))!.outcome = outcome;
    }
  }
  return [...byScheduled.values()];
}

/** Polls the status until the rollout ends or stops for a person; a query nobody answered while workers change is asked again. */
export async function settled(client: RolloutClient, id: string, timeoutMs: number): Promise<RolloutStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: RolloutStatus | undefined;
  while (Date.now() < deadline) {
    const s = await client.status(id).catch(() => undefined);
    if (s) {
      last = s;
      if (s.ended || TERMINAL_PHASES.includes(s.phase) || s.phase === 'Paused') return s;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`rollout ${id} did not end within ${timeoutMs} ms; last phase ${last?.phase}: ${last?.reason}`);
}
