import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStats } from '../../activities/edges/envoy-admin';
import { envoyEdgeDriver } from '../../activities/edges/envoy';
import type { EdgeSnapshot } from '../../activities/edges/types';
import { startDemoService, type DemoService } from '../support/demo-service';
import { startEnvoy, type RunningEnvoy } from '../support/envoy';
import { startLoad } from '../support/load';

const WEST = 'eu-west-1';
const WEST_CANARY = 'eu-west-1-canary';
const CENTRAL = 'eu-central-1';
const EAST = 'us-east-1';
const OREGON = 'us-west-2';

const driver = envoyEdgeDriver();
let demo: DemoService;
let eu: RunningEnvoy;
let us: RunningEnvoy;
let initial: EdgeSnapshot;

const hostPort = (url: string) => new URL(url).host;

/** Requests each demo version has served, from its own `/metrics`. */
async function served(version: string): Promise<number> {
  const text = await (await fetch(`${demo.urls[version]}/metrics`)).text();
  let total = 0;
  for (const m of text.matchAll(/^http_requests_total\{[^}]*\} (\d+)$/gm)) total += Number(m[1]);
  return total;
}

async function servedAll(): Promise<Record<string, number>> {
  const versions = [WEST, WEST_CANARY, CENTRAL, EAST, OREGON];
  return Object.fromEntries(await Promise.all(versions.map(async (v) => [v, await served(v)] as const)));
}

/** What each version served while `traffic` ran, once mirrored requests (which Envoy sends after answering) are in. */
async function servedDuring(traffic: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = await servedAll();
  await traffic();
  let last = '';
  for (let settled = 0; settled < 3; ) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = JSON.stringify(await servedAll());
    settled = now === last ? settled + 1 : 0;
    last = now;
  }
  const after = JSON.parse(last) as Record<string, number>;
  return Object.fromEntries(Object.keys(after).map((v) => [v, after[v]! - before[v]!]));
}

async function loadThrough(envoy: RunningEnvoy, requests: number): Promise<void> {
  const report = await startLoad({ urls: [`${envoy.url}/`], concurrency: 8, maxRequests: requests, maxDurationMs: 15_000 }).done;
  expect(report).toMatchObject({ sent: requests, failed: 0, byStatus: { 200: requests } });
}

beforeAll(async () => {
  demo = await startDemoService([WEST, WEST_CANARY, CENTRAL, EAST, OREGON]);
  await Promise.all([WEST, WEST_CANARY, CENTRAL, EAST, OREGON].map((v) => demo.control(v, { latencyMs: 1 })));
  [eu, us] = await Promise.all([
    startEnvoy({
      name: 'eu',
      residency: 'eu',
      minHealthyShare: 50,
      routes: [
        { region: WEST, share: 50, address: hostPort(demo.urls[WEST]!), canaryAddress: hostPort(demo.urls[WEST_CANARY]!) },
        { region: CENTRAL, share: 50, address: hostPort(demo.urls[CENTRAL]!) },
      ],
    }),
    startEnvoy({
      name: 'us',
      residency: 'us',
      minHealthyShare: 50,
      routes: [
        { region: EAST, share: 50, address: hostPort(demo.urls[EAST]!) },
        { region: OREGON, share: 50, address: hostPort(demo.urls[OREGON]!) },
      ],
    }),
  ]);
  initial = await driver.snapshot(eu.edge);
});

afterAll(async () => {
  await eu?.stop();
  await us?.stop();
  await demo?.stop();
});

