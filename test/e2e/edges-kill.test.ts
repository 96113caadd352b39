import type { ChildProcess } from 'node:child_process';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { envoyEdgeDriver } from '../../activities/edges/envoy';
import { counter, readStats } from '../../activities/edges/envoy-admin';
import { CDS_FILE, EDGE_ROUTE, fileVersion, INITIAL_VERSION, LDS_FILE, regionCluster, resourceFiles, routeFile } from '../../activities/edges/envoy-resources';
import type { EdgeSpec } from '../../domain/edges';
import type { RolloutPlan } from '../../domain/plan';
import type { RolloutSpecInput } from '../../domain/spec';
import { validateSpec } from '../../domain/validate';
import { RolloutClient } from '../../client/rollout-client';
import { startDevServer, type DevServer } from '../../worker/dev-server';
import { edgeSpecInput, startEdgeBed, type EdgeBed } from '../support/edge-bed';
import { freePort, startWorkerProcess } from '../support/processes';
import { auditDataOf, auditOf } from '../support/status';
import { tempDir } from '../support/temp-dir';
import { activities, settled } from '../support/history';

/**
 * The chaos test of edge steering: the worker is SIGKILLed while it writes the steer-away of
 * eu-west-1 into a real Envoy's files (after the first file landed, before the activity ended). A
 * second worker, in a process of its own, finishes the steer-away and the rollback. The edge must end
 * byte for byte as it was before the rollout, and Envoy must have taken each of Meridian's changes
 * exactly once: its own update counters for every resource file say how many times it loaded one.
 */
const WEST = 'eu-west-1';
const CENTRAL = 'eu-central-1';
const EAST = 'us-east-1';
const OREGON = 'us-west-2';
const OLD = 'registry.test/shop/checkout:2.3.1';
const driver = envoyEdgeDriver();

let server: DevServer;
let bed: EdgeBed;
let dir: string;
const workers: ChildProcess[] = [];

beforeAll(async () => {
  dir = tempDir('meridian-edges-kill-');
  [server, bed] = await Promise.all([startDevServer({ dbFile: join(dir, 'temporal.db'), port: await freePort(), uiPort: await freePort() }), startEdgeBed()]);
}, 120_000);

afterAll(async () => {
  for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
  await Promise.all([server?.stop(), bed?.stop()]);
});

async function startWorker(): Promise<ChildProcess> {
  const child = await startWorkerProcess({ address: server.address, fleetFile: join(dir, 'fleet.json') });
  workers.push(child);
  return child;
}

const region = (name: string, residency: string) => ({ name, target: { kind: 'simulated' as const, initial: { image: OLD } }, labels: { residency } });

