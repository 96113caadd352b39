import type { EdgeSpec } from '../../domain/edges';
import { startDemoService, type DemoService } from './demo-service';
import { startEnvoy, type RunningEnvoy } from './envoy';
import { startLoad, type Load, type LoadOptions } from './load';

/** The regions behind each edge of the bed, each with share 50. */
export const EDGE_BED_REGIONS = {
  eu: ['eu-west-1', 'eu-central-1'],
  us: ['us-east-1', 'us-west-2'],
} as const;

export type EdgeName = keyof typeof EDGE_BED_REGIONS;

/** The demo version that serves a region's canary; the region's own name serves its stable. */
export const canaryOf = (region: string): string => `${region}-canary`;

/** Every demo version of the bed: each region's stable, then its canary. */
export const EDGE_BED_VERSIONS: string[] = Object.values(EDGE_BED_REGIONS).flatMap((regions) => regions.flatMap((r) => [r, canaryOf(r)]));

export interface ServedCount {
  /** `http_requests_total`, summed over codes; includes shadow requests. */
  requests: number;
  /** `http_shadow_requests_total`, summed over codes. */
  shadow: number;
}

export interface EdgeBed {
  edges: Record<EdgeName, RunningEnvoy>;
  demo: DemoService;
  /** What each demo version has served so far, keyed by version name. */
  served(): Promise<Record<string, ServedCount>>;
  stop(): Promise<void>;
}

const hostPort = (url: string) => new URL(url).host;

/**
 * On loopback: a stable and a canary demo instance per region of `EDGE_BED_REGIONS`, and a real
 * Envoy per edge (`eu`, `us`, residency of the same name) routing 50/50 to its regions' stable
 * instances, with each canary as the route's `canaryAddress`.
 */
export async function startEdgeBed(opts: { minHealthyShare?: number } = {}): Promise<EdgeBed> {
  const minHealthyShare = opts.minHealthyShare ?? 50;
  const demo = await startDemoService(EDGE_BED_VERSIONS);
  const edge = (name: EdgeName) =>
    startEnvoy({
      name,
      residency: name,
      minHealthyShare,
      routes: EDGE_BED_REGIONS[name].map((region) => ({
        region,
        share: 50,
        address: hostPort(demo.urls[region]!),
        canaryAddress: hostPort(demo.urls[canaryOf(region)]!),
      })),
    });
  const started = await Promise.allSettled([edge('eu'), edge('us')]);
  const running = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const stop = async () => {
    await Promise.all(running.map((e) => e.stop()));
    await demo.stop();
  };
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  const [eu, us] = running as [RunningEnvoy, RunningEnvoy];
  return {
    edges: { eu, us },
    demo,
    served: async () => Object.fromEntries(await Promise.all(EDGE_BED_VERSIONS.map(async (v) => [v, await servedBy(demo.urls[v]!)] as const))),
    stop,
  };
}

async function servedBy(url: string): Promise<ServedCount> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return { requests: sum(text, 'http_requests_total'), shadow: sum(text, 'http_shadow_requests_total') };
}

function sum(text: string, metric: string): number {
  let total = 0;
  for (const m of text.matchAll(new RegExp(`^${metric}\\{[^}]*\\} (\\d+)$`, 'gm'))) total += Number(m[1]);
  return total;
}

/** The bed's edges as a spec's `edges` section writes them. */
export function edgeSpecInput(bed: EdgeBed): EdgeSpec[] {
  return Object.values(bed.edges).map(({ edge }) => ({
    name: edge.name,
    provider: { type: edge.provider.type, admin: edge.provider.admin, configDir: edge.provider.configDir },
    residency: edge.residency,
    minHealthyShare: edge.minHealthyShare,
    routes: edge.routes.map((r) => ({
      region: r.region,
      share: r.share,
      address: r.address,
      ...(r.canaryAddress !== undefined && { canaryAddress: r.canaryAddress }),
    })),
  }));
}

/**
 * Load through `url` (an edge's listener): `concurrency` 8 unless given, until `maxRequests`
 * (default unbounded) or `maxDurationMs` (default 60 s), whichever comes first.
 */
export function loadThrough(url: string, opts: Partial<Omit<LoadOptions, 'urls'>> = {}): Load {
  return startLoad({
    ...opts,
    urls: [url],
    concurrency: opts.concurrency ?? 8,
    maxRequests: opts.maxRequests ?? Number.MAX_SAFE_INTEGER,
    maxDurationMs: opts.maxDurationMs ?? 60_000,
  });
}
