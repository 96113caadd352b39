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

/**
 * A service name: lower-case letters, digits, "-" and ".", starting and ending with a letter or
 * digit, at most 63 characters, so it is also a valid Kubernetes label value and object name.
 */
export const SERVICE_NAME = /^(?=.{1,63}$)[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/;
/** A version is an OCI image tag, so it is safe in workflow ids, search attributes and image references. */
export const VERSION_TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * The longest value each kind of spec duration may take. Longer is always a typo or a unit slip
 * (`100000000d`), and some values reach APIs that overflow: Node timers and PostgreSQL settings
 * hold at most 2^31-1 ms (about 24.8 days).
 */
export const MAX_DURATION_MS = {
  /** pause, approval timeout, bake, analysis sustainedFor, alarm blocker timeout: a week-long bake with room to spare. */
  wait: 30 * DAY,
  /** Analysis and alarm blocker sample intervals: at least one sample a day. */
  sampleInterval: DAY,
  /** How long a Deployment may take to become ready. */
  progressDeadline: DAY,
  /**
   * A scripted `delay` fault of the simulated fleet: it stands for a slow cluster, so at most as long
   * as a Deployment may take to become ready (progressDeadline).
   */
  faultDelay: DAY,
  /** One metric query; it runs inside an analysis sample and must end well before the next. */
  query: 10 * MINUTE,
  /** A Prometheus range query's window and step; beyond a week the query is heavy and retention may not reach. */
  queryRange: 7 * DAY,
  /** How long a migration waits for a lock while every query behind it waits too. */
  lockTimeout: HOUR,
  /** One migration or reconciliation statement; a large concurrent index build fits. */
  statementTimeout: DAY,
} as const;

/** Steering's defaults when the spec's `steering` or an edge leaves them out. */
export const DEFAULT_STEERING = {
  minHealthyShare: 50,
  returnSteps: [50],
  stepIntervalMs: 5_000,
  stepSustainedMs: 15_000,
  driftCheckMs: 30_000,
} as const;
