import type { RolloutStatus } from '../domain/status';
import { statusChanges } from './changes';
import { renderStatus } from './render';
import { renderOrdered, Timeline } from './timeline';

export interface LiveOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface LiveView {
  update(status: RolloutStatus): void;
  /** Draws the last state without throttling; call once at the end. */
  finish(): void;
}

/** Redraw in place only on a terminal, never under CI. */
export function wantsRedraw(out: LiveOutput, env: NodeJS.ProcessEnv = process.env): boolean {
  return out.isTTY === true && !env.CI;
}

const CLEAR_BELOW = '\x1b[0J';
const up = (lines: number) => (lines > 0 ? `\x1b[${lines}F` : '\r');

/** A terminal view that redraws the status in place, at most once per `throttleMs`. */
export function redrawView(out: LiveOutput, throttleMs = 250, now = Date.now): LiveView {
  let drawnLines = 0;
  let lastDraw = 0;
  let latest: RolloutStatus | undefined;
  let drawn: RolloutStatus | undefined;
  let timer: NodeJS.Timeout | undefined;
  const draw = () => {
    timer = undefined;
    if (!latest || latest === drawn) return;
    drawn = latest;
    const width = out.columns && out.columns > 0 ? out.columns : Infinity;
    const text = renderStatus(latest, now())
      .split('\n')
      .map((line) => (line.length >= width ? line.slice(0, width - 1) : line))
      .join('\n');
    out.write(`${up(drawnLines)}${CLEAR_BELOW}${text}\n`);
    drawnLines = text.split('\n').length;
    lastDraw = now();
  };
  return {
    update(status) {
      latest = status;
      if (timer) return;
      const wait = lastDraw + throttleMs - now();
      if (wait <= 0) draw();
      else timer = setTimeout(draw, wait);
    },
    finish() {
      if (timer) clearTimeout(timer);
      draw();
    },
  };
}

/**
 * How long the plain view holds a line before printing it, so an audit entry that arrives a poll or
 * two after a later line still comes out in time order.
 */
export const ORDER_HORIZON_MS = 2_000;

/** A log-friendly view: what changed since the previous status, one time-ordered stream of timed lines. */
export function plainView(out: LiveOutput, now = Date.now, horizonMs = ORDER_HORIZON_MS): LiveView {
  let previous: RolloutStatus | undefined;
  let timer: NodeJS.Timeout | undefined;
  const timeline = new Timeline(horizonMs);
  const print = (lines: ReturnType<Timeline['flush']>) => {
    for (const line of lines) out.write(`${renderOrdered(line)}\n`);
  };
  const schedule = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const due = timeline.nextDue();
    if (due === undefined) return;
    timer = setTimeout(() => (print(timeline.release(now())), schedule()), Math.max(0, due - now()));
    timer.unref();
  };
  return {
    update(status) {
      timeline.add(statusChanges(previous, status, now()));
      previous = status;
      print(timeline.release(now()));
      schedule();
    },
    finish() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      print(timeline.flush());
    },
  };
}

export function liveView(out: LiveOutput, env: NodeJS.ProcessEnv = process.env): LiveView {
  return wantsRedraw(out, env) ? redrawView(out) : plainView(out);
}
