import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEnvoyProcess } from '../activities/edges/envoy-process';
import { startLoad, type Load, type LoadReport } from '../demo-service/load';
import { startDemoService, type RunningDemoService } from '../demo-service/server';
import type { EdgeShares, EdgeSpec } from '../domain/edges';
import type { RolloutPlan } from '../domain/plan';
import type { AuditEntry, RolloutStatus } from '../domain/status';
import { auditData } from '../domain/vocabulary';
import { freePorts } from '../lib/ports';
import { exportTool, missingLine } from '../lib/tools';
import { CliError, ExitCode } from './exit-codes';
import { clockTime } from './render';
import { sampleMetrics, type Sample as DemoSample } from './demo-samples';

export const EDGES_DEMO_SPEC = fileURLToPath(new URL('../examples/edges.yaml', import.meta.url));

/** The demo-service version that serves a region's canary; the region's own name serves its stable. */
const canaryOf = (region: string) => `${region}-canary`;
/** Load through each edge: connections, users named in `x-user`, and its bounds. */
const LOAD = { concurrency: 4, users: 100, maxRequests: 5_000_000, maxDurationMs: 15 * 60_000 };

export interface EdgeDemo {
  /** The plan with its edges pointed at the demo's Envoys and its routes at the demo services. */
  plan: RolloutPlan;
  /** Stops the load and says, from what it saw and from `status`, what each edge did; `problems` when it is not what the demo expects. */
  report(status: RolloutStatus, expectDrained: string[]): Promise<{ lines: string[]; problems: string[] }>;
  /** Stops the load, the Envoys and the demo services, and removes the Envoys' config folders; safe to call twice. */
  stop(): Promise<void>;
}

interface RunningEdge {
  spec: EdgeSpec;
  url: string;
  load?: Load;
}

/** The Envoy binary lib/tools.ts finds; when there is none, a CliError with the line that says how to get it. */
export function envoyBinary(): string {
  const envoy = exportTool('envoy');
  if (!envoy) throw new CliError(missingLine('envoy'), ExitCode.Unexpected);
  return envoy;
}

/**
 * The demo's edges for real, on loopback: a demo-service stable instance per region behind an edge
 * (and a canary where its route has a canaryAddress), a real Envoy (`envoy`, the binary) per edge
 * configured from a fresh temporary folder, and a bounded load through each edge.
 */
