import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporalExecutable } from '../../lib/binaries';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveConfig } from '../../activities/edges/envoy-admin';
import { envoyEdgeDriver } from '../../activities/edges/envoy';
import type { EdgeSnapshot } from '../../activities/edges/types';
import type { RolloutSpecInput } from '../../domain/spec';
import type { EdgeStatus, RolloutStatus } from '../../domain/status';
import { validateSpec } from '../../domain/validate';
import { canaryOf, edgeSpecInput, loadThrough, startEdgeBed, type EdgeBed } from '../support/edge-bed';
import { startPrometheus, type RunningPrometheus } from '../support/prometheus';
import { auditDataOf, auditOf, regionOf } from '../support/status';
import { endedHow, withRollout } from '../workflows/support';

/**
 * Rollouts on simulated targets behind two real Envoy edges (`eu`: eu-west-1 + eu-central-1, `us`:
 * us-east-1 + us-west-2), each region's stable and canary a real demo-service instance, with real
 * traffic through the edges. Shares are read from what the demo services served and from Envoy's
 * admin interface.
 */
const WEST = 'eu-west-1';
const CENTRAL = 'eu-central-1';
const EAST = 'us-east-1';
const OREGON = 'us-west-2';
const OLD = 'registry.test/shop/checkout:2.3.1';
const driver = envoyEdgeDriver();

let env: TestWorkflowEnvironment;
let bed: EdgeBed;
let prom: RunningPrometheus;

beforeAll(async () => {
  // A real dev server: these rollouts wait on real Envoys and real traffic, in real time.
  [env, bed] = await Promise.all([TestWorkflowEnvironment.createLocal({ server: { executable: temporalExecutable((line) => console.log(line)) } }), startEdgeBed()]);
  prom = await startPrometheus([{ url: bed.demo.urls[canaryOf(EAST)]!, labels: { region: EAST, role: 'canary' } }]);
}, 60_000);

afterAll(async () => {
  await Promise.all([env?.teardown(), bed?.stop(), prom?.stop()]);
});

const region = (name: string, residency: string) => ({ name, target: { kind: 'simulated' as const, initial: { image: OLD } }, labels: { residency } });

function spec(over: Partial<RolloutSpecInput>): RolloutSpecInput {
  return {
    service: 'checkout',
    version: `2.4.0-${Date.now()}`,
    image: `registry.test/shop/checkout@sha256:${'4'.repeat(64)}`,
    regions: [region(WEST, 'eu'), region(CENTRAL, 'eu'), region(EAST, 'us'), region(OREGON, 'us')],
    waves: [{ regions: [WEST] }, { regions: [CENTRAL, EAST, OREGON] }],
    metrics: [{ name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 }],
    steps: [
      { kind: 'setWeight', weight: 25 },
      { kind: 'analysis', metrics: ['error_rate'], interval: '500ms', sustainedFor: '1s' },
    ],
    edges: edgeSpecInput(bed),
    steering: { returnSteps: [50], stepAnalysis: { interval: '500ms', sustainedFor: '1500ms' }, driftCheck: '1s' },
    simulation: { baseline: { error_rate: 0.004 }, faults: [] },
    ...over,
  };
}