describe('the Envoy edge', () => {
  it('splits each edge by share, counted at the regions and in Envoy, and drains a region at share 0', async () => {
    expect(initial.routing).toEqual({ shares: { [WEST]: 50, [CENTRAL]: 50 }, mirrors: {} });
    const statsBefore = await driver.stats(eu.edge);
    const split = await servedDuring(() => Promise.all([loadThrough(eu, 400), loadThrough(us, 200)]));
    expect(split[WEST]! + split[CENTRAL]!).toBe(400);
    expect(split[WEST]).toBeGreaterThan(140);
    expect(split[CENTRAL]).toBeGreaterThan(140);
    expect(split[EAST]! + split[OREGON]!).toBe(200);
    expect(split[EAST]).toBeGreaterThan(60);
    expect(split[OREGON]).toBeGreaterThan(60);
    expect(split[WEST_CANARY]).toBe(0);
    const stats = await driver.stats(eu.edge);
    for (const region of [WEST, CENTRAL]) {
      expect(stats.regions[region]!.requests - statsBefore.regions[region]!.requests).toBe(split[region]);
      expect(stats.regions[region]!.stable['2xx'] - statsBefore.regions[region]!.stable['2xx']).toBe(split[region]);
    }

    const drained = await driver.apply(eu.edge, { shares: { [WEST]: 0, [CENTRAL]: 100 } }, 'rollout/checkout/2.4.0/eu-west-1/drain');
    expect(drained.routing.shares).toEqual({ [WEST]: 0, [CENTRAL]: 100 });
    const after = await servedDuring(() => loadThrough(eu, 200));
    expect(after).toMatchObject({ [WEST]: 0, [CENTRAL]: 200, [WEST_CANARY]: 0 });
  });

  it("mirrors half of eu-west-1's traffic to its canary, and every answer comes from stable", async () => {
    const key = 'rollout/checkout/2.4.0/eu-west-1/mirror';
    const mirrored = await driver.apply(eu.edge, { shares: { [WEST]: 50, [CENTRAL]: 50 }, mirrors: { [WEST]: 50 } }, key);
    expect(mirrored.routing).toEqual({ shares: { [WEST]: 50, [CENTRAL]: 50 }, mirrors: { [WEST]: 50 } });
    const statsBefore = await driver.stats(eu.edge);
    const answeredBy: Record<string, number> = {};
    const counts = await servedDuring(async () => {
      const client = async () => {
        for (let i = 0; i < 80; i++) {
          const res = await fetch(`${eu.url}/`);
          const { version } = (await res.json()) as { version: string };
          answeredBy[version] = (answeredBy[version] ?? 0) + 1;
        }
      };
      await Promise.all(Array.from({ length: 6 }, client));
    });
    expect(Object.keys(answeredBy).sort()).toEqual([CENTRAL, WEST]);
    expect(answeredBy[WEST]).toBe(counts[WEST]);
    const ratio = counts[WEST_CANARY]! / counts[WEST]!;
    expect(ratio).toBeGreaterThan(0.3);
    expect(ratio).toBeLessThan(0.7);
    const stats = await driver.stats(eu.edge);
    expect(stats.regions[WEST]!.mirror!.requests - statsBefore.regions[WEST]!.mirror!.requests).toBe(counts[WEST_CANARY]);
    expect(stats.regions[CENTRAL]!.mirror).toBeUndefined();
  });

  it('restores the snapshot: the files and the live configuration equal it, byte for byte', async () => {
    await driver.restore(eu.edge, initial, 'rollout/checkout/2.4.0/eu-west-1/restore');
    const now = await driver.snapshot(eu.edge);
    expect(now.files).toEqual(initial.files);
    expect(now.live).toBe(initial.live);
    expect(now.routing).toEqual(initial.routing);
    const after = await servedDuring(() => loadThrough(eu, 100));
    expect(after[WEST_CANARY]).toBe(0);
  });

  it('applies a key once: the same key again writes nothing and Envoy sees no update', async () => {
    const key = 'rollout/checkout/2.4.0/eu-west-1/step-2';
    const routing = { shares: { [WEST]: 80, [CENTRAL]: 20 } };
    const first = await driver.apply(eu.edge, routing, key);
    expect(first.version).toBe(key);
    const mtimes = Object.keys(first.files).map((name) => statSync(join(eu.edge.provider.configDir, name)).mtimeMs);
    const attempts = async () => [...(await readStats(eu.edge.provider.admin, 'update_attempt$'))].sort();
    const attemptsBefore = await attempts();
    const second = await driver.apply(eu.edge, { shares: { [WEST]: 10, [CENTRAL]: 90 } }, key);
    expect(second).toEqual(first);
    expect(Object.keys(first.files).map((name) => statSync(join(eu.edge.provider.configDir, name)).mtimeMs)).toEqual(mtimes);
    expect(await attempts()).toEqual(attemptsBefore);
  });

  it('reports a hand edit of the route file as drift, naming what changed', async () => {
    const expected = await driver.apply(eu.edge, { shares: { [WEST]: 50, [CENTRAL]: 50 } }, 'rollout/checkout/2.4.0/eu-west-1/step-3');
    expect(await driver.drift(eu.edge, expected)).toEqual({ drifted: false, differences: [] });
    const file = join(eu.edge.provider.configDir, 'rds-edge.json');
    const edited = readFileSync(file, 'utf8').replace('"weight": 5000', '"weight": 7000').replace('"weight": 5000', '"weight": 3000');
    writeFileSync(`${file}.edit`, edited);
    renameSync(`${file}.edit`, file);
    let drift = await driver.drift(eu.edge, expected);
    for (let i = 0; i < 100 && !drift.differences.some((d) => d.startsWith('live')); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      drift = await driver.drift(eu.edge, expected);
    }
    expect(drift.drifted).toBe(true);
    expect(drift.differences).toEqual([
      `rds-edge.json: ${WEST} has share 70, Meridian left 50`,
      `rds-edge.json: ${CENTRAL} has share 30, Meridian left 50`,
      'live route config edge differs from what Meridian left',
    ]);
  });
});