export async function startEdgeDemo(plan: RolloutPlan, envoy: string, log: (line: string) => void): Promise<EdgeDemo> {
  if (!plan.edges) throw new Error('the edges demo needs a spec with edges');
  const cleanup: (() => Promise<void> | void)[] = [];
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= (async () => {
    for (const undo of cleanup.reverse()) await undo();
  })());
  try {
    const service = await startDemoService({ versions: demoVersions(plan.edges.edges).map((version) => ({ version })) });
    cleanup.push(() => service.close());
    const edges: RunningEdge[] = [];
    for (const spec of pointedAt(plan.edges.edges, service, await freePorts(2 * plan.edges.edges.length))) {
      const running = await startEdge(envoy, spec.edge, spec.listenerPort, cleanup);
      edges.push(running);
      log(`edge ${spec.edge.name}: Envoy at ${running.url} (admin ${spec.edge.provider.admin}, config ${spec.edge.provider.configDir})`);
    }
    const instances = service.versions.map((v) => v.version);
    log(`demo service: ${instances.join(', ')} on loopback, behind the edges`);
    for (const e of edges) {
      e.load = startLoad({ ...LOAD, urls: [e.url], userPrefix: `${e.spec.name}-user-` });
      cleanup.push(() => e.load!.stop().then(() => undefined));
    }
    log(`load: ${LOAD.concurrency} connections and ${LOAD.users} users through each edge, until the rollout ends`);
    const served = sampleServed(service);
    cleanup.push(async () => void (await served.stop()));
    return {
      plan: { ...plan, edges: { ...plan.edges, edges: edges.map((e) => e.spec) } },
      report: async (status, expectDrained) => {
        const [loads, samples, shadow] = await Promise.all([Promise.all(edges.map((e) => e.load!.stop())), served.stop(), shadowCopies(service)]);
        return report(edges, loads, samples, shadow, status, expectDrained);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Every demo-service version the edges route to: each region's stable, and its canary where the route has one. */
function demoVersions(edges: EdgeSpec[]): string[] {
  const versions = new Set<string>();
  for (const r of edges.flatMap((e) => e.routes)) {
    versions.add(r.region);
    if (r.canaryAddress) versions.add(canaryOf(r.region));
  }
  return [...versions];
}

/** The spec's edges with admin, configDir and route addresses rewritten to the demo's own ports and folders. */
function pointedAt(edges: EdgeSpec[], service: RunningDemoService, ports: number[]): { edge: EdgeSpec; listenerPort: number }[] {
  const hostPort = (version: string) => new URL(service.versions.find((v) => v.version === version)!.url).host;
  return edges.map((edge, i) => ({
    listenerPort: ports[2 * i]!,
    edge: {
      ...edge,
      provider: { ...edge.provider, admin: `http://127.0.0.1:${ports[2 * i + 1]}`, configDir: mkdtempSync(join(tmpdir(), `meridian-edge-${edge.name}-`)) },
      routes: edge.routes.map((r) => ({
        ...r,
        address: hostPort(r.region),
        ...(r.canaryAddress ? { canaryAddress: hostPort(canaryOf(r.region)) } : {}),
      })),
    },
  }));
}

/** Writes the edge's bootstrap and starts Envoy on it; resolves once its admin says it is ready. */
async function startEdge(envoy: string, edge: EdgeSpec, listenerPort: number, cleanup: (() => Promise<void> | void)[]): Promise<RunningEdge> {
  cleanup.push(() => rmSync(edge.provider.configDir, { recursive: true, force: true }));
  const running = await startEnvoyProcess(edge, { binary: envoy, listenerPort });
  cleanup.push(() => running.stop());
  return { spec: edge, url: running.url };
}

const describeShares = (shares: Record<string, number>) =>
  Object.entries(shares)
    .map(([region, share]) => `${region} ${share}%`)
    .join(', ');

const sameShares = (a: Record<string, number>, b: Record<string, number>) =>
  [...new Set([...Object.keys(a), ...Object.keys(b)])].every((r) => (a[r] ?? 0) === (b[r] ?? 0));

/** What each edge did during the rollout, from the rollout's audit trail and status and from the traffic through it. */
function report(
  edges: RunningEdge[],
  loads: LoadReport[],
  samples: Sample[],
  shadow: Record<string, number>,
  status: RolloutStatus,
  expectDrained: string[],
): { lines: string[]; problems: string[] } {
  const lines = ['Edges (real Envoys and real traffic; metrics simulated):'];
  const problems: string[] = [];
  edges.forEach((e, i) => {
    const name = e.spec.name;
    const now = status.edges?.find((x) => x.name === name);
    const entries = status.audit.filter((a) => a.data?.edge === name);
    const snapshot = entries.map((a) => auditData(a, 'edge-snapshot')).find(Boolean);
    lines.push(`  ${name}: before ${snapshot?.shares ? describeShares(snapshot.shares) : 'not recorded'}`);
    for (const a of entries) {
      const what = change(a);
      if (what) lines.push(`    ${clockTime(a.at)} ${what}`);
    }
    const back = now && sameShares(now.shares, now.normal);
    lines.push(`    after: ${now ? describeShares(now.shares) : 'unknown'}${back ? ' (its normal shares)' : ''}`);
    lines.push(`    served through it: ${served(loads[i]!)}`);
    const drainedRegions = [...new Set(entries.filter((a) => a.action === 'steer-away').map((a) => a.region!))];
    for (const region of drainedRegions) {
      const gap = longestGap(samples, region, e.spec.routes.map((r) => r.region));
      if (!gap) continue;
      const [from, to] = [gap.from, gap.to].map((ms) => clockTime(new Date(ms).toISOString()));
      lines.push(`    ${region} served nothing through it for ${(gap.ms / 1000).toFixed(1)}s (${from}-${to}); ${describeCounts(gap.others)} in that time`);
    }
    if (!back) problems.push(`edge ${name} did not end at its normal shares`);
    for (const region of expectDrained) {
      if (e.spec.routes.some((r) => r.region === region) && !drainedRegions.includes(region)) problems.push(`expected edge ${name} to drain ${region}`);
    }
  });
  for (const [region, copies] of Object.entries(shadow)) {
    const answered = loads.reduce((n, l) => n + (l.byServer[canaryOf(region)] ?? 0), 0);
    lines.push(`  ${region}'s canary served ${copies} mirrored copies through the edges and ${answered} answers to users`);
  }
  return { lines, problems };
}

/** One line for an audit entry that changed the edge: what happened and the shares after it. */
function change(a: AuditEntry): string | undefined {
  const after = (a.data?.after as EdgeShares | undefined)?.shares;
  if (!after) return undefined;
  const mirrors = (a.data?.after as EdgeShares).mirrors ?? {};
  const mirrored = Object.entries(mirrors).map(([r, p]) => `; mirror ${p}% of ${r}`).join('');
  const shares = `${describeShares(after)}${mirrored}`;
  switch (a.action) {
    case 'steer-away':
      return `${a.region} drained (${auditData(a, 'steer-away')?.cause ?? 'it failed'}): ${shares}`;
    case 'steer-back':
      return `${a.region} back to ${auditData(a, 'steer-back')?.percent}% of its share: ${shares}`;
    case 'mirror':
      return auditData(a, 'mirror')?.percent ? `${a.region} mirrored to its canary: ${shares}` : `${a.region}'s mirror stopped: ${shares}`;
    case 'edge-restore':
      return `${auditData(a, 'edge-restore')?.exact ? 'restored exactly' : 'mirrors stopped'}: ${shares}`;
    default:
      return undefined;
  }
}

/** `us-east-1 14010, us-west-2 28022 requests; all answered 200`, from one edge's load report. */
function served(load: LoadReport): string {
  const by = Object.entries(load.byServer)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([server, n]) => `${server || '(unnamed)'} ${n}`)
    .join(', ');
  const codes = Object.entries(load.byStatus).map(([code, n]) => `${code} x ${n}`);
  const answers = codes.length === 1 && load.byStatus['200'] !== undefined ? 'all answered 200' : `answers ${codes.join(', ') || 'none'}`;
  return `${by || 'nothing'} requests; ${answers}${load.failed ? `; ${load.failed} got no answer` : ''}`;
}

/** What each demo-service version had served (`http_requests_total`, all codes), sampled. */
type Sample = DemoSample<number>;

const sampleServed = (service: RunningDemoService) => sampleMetrics(service, (text) => metricSum(text, 'http_requests_total'));

/**
 * The longest stretch between two samples in which `region` served no request while the edge's
 * other regions served some, and what they served in it; undefined when there is none.
 */
function longestGap(samples: Sample[], region: string, regions: string[]): { from: number; to: number; ms: number; others: Record<string, number> } | undefined {
  let best: { from: number; to: number; ms: number; others: Record<string, number> } | undefined;
  let start = 0;
  for (let i = 1; i <= samples.length; i += 1) {
    if (i < samples.length && samples[i]!.values[region] === samples[start]!.values[region]) continue;
    const [from, to] = [samples[start]!, samples[i - 1]!];
    const others = Object.fromEntries(regions.filter((r) => r !== region).map((r) => [r, (to.values[r] ?? 0) - (from.values[r] ?? 0)]));
    if (to.at - from.at > (best?.ms ?? 0) && Object.values(others).some((n) => n > 0)) best = { from: from.at, to: to.at, ms: to.at - from.at, others };
    start = i;
  }
  return best;
}

const describeCounts = (counts: Record<string, number>) =>
  Object.entries(counts)
    .map(([region, n]) => `${region} served ${n}`)
    .join(', ');

async function metricsOf(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2_000) })).text();
}

function metricSum(text: string, metric: string): number {
  let total = 0;
  for (const m of text.matchAll(new RegExp(`^${metric}\\{[^}]*\\} (\\d+)$`, 'gm'))) total += Number(m[1]);
  return total;
}

/** Mirrored copies each canary instance served (`http_shadow_requests_total`), for the canaries that got any. */
async function shadowCopies(service: RunningDemoService): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of service.versions.filter((x) => x.version.endsWith('-canary'))) {
    const total = metricSum(await metricsOf(v.url), 'http_shadow_requests_total');
    if (total > 0) out[v.version.slice(0, -'-canary'.length)] = total;
  }
  return out;
}
