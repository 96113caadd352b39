/**
 * The spec's constants and defaults, written once. No zod here: workflow code imports this module,
 * and the schema (spec.ts, stateful.ts), validation and warnings read the same values.
 */

/** Date#getUTCDay order. */
export const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** A deployment window's `start` and `end`: `HH:MM`, 24-hour. */
export const CLOCK = /^([01]\d|2[0-3]):[0-5]\d$/;

/** An image reference pinned by digest; the group is the digest itself (`sha256:…`). */
export const IMAGE_DIGEST = /@(sha256:[0-9a-f]{64})$/;

/** An analysis step's sample interval when the spec gives none. */
export const DEFAULT_ANALYSIS_INTERVAL_MS = 30_000;
/** Samples an analysis step takes at least before it may pass. */
export const DEFAULT_MIN_SAMPLES = 1;

export interface AlarmBlocker {
  timeoutMs: number;
  intervalMs: number;
}

/** A region already failing before any change holds its stage this long, rechecked every interval. */
export const DEFAULT_ALARM_BLOCKER: AlarmBlocker = { timeoutMs: 30 * 60_000, intervalMs: 60_000 };

/** Session settings for migrations and reconciliations when the spec's `database` gives none. */
export const DEFAULT_LOCK_TIMEOUT_MS = 5_000;
export const DEFAULT_STATEMENT_TIMEOUT_MS = 5 * 60_000;
/** Rows a reconciliation fixes per batch. */
export const DEFAULT_RECONCILE_BATCH = 1000;
