import { ApplicationFailure } from '@temporalio/common';
import { NOTIFICATION_HEADERS as H, type NotificationPayload, type NotificationPlan } from '../../domain/notifications';
import { FAILURE } from '../../domain/vocabulary';
import { deliveryBody } from './payload';
import { signBody } from './signature';

export interface DeliverNotificationInput {
  notification: NotificationPlan;
  payload: NotificationPayload;
}

export interface NotificationActivities {
  /**
   * POSTs one event to one receiver. 2xx: delivered. A 4xx other than 408 and 429, or a redirect:
   * refused for good (non-retryable). No answer, a 5xx, 408 or 429: retried, under the same key.
   */
  deliverNotification(input: DeliverNotificationInput): Promise<{ status: number }>;
}

export interface NotificationOptions {
  /** Where `secretEnv` is looked up, at each call; the worker's environment unless a test says otherwise. */
  env?: Record<string, string | undefined>;
  /** Per request; shorter than the activity's own time limit, so a slow receiver is a retryable failure. */
  timeoutMs?: number;
}

/** Retry-After is honoured up to this long; the retry policy's backoff applies otherwise. */
const MAX_RETRY_AFTER_MS = 15_000;
/** How much of a refusal's answer goes into the error. */
const ANSWER_CHARS = 200;

export function createNotificationActivities(options: NotificationOptions = {}): NotificationActivities {
  const env = options.env ?? process.env;
  const timeoutMs = options.timeoutMs ?? 8_000;
  return {
    async deliverNotification({ notification: n, payload }) {
      const body = deliveryBody(payload, n.format);
      const headers: Record<string, string> = {
        'Content-Type': 'application/json',
        'User-Agent': 'meridian',
        [H.event]: payload.event,
        [H.delivery]: payload.id,
      };
      if (n.secretEnv) headers[H.signature] = signBody(body, secretOf(n, env));
      const res = await post(n, body, headers, timeoutMs);
      const answer = (await res.text().catch(() => '')).slice(0, ANSWER_CHARS).trim();
      if (res.status >= 200 && res.status < 300) return { status: res.status };
      throw refusal(n, res, answer);
    },
  };
}

/** The receiver's URL without its path, which may carry a token (a Slack webhook's does): errors go to the audit trail. */
const where = (n: NotificationPlan) => `notification "${n.name}" (${new URL(n.url).origin})`;

function secretOf(n: NotificationPlan, env: Record<string, string | undefined>): string {
  const secret = env[n.secretEnv!];
  if (secret) return secret;
  throw ApplicationFailure.nonRetryable(
    `${where(n)}: ${n.secretEnv} is not set in the worker's environment; set it to the HMAC secret the receiver checks signatures with and restart the worker`,
    FAILURE.notificationMisconfigured,
  );
}

async function post(n: NotificationPlan, body: string, headers: Record<string, string>, timeoutMs: number): Promise<Response> {
  try {
    return await fetch(n.url, { method: 'POST', body, headers, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw ApplicationFailure.retryable(`${where(n)}: no answer: ${networkError(err, timeoutMs)}`, FAILURE.notificationUndelivered);
  }
}

function networkError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  if (e.cause?.code === 'ECONNREFUSED') return 'connection refused';
  if (e.cause?.code === 'ENOTFOUND') return 'host not found';
  if (e.cause?.code === 'ECONNRESET' || e.cause?.code === 'UND_ERR_SOCKET') return 'connection reset';
  return e.cause?.message ?? e.message ?? String(err);
}

function refusal(n: NotificationPlan, res: Response, answer: string): ApplicationFailure {
  const said = `${where(n)} answered ${res.status}${answer ? `: ${answer}` : ''}`;
  if (res.status >= 300 && res.status < 400) {
    return ApplicationFailure.nonRetryable(`${said}; a delivery follows no redirect: set url to where it points`, FAILURE.notificationRejected);
  }
  if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
    return ApplicationFailure.nonRetryable(`${said}; the receiver refused it, so it is not sent again`, FAILURE.notificationRejected);
  }
  const after = retryAfterMs(res.headers.get('retry-after'));
  return ApplicationFailure.create({ message: said, type: FAILURE.notificationUndelivered, ...(after === undefined ? {} : { nextRetryDelay: after }) });
}

/** Retry-After in seconds, capped; an HTTP date or nonsense leaves the retry policy's backoff. */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null || !/^\d+$/.test(header.trim())) return undefined;
  return Math.min(Number(header) * 1000, MAX_RETRY_AFTER_MS);
}
