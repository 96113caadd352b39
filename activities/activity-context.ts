import { Context } from '@temporalio/activity';

/** The running activity's context, or undefined when called outside an activity (tests, benchmarks). */
export function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

export function heartbeat(details: unknown): void {
  activityContext()?.heartbeat(details);
}

/** Throws the activity's cancellation, if it was cancelled. */
export function throwIfCancelled(): void {
  const ctx = activityContext();
  if (ctx?.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
}

/** Sleeps, ending early with the cancellation when the activity is cancelled. */
export function sleep(ms: number): Promise<void> {
  const ctx = activityContext();
  return ctx ? ctx.sleep(ms) : new Promise((resolve) => setTimeout(resolve, ms));
}

/** Heartbeats every `everyMs` while a long statement runs; returns the stop function. */
export function keepAlive(details: () => unknown, everyMs = 5_000): () => void {
  if (!activityContext()) return () => {};
  const ctx = activityContext()!;
  const timer = setInterval(() => ctx.heartbeat(details()), everyMs);
  return () => clearInterval(timer);
}
