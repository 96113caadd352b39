import type { DeploymentWindow } from './spec';
import { WEEKDAYS } from './spec-defaults';

/*
 * Deployment-window arithmetic. Runs inside workflow code: no clock, no I/O; only Intl, which
 * the workflow sandbox provides. Wall times that a DST change skips or repeats resolve the way
 * JavaScript's Temporal does by default ("compatible"): a skipped time moves forward by the
 * length of the gap (02:30 on a spring-forward day opens at 03:30), a repeated one takes its
 * first occurrence.
 */

const DAY_MS = 86_400_000;
/** Windows are searched this many days ahead; a window that never opens waits this long, then looks again. */
const SEARCH_DAYS = 8;

const formats = new Map<string, Intl.DateTimeFormat>();

function format(timeZone: string): Intl.DateTimeFormat {
  let f = formats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(timeZone, f);
  }
  return f;
}

/** Local wall time at `ms` in `timeZone`, encoded as if it were a UTC epoch value. */
function wallClock(ms: number, timeZone: string): number {
  const parts: Record<string, number> = {};
  for (const p of format(timeZone).formatToParts(ms)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
}

function offsetAt(ms: number, timeZone: string): number {
  const whole = Math.floor(ms / 1000) * 1000;
  return wallClock(whole, timeZone) - whole;
}

/** The instant a wall time (encoded as a UTC epoch value) happens in `timeZone`. */
function instantOf(wall: number, timeZone: string): number {
  const before = offsetAt(wall - DAY_MS, timeZone);
  const after = offsetAt(wall + DAY_MS, timeZone);
  const candidates = [wall - before, wall - after].filter((t) => t + offsetAt(t, timeZone) === wall);
  if (candidates.length > 0) return Math.min(...candidates);
  return wall - before;
}

function minutes(clock: string): number {
  const [h, m] = clock.split(':').map(Number);
  return h! * 60 + m!;
}

/** Milliseconds from `nowMs` until `w` is open: 0 when open now, undefined when it never opens within the search. */
function waitFor(nowMs: number, w: DeploymentWindow): number | undefined {
  const start = minutes(w.start);
  const end = minutes(w.end);
  if (start === end) return undefined;
  const today = Math.floor(wallClock(nowMs, w.timezone) / DAY_MS) * DAY_MS;
  let best: number | undefined;
  // From yesterday: a window that crosses midnight belongs to the day it starts.
  for (let d = -1; d <= SEARCH_DAYS; d++) {
    const day = today + d * DAY_MS;
    if (!w.days.includes(WEEKDAYS[new Date(day).getUTCDay()]!)) continue;
    const opens = instantOf(day + start * 60_000, w.timezone);
    const closes = instantOf(day + (end > start ? 0 : DAY_MS) + end * 60_000, w.timezone);
    // A window wholly inside a spring-forward gap does not exist that day.
    if (opens >= closes) continue;
    if (opens <= nowMs && nowMs < closes) return 0;
    if (opens > nowMs && (best === undefined || opens - nowMs < best)) best = opens - nowMs;
  }
  return best;
}

/**
 * 0 when `nowMs` lies inside any of the windows (or there are none), else the milliseconds until
 * the earliest one opens. A window is open on each of its days from `start` (inclusive) to `end`
 * (exclusive) local time; an `end` before `start` closes on the next day.
 */
export function windowWaitMs(nowMs: number, windows: readonly DeploymentWindow[]): number {
  if (windows.length === 0) return 0;
  let best: number | undefined;
  for (const w of windows) {
    const wait = waitFor(nowMs, w);
    if (wait === 0) return 0;
    if (wait !== undefined && (best === undefined || wait < best)) best = wait;
  }
  return best ?? SEARCH_DAYS * DAY_MS;
}

const WEEK_FROM_MONDAY = [...WEEKDAYS.slice(1), WEEKDAYS[0]];

function describeDays(days: readonly string[]): string {
  const on = WEEK_FROM_MONDAY.map((d) => days.includes(d));
  if (on.every(Boolean)) return 'daily';
  const runs: [number, number][] = [];
  on.forEach((yes, i) => {
    if (!yes) return;
    const last = runs[runs.length - 1];
    if (last && last[1] === i - 1) last[1] = i;
    else runs.push([i, i]);
  });
  // A run through Sunday continues into Monday: Sat-Mon.
  if (runs.length > 1 && runs[0]![0] === 0 && runs[runs.length - 1]![1] === 6) {
    const [first] = runs.splice(0, 1);
    runs[runs.length - 1]![1] = first![1] + 7;
  }
  const name = (i: number) => WEEK_FROM_MONDAY[i % 7]!;
  return runs
    .map(([a, b]) => (b - a >= 2 ? `${name(a)}-${name(b)}` : b > a ? `${name(a)},${name(b)}` : name(a)))
    .join(',');
}

/** `Mon-Thu 09:00-16:00 Europe/Berlin`; several windows joined with `; `. */
export function describeWindows(windows: readonly DeploymentWindow[]): string {
  if (windows.length === 0) return 'any time';
  return windows.map((w) => `${describeDays(w.days)} ${w.start}-${w.end} ${w.timezone}`).join('; ');
}