function planOf(): RolloutPlan {
  const input: RolloutSpecInput = {
    service: 'checkout',
    version: `2.4.0-kill-${Date.now()}`,
    image: `registry.test/shop/checkout@sha256:${'5'.repeat(64)}`,
    regions: [region(WEST, 'eu'), region(CENTRAL, 'eu'), region(EAST, 'us'), region(OREGON, 'us')],
    waves: [{ regions: [WEST] }, { regions: [CENTRAL, EAST, OREGON] }],
    metrics: [{ name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 }],
    steps: [
      { kind: 'setWeight', weight: 25 },
      { kind: 'analysis', metrics: ['error_rate'], interval: '500ms', sustainedFor: '1s' },
    ],
    edges: edgeSpecInput(bed),
    steering: { returnSteps: [50], stepAnalysis: { interval: '500ms', sustainedFor: '1500ms' }, driftCheck: '1s' },
    simulation: { baseline: { error_rate: 0.004 }, faults: [`${WEST}: error_rate 0.08 when weight >= 25`] },
  };
  const v = validateSpec(input);
  if (!v.ok) throw new Error(v.problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return v.plan;
}

/** The stat prefix Envoy counts each resource file's updates under (as activities/edges/envoy.ts waits on them). */
function updatePrefixes(edge: EdgeSpec): Record<string, string> {
  const out: Record<string, string> = { [CDS_FILE]: 'cluster_manager.cds', [LDS_FILE]: 'listener_manager.lds' };
  for (const name of [EDGE_ROUTE, ...edge.routes.map((r) => regionCluster(r.region))]) out[routeFile(name)] = `http.${name}.rds.${name}`;
  return out;
}

type Updates = Record<string, { success: number; rejected: number; version: string }>;

/** Envoy's own count of the updates it took from each resource file of `edge`, and the version it serves. */
async function updates(edge: EdgeSpec): Promise<Updates> {
  const stats = await readStats(edge.provider.admin, '\\.(cds|lds|rds\\..+)\\.(update_success|update_rejected|version_text)$');
  return Object.fromEntries(
    Object.entries(updatePrefixes(edge)).map(([file, p]) => {
      const version = stats.get(`${p}.version_text`);
      return [file, { success: counter(stats, `${p}.update_success`), rejected: counter(stats, `${p}.update_rejected`), version: typeof version === 'string' ? version : '' }];
    }),
  );
}

/** Each file's version in `edge`'s configDir, as written now. */
function fileVersions(edge: EdgeSpec): Record<string, string | undefined> {
  return Object.fromEntries(resourceFiles(edge).map((name) => [name, fileVersion(readFileSync(join(edge.provider.configDir, name), 'utf8'))]));
}

/**
 * SIGKILLs `worker` the moment the first resource file of `edge` is replaced, which only a change
 * of Meridian's does (the snapshot and drift checks only read). Resolves with the files' versions
 * once the worker is gone.
 */
function killOnFirstWrite(edge: EdgeSpec, worker: ChildProcess): { killed: Promise<{ file: string; versions: Record<string, string | undefined> }>; stop(): void } {
  const watched = new Set(resourceFiles(edge));
  let watcher: FSWatcher | undefined;
  const killed = new Promise<{ file: string; versions: Record<string, string | undefined> }>((resolve) => {
    watcher = watch(edge.provider.configDir, (_event, file) => {
      if (!file || !watched.has(file) || worker.exitCode !== null || worker.signalCode !== null) return;
      worker.kill('SIGKILL');
      watcher?.close();
      worker.once('exit', () => resolve({ file, versions: fileVersions(edge) }));
    });
  });
  return { killed, stop: () => watcher?.close() };
}

/**
 * The version Envoy serves for the edge route, sampled until `stop`, each value once per stretch it
 * was served: the order in which Envoy took Meridian's changes.
 */
function sampleEdgeVersions(edge: EdgeSpec): { stop(): Promise<string[]> } {
  const seen: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const stats = await readStats(edge.provider.admin, `^http\\.${EDGE_ROUTE}\\.rds\\.${EDGE_ROUTE}\\.version_text$`).catch(() => undefined);
      const v = stats?.get(`http.${EDGE_ROUTE}.rds.${EDGE_ROUTE}.version_text`);
      if (typeof v === 'string' && seen.at(-1) !== v) seen.push(v);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return seen;
    },
  };
}


