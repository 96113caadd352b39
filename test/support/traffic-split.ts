import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TrafficSplit {
  /** Base URL callers use instead of the service's own. */
  url: string;
  /** Percentage of requests, 0..100, forwarded to the canary. */
  readonly weight: number;
  setWeight(weight: number): void;
  /** Requests forwarded to each version so far. */
  readonly forwarded: { stable: number; canary: number };
  stop(): Promise<void>;
}

/**
 * An HTTP front for the two versions of one service, as a traffic split in front of a canary: each
 * GET goes to the stable or the canary URL, `weight` percent to the canary, spread evenly (every
 * fourth request at 25), and the answer comes back unchanged. A backend that gives no answer
 * becomes a 502.
 */
export async function startTrafficSplit(backends: { stable: string; canary: string }, host = '127.0.0.1'): Promise<TrafficSplit> {
  let weight = 0;
  let debt = 0;
  const forwarded = { stable: 0, canary: 0 };

  const forward = async (req: IncomingMessage, res: ServerResponse) => {
    debt += weight / 100;
    const toCanary = debt >= 1 - 1e-9;
    if (toCanary) debt -= 1;
    forwarded[toCanary ? 'canary' : 'stable'] += 1;
    const url = new URL(req.url ?? '/', toCanary ? backends.canary : backends.stable);
    try {
      const answer = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      const body = Buffer.from(await answer.arrayBuffer());
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/octet-stream' }).end(body);
    } catch (err) {
      res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `${url}: ${err instanceof Error ? err.message : String(err)}` }));
    }
  };

  const server = createServer((req, res) => {
    if (req.method !== 'GET') return void res.writeHead(405).end();
    void forward(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  return {
    url: `http://${host}:${(server.address() as AddressInfo).port}`,
    get weight() {
      return weight;
    },
    setWeight(next) {
      if (!(Number.isInteger(next) && next >= 0 && next <= 100)) throw new Error(`weight must be an integer 0..100, got ${next}`);
      weight = next;
    },
    get forwarded() {
      return { ...forwarded };
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface Follower {
  /** Every weight the split was given, with when, oldest first. */
  readonly changes: { at: number; weight: number }[];
  stop(): Promise<void>;
}

/**
 * Keeps `split` at the weight `read` gives, checked every `everyMs`: a traffic controller that
 * follows a rollout's canary weight.
 */
export function followWeight(split: TrafficSplit, read: () => number, everyMs = 100): Follower {
  const changes: { at: number; weight: number }[] = [];
  let stopped = false;
  const apply = () => {
    const weight = read();
    if (changes.length > 0 && changes.at(-1)!.weight === weight) return;
    split.setWeight(weight);
    changes.push({ at: Date.now(), weight });
  };
  const loop = (async () => {
    while (!stopped) {
      apply();
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    changes,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
