/**
 * Notifications: what a rollout tells outside receivers (a chat channel, an incident tool, a
 * webhook of one's own) as it goes. The schema lives in notification-spec.ts; this file is what
 * workflow code reads.
 */
import type { RolloutPhase } from './status';
import type { NotificationSpec } from './notification-spec';

/** Every event a receiver may ask for; a receiver that names none gets them all. */
export const NOTIFICATION_EVENTS = [
  'started',
  'wave-started',
  'approval-needed',
  'region-failed',
  'rollback-started',
  'rollback-finished',
  'needs-attention',
  'succeeded',
] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

/** `json`: Meridian's own signed payload. `slack`: `{ text, blocks }`, as a Slack incoming webhook takes it. */
export const NOTIFICATION_FORMATS = ['json', 'slack'] as const;
export type NotificationFormat = (typeof NOTIFICATION_FORMATS)[number];

/** The headers of every delivery. */
export const NOTIFICATION_HEADERS = {
  event: 'X-Meridian-Event',
  /** The delivery's idempotency key, the same on every retry: a receiver that saw it already ignores the repeat. */
  delivery: 'X-Meridian-Delivery',
  /** `sha256=<hex HMAC-SHA256 of the body>`, keyed with the secret of the receiver's `secretEnv`. */
  signature: 'X-Meridian-Signature',
} as const;

/** One receiver as a plan carries it: its events resolved, its secret named by a variable of the worker's environment. */
export interface NotificationPlan {
  name: string;
  url: string;
  events: NotificationEvent[];
  format: NotificationFormat;
  secretEnv?: string;
}

/** The JSON body of a delivery; the Slack format is written from it. */
export interface NotificationPayload {
  /** The idempotency key, as in the `X-Meridian-Delivery` header. */
  id: string;
  event: NotificationEvent;
  rollout: string;
  service: string;
  version: string;
  region?: string;
  /** When the event happened (ISO 8601); the same on every retry of its delivery, and signed with the body. */
  at: string;
  /** The rollout's phase right after the event. */
  phase: RolloutPhase;
  reason?: string;
  data: Record<string, unknown>;
}

/** What `data` holds, by event. Receivers read these fields; `reason` beside them is written for people. */
export interface NotificationData {
  started: { image: string; regions: string[]; waves: number };
  'wave-started': { index: number; name: string; regions: string[] };
  /** `timeoutAt` when the gate times out; `approvers` when only they may approve. */
  'approval-needed': { gate: string; service?: string; approvers?: string[]; timeoutAt?: string };
  /** `failure`: the region stage's failure type. */
  'region-failed': { failure?: string };
  'rollback-started': { regions: string[] };
  'rollback-finished': { regions: string[] };
  /** What waits for a person: undos or contract migrations that keep failing, with their regions and errors. */
  'needs-attention': { failed: { region: string; error?: string; undo?: string }[] };
  succeeded: { image: string };
}

/**
 * `<rollout id>/<event>/<n>`, or `<rollout id>/<event>/<region>/<n>` for an event of one region,
 * `n` counting that event (in that region) from 1: a region may fail again after a retry, and
 * wait at several gates.
 */
export function deliveryKey(rolloutId: string, event: NotificationEvent, n: number, region?: string): string {
  return `${rolloutId}/${event}/${region === undefined ? '' : `${region}/`}${n}`;
}

/** The receivers of a validated spec, each with its events (every event unless it names some). */
export function compileNotifications(specs: NotificationSpec[]): NotificationPlan[] {
  return specs.map((n) => ({
    name: n.name,
    url: n.url,
    events: n.events ? NOTIFICATION_EVENTS.filter((e) => n.events!.includes(e)) : [...NOTIFICATION_EVENTS],
    format: n.format,
    ...(n.secretEnv ? { secretEnv: n.secretEnv } : {}),
  }));
}