describe('a worker killed in the middle of a steer-away', () => {
  it('is finished by another worker, and Envoy takes each planned change exactly once', async () => {
    const t0 = Date.now();
    const eu = bed.edges.eu.edge;
    const us = bed.edges.us.edge;
    const [euBefore, usBefore, euUpdatesBefore, usUpdatesBefore] = await Promise.all([driver.snapshot(eu), driver.snapshot(us), updates(eu), updates(us)]);
    expect(euBefore.version).toBe(INITIAL_VERSION);

    const plan = planOf();
    let worker = await startWorker();
    const kill = killOnFirstWrite(eu, worker);
    const versions = sampleEdgeVersions(eu);
    onTestFinished(async () => {
      kill.stop();
      await versions.stop();
    });
    const client = new RolloutClient(server.client, { namespace: server.namespace });
    const id = await client.start(plan, { id: `edges-kill-${process.pid}-${Date.now()}` });
    const steerKey = `${id}/edge/eu/1`;

    let timer: NodeJS.Timeout | undefined;
    const atKill = await Promise.race([
      kill.killed,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no write to the eu edge within 60 s')), 60_000))),
    ]).finally(() => (clearTimeout(timer), kill.stop()));
    const killedAt = Date.now() - t0;
    // What the dead worker left: which of the steer-away's files it had written.
    const written = Object.entries(atKill.versions).filter(([, v]) => v === steerKey).map(([f]) => f);
    expect(written, 'the first file the steer-away wrote is in place').toContain(atKill.file);
    // The strong case: the steer-away died part-way, its files half written and the edge route (written last) not yet.
    expect(atKill.versions[routeFile(EDGE_ROUTE)], 'the kill landed before the steer-away reached the edge route').toBe(INITIAL_VERSION);

    worker = await startWorker();
    const status = await settled(client, id, 120_000);
    const sampled = await versions.stop();
    const endedAt = Date.now() - t0;
    console.log(`[edges-kill] killed ${killedAt} ms into the test, on seeing ${atKill.file}; steer-away files written at the kill: ${written.join(', ')}; ended ${status.phase} at ${endedAt} ms; edge versions served: ${sampled.join(' -> ')}`);

    // The rollout rolled back with one steer-away. The retry knew the files the dead attempt had
    // written as its own, not as someone else's change (drift).
    expect(auditOf(status, 'edge-drift').map((a) => a.reason), 'the killed attempt taken for drift').toEqual([]);
    expect(status.phase, status.reason).toBe('RolledBack');
    expect(auditOf(status, 'edge-refused')).toEqual([]);
    const away = auditDataOf(status, 'steer-away');
    expect(away).toEqual([expect.objectContaining({ edge: 'eu', region: WEST, after: { shares: { [WEST]: 0, [CENTRAL]: 100 }, mirrors: {} } })]);

    // The steer-away's changeEdge ran twice: the first attempt died with the worker.
    const history = await server.client.workflow.getHandle(id).fetchHistory();
    const ran = activities(history.events ?? []);
    const steer = ran.filter((a) => a.type === 'changeEdge' && a.key === steerKey);
    expect(steer, 'the steer-away was scheduled once').toHaveLength(1);
    expect(steer[0]!.outcome).toBe('completed');
    expect(Math.max(...steer[0]!.attempts), 'the steer-away ran again after the kill').toBeGreaterThanOrEqual(2);

    // Each change Meridian recorded on the eu edge, and each key it wrote under, once.
    const edgeWork = ran.filter((a) => (a.type === 'changeEdge' || a.type === 'restoreEdge') && a.key?.startsWith(`${id}/edge/eu/`));
    const keys = edgeWork.map((a) => a.key!);
    expect(new Set(keys).size, 'no edge change scheduled twice').toBe(keys.length);
    expect(edgeWork.every((a) => a.outcome === 'completed')).toBe(true);
    const recorded = (['steer-away', 'steer-back', 'steer-back-stopped', 'edge-restore', 'mirror'] as const).flatMap((action) => auditDataOf(status, action).filter((d) => d.edge === 'eu'));
    expect(recorded.length, 'each change on the edge has its audit entry').toBe(keys.length);
    expect(keys.length).toBeGreaterThanOrEqual(2);
    expect(ran.some((a) => a.key?.startsWith(`${id}/edge/us/`)), 'the us edge was never changed').toBe(false);

    // Envoy took every resource file of the eu edge once per change: the retry rewrote nothing.
    const [euUpdatesAfter, usUpdatesAfter] = await Promise.all([updates(eu), updates(us)]);
    const taken = Object.fromEntries(Object.keys(euUpdatesAfter).map((f) => [f, euUpdatesAfter[f]!.success - euUpdatesBefore[f]!.success]));
    expect(taken, 'updates Envoy took per file').toEqual(Object.fromEntries(Object.keys(taken).map((f) => [f, keys.length])));
    for (const f of Object.keys(euUpdatesAfter)) {
      expect(euUpdatesAfter[f]!.rejected, `${f} rejected`).toBe(euUpdatesBefore[f]!.rejected);
      expect(euUpdatesAfter[f]!.version, `${f} served at the end`).toBe(INITIAL_VERSION);
    }
    expect(usUpdatesAfter).toEqual(usUpdatesBefore);
    // Served in order, each version once: the pre-rollout one, every key, and the pre-rollout one restored.
    const writtenVersions = edgeWork.map((a) => (a.type === 'restoreEdge' ? euBefore.version : a.key!));
    expect(sampled).toEqual([euBefore.version, ...writtenVersions]);
    const dump = (await (await fetch(`${eu.provider.admin}/config_dump?resource=dynamic_route_configs`)).json()) as { configs: { version_info: string; route_config: { name: string } }[] };
    expect(dump.configs.find((c) => c.route_config.name === EDGE_ROUTE)?.version_info).toBe(INITIAL_VERSION);

    // The edges end exactly as they were before the rollout.
    const [euAfter, usAfter] = await Promise.all([driver.snapshot(eu), driver.snapshot(us)]);
    expect(euAfter.files).toEqual(euBefore.files);
    expect(euAfter.live, 'config_dump without version fields').toBe(euBefore.live);
    expect(usAfter.files).toEqual(usBefore.files);
    expect(usAfter.live).toBe(usBefore.live);
  }, 240_000);
});
