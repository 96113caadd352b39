import { z } from 'zod';
import { NOTIFICATION_EVENTS, NOTIFICATION_FORMATS } from './notifications';

/*
 * The spec's `notifications`: receivers the rollout sends its events to. Types for workflow code
 * live in notifications.ts. Secrets are named, never written: `secretEnv` is a variable of the
 * worker's environment.
 */

const name = z.string().regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, 'must be lower-case letters, digits, "-" or "."');
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');

/** The problem of a receiver that signs nothing although its format needs a signature; undefined when there is none. */
export function missingSecret(format: unknown, secretEnv: unknown): string | undefined {
  if ((format ?? 'json') !== 'json' || secretEnv !== undefined) return undefined;
  return "format json signs every delivery: name the worker's environment variable that holds the HMAC secret, e.g. secretEnv: MERIDIAN_WEBHOOK_SECRET";
}

export const notification = z
  .strictObject({
    name,
    url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
    /** Absent: every event. */
    events: z.array(z.enum(NOTIFICATION_EVENTS)).min(1).optional(),
    format: z.enum(NOTIFICATION_FORMATS).default('json'),
    /** The worker's environment variable holding the HMAC secret; required for `json`, optional for `slack`. */
    secretEnv: envName.optional(),
  })
  .superRefine((n, ctx) => {
    const missing = missingSecret(n.format, n.secretEnv);
    if (missing) ctx.addIssue({ code: 'custom', path: ['secretEnv'], message: missing });
  });

/** The rollout's receivers of its events; absent when the spec has none. */
export const notifications = z.array(notification).min(1).optional();

export type NotificationSpec = z.output<typeof notification>;
