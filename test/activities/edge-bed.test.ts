import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envoyEdgeDriver } from '../../activities/edges/envoy';
import { canaryOf, EDGE_BED_REGIONS, EDGE_BED_VERSIONS, edgeSpecInput, loadThrough, startEdgeBed, type EdgeBed } from '../support/edge-bed';

const REQUESTS = 200;

let bed: EdgeBed;

beforeAll(async () => {
  bed = await startEdgeBed();
});

afterAll(async () => {
  await bed?.stop();
});

describe('the edge bed', () => {
  it("sends each edge's traffic to its own regions' stable instances, about half each", async () => {
    const before = await bed.served();
    const [eu, us] = await Promise.all([
      loadThrough(bed.edges.eu.url, { maxRequests: REQUESTS, maxDurationMs: 15_000 }).done,
      loadThrough(bed.edges.us.url, { maxRequests: REQUESTS, maxDurationMs: 15_000 }).done,
    ]);
    const after = await bed.served();
    const served = Object.fromEntries(EDGE_BED_VERSIONS.map((v) => [v, after[v]!.requests - before[v]!.requests]));

    for (const [name, report] of [['eu', eu], ['us', us]] as const) {
      expect(report).toMatchObject({ sent: REQUESTS, failed: 0, byStatus: { 200: REQUESTS } });
      const regions: readonly string[] = EDGE_BED_REGIONS[name];
      expect(Object.keys(report.byServer).sort()).toEqual([...regions].sort());
      for (const region of regions) {
        expect(report.byServer[region]).toBe(served[region]);
        expect(served[region]).toBeGreaterThanOrEqual(0.3 * REQUESTS);
        expect(served[region]).toBeLessThanOrEqual(0.7 * REQUESTS);
        expect(served[canaryOf(region)]).toBe(0);
      }
    }
    expect(Object.values(served).reduce((a, b) => a + b, 0)).toBe(2 * REQUESTS);
    for (const v of EDGE_BED_VERSIONS) expect(after[v]!.shadow).toBe(0);
  });

  it('describes its edges as a spec writes them', () => {
    const edges = edgeSpecInput(bed);
    expect(edges.map((e) => [e.name, e.residency, e.minHealthyShare])).toEqual([
      ['eu', 'eu', 50],
      ['us', 'us', 50],
    ]);
    for (const e of edges) {
      const running = bed.edges[e.name as keyof EdgeBed['edges']];
      expect(e.provider).toEqual(running.edge.provider);
      expect(e.routes).toEqual(
        EDGE_BED_REGIONS[e.name as keyof typeof EDGE_BED_REGIONS].map((region) => ({
          region,
          share: 50,
          address: new URL(bed.demo.urls[region]!).host,
          canaryAddress: new URL(bed.demo.urls[canaryOf(region)]!).host,
        })),
      );
    }
    expect(JSON.parse(JSON.stringify(edges))).toEqual(edges);
  });

  it("counts Envoy's mirrored copies as shadow requests at the canary, and answers only from stable", async () => {
    const [west, central] = EDGE_BED_REGIONS.eu;
    const edge = bed.edges.eu.edge;
    await envoyEdgeDriver().apply(edge, { shares: { [west]: 50, [central]: 50 }, mirrors: { [west]: 100 } }, 'test/edge-bed/mirror');
    const before = await bed.served();
    const report = await loadThrough(bed.edges.eu.url, { maxRequests: REQUESTS, maxDurationMs: 15_000 }).done;
    let after = await bed.served();
    // Envoy sends the copy after it answers, so the canary's count may trail the load a little.
    for (let i = 0; i < 100 && after[canaryOf(west)]!.requests - before[canaryOf(west)]!.requests < report.byServer[west]!; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      after = await bed.served();
    }
    const delta = (v: string) => ({ requests: after[v]!.requests - before[v]!.requests, shadow: after[v]!.shadow - before[v]!.shadow });
    expect(Object.keys(report.byServer).sort()).toEqual([central, west]);
    expect(delta(west)).toEqual({ requests: report.byServer[west], shadow: 0 });
    expect(delta(canaryOf(west))).toEqual({ requests: report.byServer[west], shadow: report.byServer[west] });
    expect(delta(canaryOf(central))).toEqual({ requests: 0, shadow: 0 });
  });
});
