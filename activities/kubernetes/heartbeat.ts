import { Context } from '@temporalio/activity';

/** Heartbeats when running as an activity; a no-op when the driver is called directly (tests, rehearsals). */
export function heartbeat(details: unknown): void {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return;
  }
  ctx.heartbeat(details);
}
