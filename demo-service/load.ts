import { SERVED_BY_HEADER } from './headers';

export interface LoadOptions {
  /** Loopback URLs only; requests go round-robin. */
  urls: string[];
  concurrency: number;
  maxRequests: number;
  maxDurationMs: number;
  /**
   * With it, each request names a user in the `x-user` header, `<userPrefix><n>` for n in 0..users-1
   * in turn (each user to every URL), so every user sends the same share of the requests; without
   * it, requests name no user.
   */
  users?: number;
  /** `user-` unless given. */
  userPrefix?: string;
}

export interface LoadReport {
  sent: number;
  byStatus: Record<string, number>;
  /** Requests that got no answer at all (refused, reset). */
  failed: number;
  elapsedMs: number;
  /** Answered requests by their `x-served-by` header; '' for answers without one. */
  byServer: Record<string, number>;
  /** Epoch ms of each server's last answer, keyed like `byServer`. */
  lastByServer: Record<string, number>;
}

export interface Load {
  done: Promise<LoadReport>;
  /** Stops early; resolves with the report once in-flight requests are back. */
  stop(): Promise<LoadReport>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Fixed-concurrency GET traffic that ends by itself after maxRequests or maxDurationMs, whichever is first. */
export function startLoad(options: LoadOptions): Load {
  if (options.urls.length === 0) throw new Error('load needs at least one URL');
  for (const url of options.urls) {
    if (!LOOPBACK.has(new URL(url).hostname)) throw new Error(`load only goes to loopback addresses, not ${url}`);
  }
  if (!(options.concurrency >= 1 && options.maxRequests >= 0 && options.maxDurationMs >= 0)) {
    throw new Error('load needs concurrency >= 1 and non-negative bounds');
  }
  const users = options.users;
  if (users !== undefined && !(Number.isInteger(users) && users >= 1)) throw new Error(`load needs users >= 1, got ${users}`);
  const prefix = options.userPrefix ?? 'user-';
  const started = Date.now();
  const deadline = started + options.maxDurationMs;
  const report: LoadReport = { sent: 0, byStatus: {}, failed: 0, elapsedMs: 0, byServer: {}, lastByServer: {} };
  let stopped = false;

  const worker = async () => {
    while (!stopped && report.sent < options.maxRequests && Date.now() < deadline) {
      const url = options.urls[report.sent % options.urls.length]!;
      const headers = users === undefined ? undefined : { 'x-user': `${prefix}${Math.floor(report.sent / options.urls.length) % users}` };
      report.sent += 1;
      try {
        const res = await fetch(url, { headers, signal: AbortSignal.timeout(Math.max(1, deadline - Date.now()) + 5_000) });
        await res.arrayBuffer();
        const answered = Date.now();
        const server = res.headers.get(SERVED_BY_HEADER) ?? '';
        report.byStatus[res.status] = (report.byStatus[res.status] ?? 0) + 1;
        report.byServer[server] = (report.byServer[server] ?? 0) + 1;
        report.lastByServer[server] = answered;
      } catch {
        report.failed += 1;
      }
    }
  };
  const done = Promise.all(Array.from({ length: options.concurrency }, worker)).then(() => {
    report.elapsedMs = Date.now() - started;
    return report;
  });
  return {
    done,
    stop: () => {
      stopped = true;
      return done;
    },
  };
}
