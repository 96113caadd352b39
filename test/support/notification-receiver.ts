import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignature } from '../../activities/notifications/signature';
import { NOTIFICATION_HEADERS as H } from '../../domain/notifications';

/** One request as the receiver saw it, and what it answered. */
export interface Attempt {
  hook: string;
  key: string;
  event: string;
  /** The signature header verified against the hook's secret; undefined for an unsigned hook. */
  signed?: boolean;
  /** 410 refused for good, 503 refused for now, 200 accepted (first time) or a duplicate's 200, or `aborted`: the sender went away while it was held. */
  answer: 410 | 503 | 200 | 'duplicate' | 'aborted';
  body: unknown;
}

export interface ReceiverOptions {
  /** The secret of each hook that checks signatures, by hook name (the path `/hooks/<name>`). */
  secrets: Record<string, string>;
  /** The first this many requests of each key are refused with 503. */
  refuse: number;
  /** Hooks that refuse every request for good, with 410. */
  gone?: string[];
}

/**
 * A webhook receiver as a careful operator writes one, on a loopback port: it verifies each
 * signature, refuses the first attempts of every key, takes each key once and answers a repeat
 * with 200 without taking it again. `hold(key)` keeps the next request of that key open, unanswered,
 * until its sender goes away.
 */
export class NotificationReceiver {
  readonly attempts: Attempt[] = [];
  private server?: Server;
  private holding?: { hook: string; key: string; arrived: (a: Attempt) => void; closed: Promise<void>; close: () => void };
  private readonly opts: ReceiverOptions;

  constructor(opts: ReceiverOptions) {
    this.opts = opts;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.take(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => (this.server ? this.server.close(r) : r(undefined)));
  }

  /** The keys a hook took, each the first time it answered 200 for it. */
  accepted(hook: string): string[] {
    return this.attempts.filter((a) => a.hook === hook && a.answer === 200).map((a) => a.key);
  }

  of(hook: string, key: string): Attempt[] {
    return this.attempts.filter((a) => a.hook === hook && a.key === key);
  }

  /** Resolves with the held request once it arrives; `closed` once its sender is gone. */
  hold(hook: string, key: string): { arrived: Promise<Attempt>; closed: Promise<void> } {
    let arrived!: (a: Attempt) => void;
    let close!: () => void;
    const got = new Promise<Attempt>((r) => (arrived = r));
    const closed = new Promise<void>((r) => (close = r));
    this.holding = { hook, key, arrived, closed, close };
    return { arrived: got, closed };
  }

  private async take(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const hook = (req.url ?? '').replace(/^\/hooks\//, '');
    const key = String(req.headers[H.delivery.toLowerCase()] ?? '');
    const secret = this.opts.secrets[hook];
    const signature = req.headers[H.signature.toLowerCase()] as string | undefined;
    const attempt: Attempt = {
      hook,
      key,
      event: String(req.headers[H.event.toLowerCase()] ?? ''),
      ...(secret === undefined ? {} : { signed: verifySignature(text, signature, secret) }),
      answer: 503,
      body: JSON.parse(text) as unknown,
    };
    const earlier = this.of(hook, key);
    this.attempts.push(attempt);
    if (this.opts.gone?.includes(hook)) {
      attempt.answer = 410;
      return void res.writeHead(410).end('gone');
    }
    if (earlier.length < this.opts.refuse) return void res.writeHead(503).end('not yet');
    const held = this.holding;
    if (held && held.hook === hook && held.key === key) {
      this.holding = undefined;
      attempt.answer = 'aborted';
      res.on('close', () => held.close());
      held.arrived(attempt);
      return;
    }
    attempt.answer = earlier.some((a) => a.answer === 200) ? 'duplicate' : 200;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  }
}