function planOf(input: RolloutSpecInput) {
  const v = validateSpec(input);
  if (!v.ok) throw new Error(v.problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return v.plan;
}

/** Requests each stable and canary instance served while `during` ran. */
async function servedDuring(during: () => Promise<unknown>): Promise<Record<string, { requests: number; shadow: number }>> {
  const before = await bed.served();
  await during();
  const after = await bed.served();
  return Object.fromEntries(Object.keys(after).map((v) => [v, { requests: after[v]!.requests - before[v]!.requests, shadow: after[v]!.shadow - before[v]!.shadow }]));
}

/** Envoy's `/clusters` request counts per cluster, summed over hosts. */
async function clusterRequests(admin: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${admin}/clusters`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^([^:\n]+)::[^:\n]+:\d+::rq_total::(\d+)$/gm)) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  return out;
}

const edgeOf = (status: RolloutStatus, name: string): Partial<EdgeStatus> & { drained: string[] } => status.edges?.find((e) => e.name === name) ?? { name, drained: [] };
const files = (snap: EdgeSnapshot) => snap.files;

describe('edges steer away from a failing region, within its residency', () => {
  it('drains eu-west-1 to eu-central-1 only on its breach, and gives the share back to the byte', async () => {
    const [euBefore, usBefore] = await Promise.all([driver.snapshot(bed.edges.eu.edge), driver.snapshot(bed.edges.us.edge)]);
    const euDumpBefore = await liveConfig(bed.edges.eu.edge.provider.admin);
    const plan = planOf(spec({ simulation: { baseline: { error_rate: 0.004 }, faults: [`${WEST}: error_rate 0.08 when weight >= 25`, `${WEST}: delay restoreWorkload 4s`] } }));
    const euLoad = loadThrough(bed.edges.eu.url, { users: 50, maxDurationMs: 120_000 });
    const usLoad = loadThrough(bed.edges.us.url, { users: 50, maxDurationMs: 120_000 });
    let drainedWindow: Record<string, { requests: number; shadow: number }> = {};
    let drainedStats: Record<string, number> = {};
    let drainedStatus: RolloutStatus | undefined;
    await withRollout(env, plan, async (run) => {
      drainedStatus = await run.until((s) => edgeOf(s, 'eu').drained.includes(WEST), 'eu-west-1 drained at the eu edge', 60_000);
      const adminBefore = await clusterRequests(bed.edges.eu.edge.provider.admin);
      drainedWindow = await servedDuring(() => new Promise((r) => setTimeout(r, 1_500)));
      const adminAfter = await clusterRequests(bed.edges.eu.edge.provider.admin);
      drainedStats = Object.fromEntries(Object.keys(adminAfter).map((c) => [c, adminAfter[c]! - (adminBefore[c] ?? 0)]));
      const still = await run.status();
      expect(edgeOf(still, 'eu').drained, 'still drained after the measured window').toContain(WEST);
      const { status, failure } = await run.end();
      expect(status.phase, endedHow(status, failure)).toBe('RolledBack');
      const away = auditDataOf(status, 'steer-away');
      expect(away).toEqual([expect.objectContaining({ edge: 'eu', region: WEST, after: { shares: { [WEST]: 0, [CENTRAL]: 100 }, mirrors: {} } })]);
      const back = auditDataOf(status, 'steer-back');
      expect(back.map((b) => [b.edge, b.region, b.percent, b.after?.shares])).toEqual([
        ['eu', WEST, 50, { [WEST]: 25, [CENTRAL]: 75 }],
        ['eu', WEST, 100, { [WEST]: 50, [CENTRAL]: 50 }],
      ]);
      expect(auditDataOf(status, 'edge-restore').every((r) => r.edge === 'eu')).toBe(true);
      expect(edgeOf(status, 'us').version, 'the us edge was never changed').toBe(usBefore.version);
      expect(edgeOf(status, 'eu')).toMatchObject({ shares: { [WEST]: 50, [CENTRAL]: 50 }, drained: [], version: euBefore.version });
      expect(regionOf(status, WEST).phase).toBe('RolledBack');
    });
    const [eu, us] = await Promise.all([euLoad.stop(), usLoad.stop()]);

    expect(drainedStatus!.edges!.find((e) => e.name === 'eu')!.shares).toEqual({ [WEST]: 0, [CENTRAL]: 100 });
    expect(drainedWindow[WEST]!.requests, 'eu-west-1 serves nothing while drained').toBe(0);
    expect(drainedWindow[CENTRAL]!.requests).toBeGreaterThan(50);
    expect(drainedStats[`stable-${WEST}`] ?? 0).toBe(0);
    expect(drainedStats[`stable-${CENTRAL}`]).toBeGreaterThan(50);
    expect(drainedWindow[EAST]!.requests + drainedWindow[OREGON]!.requests).toBeGreaterThan(50);

    expect(Object.keys(eu.byServer).sort(), 'the eu edge answered only from eu regions').toEqual([CENTRAL, WEST]);
    expect(Object.keys(us.byServer).sort()).toEqual([EAST, OREGON]);
    expect(eu.failed + us.failed).toBe(0);
    expect(Object.keys(eu.byStatus)).toEqual(['200']);
    const euStats = await clusterRequests(bed.edges.eu.edge.provider.admin);
    expect(Object.keys(euStats).filter((c) => c.includes('us-')), 'the eu edge has no route to a us region').toEqual([]);

    const [euAfter, usAfter] = await Promise.all([driver.snapshot(bed.edges.eu.edge), driver.snapshot(bed.edges.us.edge)]);
    expect(files(euAfter)).toEqual(files(euBefore));
    expect(euAfter.live).toBe(euBefore.live);
    expect(await liveConfig(bed.edges.eu.edge.provider.admin), 'config_dump without version fields').toBe(euDumpBefore);
    expect(files(usAfter)).toEqual(files(usBefore));
    for (const name of Object.keys(euBefore.files)) {
      expect(readFileSync(join(bed.edges.eu.edge.provider.configDir, name), 'utf8')).toBe(euBefore.files[name]);
    }
    expect(canaryOf(WEST)).toBe(`${WEST}-canary`);
  }, 180_000);

  it('holds for a person instead of draining eu-west-1 when eu-central-1 is already down, with the numbers', async () => {
    const euBefore = await driver.snapshot(bed.edges.eu.edge);
    const plan = planOf(
      spec({
        waves: [{ regions: [CENTRAL, WEST] }, { regions: [EAST, OREGON] }],
        alarmBlocker: { timeout: '5m', interval: '500ms' },
        simulation: { baseline: { error_rate: 0.004 }, faults: [`${CENTRAL}: stable error_rate 0.08 always`, `${WEST}: error_rate 0.08 when weight >= 25`] },
      }),
    );
    const euLoad = loadThrough(bed.edges.eu.url, { users: 20, maxDurationMs: 120_000 });
    await withRollout(env, plan, async (run) => {
      const held = await run.until((s) => auditOf(s, 'steer-held', WEST).length > 0 && regionOf(s, WEST).phase === 'Paused', 'the drain of eu-west-1 held');
      expect(auditDataOf(held, 'steer-away')).toEqual([expect.objectContaining({ edge: 'eu', region: CENTRAL, after: { shares: { [WEST]: 100, [CENTRAL]: 0 }, mirrors: {} } })]);
      expect(auditDataOf(held, 'steer-held', WEST)).toEqual([
        {
          edge: 'eu',
          region: WEST,
          reason: 'no-healthy-region',
          numbers: {
            region: WEST,
            healthyShare: 0,
            minHealthyShare: 50,
            healthyRegions: [],
            excludedRegions: [
              { region: CENTRAL, why: 'unhealthy' },
              { region: WEST, why: 'unhealthy' },
            ],
          },
        },
      ]);
      const during = await servedDuring(() => new Promise((r) => setTimeout(r, 1_000)));
      expect(during[WEST]!.requests, 'eu-west-1 keeps serving: it was not drained').toBeGreaterThan(20);
      expect(edgeOf(await run.status(), 'eu').shares).toEqual({ [WEST]: 100, [CENTRAL]: 0 });
      await run.handle.executeUpdate('resume', { args: [{ by: 'oncall', reason: 'eu-west-1 rolls back in place' }] });
      const { status, failure } = await run.end();
      expect(status.phase, endedHow(status, failure)).toBe('RolledBack');
      expect(auditDataOf(status, 'steer-away').map((d) => d.region)).toEqual([CENTRAL]);
      // eu-central-1's stable still fails, so the check at its first step back drains it again.
      expect(auditDataOf(status, 'steer-back-stopped').map((d) => [d.region, d.percent])).toEqual([[CENTRAL, 50]]);
      expect(edgeOf(status, 'eu')).toMatchObject({ shares: { [WEST]: 100, [CENTRAL]: 0 }, drained: [CENTRAL] });
    });
    await euLoad.stop();
    await driver.restore(bed.edges.eu.edge, euBefore, 'test-reset');
  }, 180_000);

  it('mirrors us-east-1 to its canary, whose failing shadow rolls back before any user reaches it', async () => {
    const usBefore = await driver.snapshot(bed.edges.us.edge);
    await bed.demo.control(canaryOf(EAST), { errorRate: 1 });
    const canaryErrors = `sum(rate(http_requests_total{version="${canaryOf(EAST)}",code=~"5.."}[3s])) / sum(rate(http_requests_total{version="${canaryOf(EAST)}"}[3s]))`;
    const plan = planOf(
      spec({
        waves: [{ regions: [EAST] }, { regions: [WEST, CENTRAL, OREGON] }],
        metrics: [{ name: 'shadow_errors', provider: { type: 'prometheus', address: prom.address, query: canaryErrors }, max: 0.05 }],
        regions: [region(WEST, 'eu'), region(CENTRAL, 'eu'), { ...region(EAST, 'us'), steps: [
          { kind: 'mirror', percent: 50, duration: '4s' },
          { kind: 'analysis', metrics: ['shadow_errors'], interval: '1s', sustainedFor: '3s' },
          { kind: 'setWeight', weight: 25 },
        ] }, region(OREGON, 'us')],
        steps: [{ kind: 'setWeight', weight: 25 }],
      }),
    );
    const usLoad = loadThrough(bed.edges.us.url, { users: 20, maxDurationMs: 120_000 });
    let mirrored: Record<string, { requests: number; shadow: number }> = {};
    await withRollout(env, plan, async (run) => {
      await run.until((s) => edgeOf(s, 'us').version !== usBefore.version && auditOf(s, 'mirror', EAST).length > 0, 'the mirror on');
      mirrored = await servedDuring(() => new Promise((r) => setTimeout(r, 2_000)));
      await run.until((s) => s.phase === 'RolledBack', 'the shadow rolled back');
      const { status, failure } = await run.end();
      expect(status.phase, endedHow(status, failure)).toBe('RolledBack');
      expect(auditDataOf(status, 'mirror', EAST)).toEqual([expect.objectContaining({ edge: 'us', percent: 50, after: { shares: { [EAST]: 50, [OREGON]: 50 }, mirrors: { [EAST]: 50 } } })]);
      expect(auditDataOf(status, 'analysis-failed', EAST)).toEqual([expect.objectContaining({ metric: 'shadow_errors', weight: 0 })]);
      expect(auditOf(status, 'set-weight', EAST), 'no user traffic was ever moved to the canary').toEqual([]);
      expect(auditDataOf(status, 'edge-restore')).toEqual([expect.objectContaining({ edge: 'us', exact: true })]);
    });
    const report = await usLoad.stop();
    await bed.demo.control(canaryOf(EAST), { errorRate: 0 });
    const canary = mirrored[canaryOf(EAST)]!;
    const stable = mirrored[EAST]!;
    expect(canary.requests, 'the canary served only shadow copies').toBe(canary.shadow);
    expect(canary.shadow / stable.requests).toBeGreaterThan(0.3);
    expect(canary.shadow / stable.requests).toBeLessThan(0.7);
    expect(Object.keys(report.byServer).sort(), 'every user answer came from a stable').toEqual([EAST, OREGON]);
    expect(Object.keys(report.byStatus), 'users never saw the canary\'s errors').toEqual(['200']);
    const total = (await bed.served())[canaryOf(EAST)]!;
    expect(total.requests - total.shadow, 'user requests the canary ever served').toBe(0);
    const usAfter = await driver.snapshot(bed.edges.us.edge);
    expect(usAfter.files).toEqual(usBefore.files);
    expect(usAfter.live).toBe(usBefore.live);
  }, 180_000);
});

describe('an edge changed by hand during the rollout', () => {
  const handChange = { shares: { [WEST]: 70, [CENTRAL]: 30 } };
  const paused = (s: RolloutStatus) => auditOf(s, 'edge-drift').length > 0 && s.phase === 'Paused';
  const slow = () =>
    planOf(
      spec({
        steps: [{ kind: 'setWeight', weight: 25 }, { kind: 'pause', duration: '3s' }],
        waves: [{ regions: [WEST] }, { regions: [CENTRAL, EAST, OREGON] }],
      }),
    );

  it('pauses the rollout; resume accepts the change, which the rollout then leaves in place', async () => {
    const euBefore = await driver.snapshot(bed.edges.eu.edge);
    await withRollout(env, slow(), async (run) => {
      await run.until((s) => regionOf(s, WEST).step?.kind === 'pause', 'eu-west-1 in its pause step');
      const changed = await driver.apply(bed.edges.eu.edge, handChange, 'by-hand-1');
      const status = await run.until(paused, 'the rollout paused on the drift');
      expect(auditDataOf(status, 'edge-drift')).toEqual([{ edge: 'eu', differences: expect.arrayContaining([expect.stringContaining(`${WEST} has share 70, Meridian left 50`)]) }]);
      expect(edgeOf(status, 'eu').drift?.length).toBeGreaterThan(0);
      await run.handle.executeUpdate('resume', { args: [{ by: 'oncall' }] });
      const end = await run.end();
      expect(end.status.phase, endedHow(end.status, end.failure)).toBe('Succeeded');
      expect(auditDataOf(end.status, 'edge-drift-accepted')).toEqual([expect.objectContaining({ edge: 'eu', shares: handChange.shares })]);
      const after = await driver.snapshot(bed.edges.eu.edge);
      expect(after.files, 'the accepted change is left in place').toEqual(changed.files);
    });
    await driver.restore(bed.edges.eu.edge, euBefore, 'test-reset');
  }, 180_000);

  it('pauses the rollout; abort rolls back and restores the edge as it was before the rollout', async () => {
    const euBefore = await driver.snapshot(bed.edges.eu.edge);
    await withRollout(env, slow(), async (run) => {
      await run.until((s) => regionOf(s, WEST).step?.kind === 'pause', 'eu-west-1 in its pause step');
      await driver.apply(bed.edges.eu.edge, handChange, 'by-hand-2');
      await run.until(paused, 'the rollout paused on the drift');
      await run.handle.executeUpdate('abort', { args: [{ by: 'oncall', reason: 'someone is changing the edge' }] });
      const { status, failure } = await run.end();
      expect(status.phase, endedHow(status, failure)).toBe('RolledBack');
      expect(auditDataOf(status, 'edge-restore')).toEqual([expect.objectContaining({ edge: 'eu', exact: true, version: euBefore.version })]);
    });
    const after = await driver.snapshot(bed.edges.eu.edge);
    expect(after.files).toEqual(euBefore.files);
    expect(after.live).toBe(euBefore.live);
  }, 180_000);
});
