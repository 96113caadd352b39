import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SimulatedFleet } from '../../activities/fleet';
import { clientFor } from '../../activities/kubernetes/client';
import { paths } from '../../activities/kubernetes/objects';
import { DEMO_FLEET_FILE } from '../../cli/demo';
import { DEMO_FLAGS_DIR, DEMO_FLAGS_REPORT, FLAGD_POLL_MS, initialFlagFile, type FlagsReport } from '../../cli/demo-flags';
import type { FlagSpec } from '../../domain/flags';
import { DEMO_NAMESPACE, readTestbed, stopTestbed } from '../../testbed';
import { RolloutClient } from '../../client/rollout-client';
import { startDevServer } from '../../worker/dev-server';
import { auditDataOf, regionOf } from '../support/status';
import { freePort } from '../support/processes';
import { tempDir } from '../support/temp-dir';

const ROOT = join(import.meta.dirname, '..', '..');
const NEW = 'registry.example.com/shop/checkout@sha256:4f1c9a3b2e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b';
const OLD = 'registry.example.com/shop/checkout:2.3.1';
const REGIONS = ['eu-west-1', 'us-east-1', 'eu-central-1', 'ap-south-1', 'ap-northeast-1'];
/** What `temporal server start-dev` prints about itself on start. */
const DEV_SERVER_BANNER = /^(Temporal CLI \d|Temporal (Server|Persistence|Metrics): |Temporal UI: {2,})/m;
/** What the workflow bundler reports on a cold bundle: the SDK logger's stamp, then webpack's summary. */
const BUNDLER_OUTPUT = /^(\S+ \[(TRACE|DEBUG|INFO|WARN|ERROR)\] |asset workflow-bundle|runtime modules |modules by path |optional modules |webpack \d+\.\d+\.\d+ compiled)|Workflow bundle created/m;

/** The seconds of the day of every live line (`12:00:03Z ...`), in the order printed. */
function liveTimes(out: string): number[] {
  return [...out.matchAll(/^(\d\d):(\d\d):(\d\d)Z /gm)].map(([, h, m, sec]) => Number(h) * 3600 + Number(m) * 60 + Number(sec));
}

/** Lines printed before an earlier one's time; a run across midnight may go back once, to 00:00. */
function outOfOrder(times: number[]): [number, number][] {
  return times.flatMap((t, i) => (i > 0 && t < times[i - 1]! && !(times[i - 1]! > 86_000 && t < 400) ? [[times[i - 1]!, t] as [number, number]] : []));
}


/** `npm run demo` as CI runs it: no TTY, CI set; on its own fresh server unless `at` names the ports of one to reuse. */
async function demo(extra: string[], env: Record<string, string> = {}, at?: { port: number; uiPort: number }): Promise<{ code: number | null; out: string; uiPort: number }> {
  const port = at?.port ?? (await freePort());
  const uiPort = at?.uiPort ?? (await freePort());
  const db = join(tempDir('meridian-demo-'), 'temporal.db');
  const args = ['bin/meridian.js', 'demo', '--port', String(port), '--ui-port', String(uiPort), '--db-file', db, ...extra];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, CI: 'true', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => resolve({ code, out, uiPort }));
  });
}

describe('npm run demo', () => {
  it('rolls back us-east-1, eu-central-1 and the promoted eu-west-1 after the scripted fault, and exits 0', async () => {
    // A fresh machine's first run: no workflow bundle yet, so the worker bundles with webpack.
    const bundles = tempDir('meridian-demo-bundles-');
    const { code, out, uiPort } = await demo([], { MERIDIAN_BUNDLE_DIR: bundles });
    expect(code, out).toBe(0);
    expect(out).not.toMatch(/\x1b\[/);
    expect(out).not.toMatch(DEV_SERVER_BANNER);
    expect(out).not.toMatch(BUNDLER_OUTPUT);
    // It did bundle, and webpack's report went to the bundle's log file instead.
    const files = readdirSync(bundles).sort();
    expect(files.map((f) => f.replace(/\.[0-9a-f]{16}(\.fc-[0-9a-f]{8})?\./, '.<hash>.'))).toEqual(['workflow-bundle.<hash>.js', 'workflow-bundle.<hash>.js.log']);
    expect(readFileSync(join(bundles, files[1]!), 'utf8')).toMatch(BUNDLER_OUTPUT);
    expect(liveTimes(out).length, out).toBeGreaterThan(20);
    expect(outOfOrder(liveTimes(out)), out).toEqual([]);
    expect(out).toMatch(new RegExp(`Temporal UI: http://localhost:${uiPort}/namespaces/default/workflows/rollout%2Fcheckout%2F2\\.4\\.0-demo-\\d{8}T\\d{6}`));
    expect(out).toMatch(/scraped every 1s by Prometheus at http:\/\/127\.0\.0\.1:\d+/);
    expect(out).toMatch(/us-east-1 analysis-failed: us-east-1 failed analysis at (25|50)%: error_rate 0\.\d+ > max 0\.02/);
    expect(out).toMatch(/rolled back: +eu-west-1, us-east-1, eu-central-1/);
    expect(out).toMatch(/not changed: +ap-south-1, ap-northeast-1/);
    const fleet = new SimulatedFleet(join(ROOT, DEMO_FLEET_FILE));
    for (const name of REGIONS) {
      const r = fleet.region('checkout', name)!;
      expect({ image: r.stable.image, canary: r.canary, weight: r.weight }, name).toEqual({ image: OLD, canary: null, weight: 0 });
    }
  });

  it('--no-fault --simulated-metrics promotes every region on the simulated fleet\'s metrics and exits 0', async () => {
    const { code, out } = await demo(['--no-fault', '--simulated-metrics']);
    expect(code, out).toBe(0);
    expect(out).not.toMatch(DEV_SERVER_BANNER);
    expect(outOfOrder(liveTimes(out)), out).toEqual([]);
    expect(out).not.toMatch(/Prometheus at/);
    expect(out).toMatch(/ended Succeeded/);
    const fleet = new SimulatedFleet(join(ROOT, DEMO_FLEET_FILE));
    for (const name of REGIONS) {
      const r = fleet.region('checkout', name)!;
      expect({ image: r.stable.image, canary: r.canary, weight: r.weight }, name).toEqual({ image: NEW, canary: null, weight: 100 });
    }
  });

  it('--release rolls orders and checkout back in every touched region, checkout first, and exits 0', async () => {
    const { code, out } = await demo(['--release']);
    expect(code, out).toBe(0);
    expect(outOfOrder(liveTimes(out)), out).toEqual([]);
    expect(out).toMatch(/us-east-1 checkout analysis-failed: us-east-1 failed analysis at 50%: checkout_errors 0\.09 > max 0\.02/);
    expect(out).toMatch(/eu-west-1 checkout service-start: checkout starts in eu-west-1 now that orders is promoted here/);
    for (const region of ['eu-west-1', 'us-east-1']) {
      const undone = [...out.matchAll(new RegExp(`^\\d\\d:\\d\\d:\\d\\dZ ${region} (orders|checkout) undo: `, 'gm'))].map((m) => m[1]);
      expect(undone, `${region} undo order`).toEqual(['checkout', 'checkout', 'orders', 'orders']);
    }
    const fleet = new SimulatedFleet(join(ROOT, DEMO_FLEET_FILE));
    for (const service of ['orders', 'checkout']) {
      for (const name of ['eu-west-1', 'us-east-1', 'ap-south-1']) {
        const r = fleet.region(service, name)!;
        expect({ image: r.stable.image, canary: r.canary, weight: r.weight }, `${service} ${name}`).toEqual({ image: `registry.example.com/shop/${service}:previous`, canary: null, weight: 0 });
      }
    }
  });

  it('--edges drains us-east-1\'s share of the us edge to us-west-2 while the rollback runs, and leaves both edges at their normal shares', async () => {
    // A server of the test's own, which the demo reuses, so the ended rollout can be read afterwards.
    const dir = tempDir('meridian-demo-edges-');
    const [port, uiPort] = [await freePort(), await freePort()];
    const server = await startDevServer({ port, uiPort, inMemory: true, logFile: join(dir, 'server.log') });
    try {
      const { code, out } = await demo(['--edges'], {}, { port, uiPort });
      expect(code, out).toBe(0);
      expect(outOfOrder(liveTimes(out)), out).toEqual([]);
      const id = /^started (rollout\/checkout\/2\.4\.0-demo-\d{8}T\d{6})$/m.exec(out)?.[1];
      expect(id, out).toBeDefined();
      const status = await new RolloutClient(server.client, { namespace: server.namespace }).status(id!);

      expect(status.phase).toBe('RolledBack');
      expect(['eu-west-1', 'us-east-1', 'eu-central-1'].map((r) => regionOf(status, r).phase)).toEqual(['RolledBack', 'RolledBack', 'RolledBack']);
      expect(regionOf(status, 'us-west-2').phase).not.toBe('RolledBack');
      expect(out).toMatch(/not changed: +us-west-2$/m);

      const away = auditDataOf(status, 'steer-away');
      expect(away.map((a) => [a.edge, a.region, a.after?.shares])).toEqual([['us', 'us-east-1', { 'us-east-1': 0, 'us-west-2': 100 }]]);
      expect(auditDataOf(status, 'steer-held'), 'no drain was held').toEqual([]);
      expect(auditDataOf(status, 'steer-back').map((b) => [b.edge, b.region, b.percent, b.after?.shares])).toEqual([
        ['us', 'us-east-1', 50, { 'us-east-1': 25, 'us-west-2': 75 }],
        ['us', 'us-east-1', 100, { 'us-east-1': 50, 'us-west-2': 50 }],
      ]);
      // The mirror step copied us-east-1's traffic at the us edge only, and the drain stopped it.
      expect(auditDataOf(status, 'mirror').map((m) => [m.edge, m.region, m.percent])).toEqual([['us', 'us-east-1', 50]]);
      expect(away[0]!.after?.mirrors ?? {}).toEqual({});

      const snapshots = Object.fromEntries(auditDataOf(status, 'edge-snapshot').map((s) => [s.edge, s]));
      expect(Object.keys(snapshots).sort()).toEqual(['eu', 'us']);
      expect(status.audit.filter((a) => a.data?.edge === 'eu').map((a) => a.action), 'the eu edge was only recorded, never changed').toEqual(['edge-snapshot']);
      for (const edge of status.edges ?? []) {
        expect(edge.shares, `edge ${edge.name} at its normal shares`).toEqual(edge.normal);
        expect({ drained: edge.drained, mirrors: edge.mirrors, version: edge.version }, edge.name).toEqual({ drained: [], mirrors: {}, version: snapshots[edge.name]!.version });
      }
      expect(status.edges?.map((e) => [e.name, e.shares])).toEqual([
        ['eu', { 'eu-west-1': 50, 'eu-central-1': 50 }],
        ['us', { 'us-east-1': 50, 'us-west-2': 50 }],
      ]);

      // The demo's own summary, from the traffic it sent through the edges.
      expect(out).toMatch(/^ {4}us-east-1 served nothing through it for \d+\.\ds \(.*\); us-west-2 served [1-9]\d* in that time$/m);
      expect(out).toMatch(/^ {2}us-east-1's canary served [1-9]\d* mirrored copies through the edges and 0 answers to users$/m);
      expect(out).toMatch(/^ {4}served through it: eu-central-1 [1-9]\d*, eu-west-1 [1-9]\d* requests; all answered 200$/m);
      expect(out).toMatch(/^ {4}served through it: us-east-1 [1-9]\d*, us-west-2 [1-9]\d* requests; all answered 200$/m);
      expect(out).not.toMatch(/NOT as expected/);
      const fleet = new SimulatedFleet(join(ROOT, DEMO_FLEET_FILE));
      for (const name of ['eu-west-1', 'us-east-1', 'eu-central-1', 'us-west-2']) {
        const r = fleet.region('checkout', name)!;
        expect({ image: r.stable.image, canary: r.canary, weight: r.weight }, name).toEqual({ image: OLD, canary: null, weight: 0 });
      }
    } finally {
      await server.stop();
    }
  });

  it('--flags breaks us-east-1 behind its flag, throws every touched region\'s kill switch first, and leaves each flag file as it was', async () => {
    const dir = tempDir('meridian-demo-flags-');
    const [port, uiPort] = [await freePort(), await freePort()];
    const server = await startDevServer({ port, uiPort, inMemory: true, logFile: join(dir, 'server.log') });
    try {
      const { code, out } = await demo(['--flags'], {}, { port, uiPort });
      expect(code, out).toBe(0);
      expect(outOfOrder(liveTimes(out)), out).toEqual([]);
      expect(out).not.toMatch(/NOT as expected/);
      const id = /^started (rollout\/checkout\/2\.4\.0-demo-\d{8}T\d{6})$/m.exec(out)?.[1];
      expect(id, out).toBeDefined();
      const status = await new RolloutClient(server.client, { namespace: server.namespace }).status(id!);

      expect(status.phase).toBe('RolledBack');
      expect(['eu-west-1', 'us-east-1', 'ap-south-1'].map((r) => regionOf(status, r).phase)).toEqual(['RolledBack', 'RolledBack', 'Cancelled']);
      // The breach is us-east-1's, on real metrics, with the flag on for 10% of its users.
      const failed = auditDataOf(status, 'analysis-failed', 'us-east-1');
      expect(failed.map((f) => f.metric)).toEqual(['error_rate']);
      expect(auditDataOf(status, 'flag', 'us-east-1').map((d) => [d.variant, d.fraction])).toEqual([['on', 10]]);
      expect(auditDataOf(status, 'flag', 'eu-west-1').map((d) => [d.fraction, d.requested, d.maxFraction])).toEqual([[10, undefined, undefined], [20, 50, 20]]);

      // The kill switches first: in the saga's plan, and in what the rollback did.
      const planned = status.compensation.map((r) => [r.undo.region, r.undo.kind]);
      expect(planned.slice(0, 2).map(([, kind]) => kind)).toEqual(['killSwitch', 'killSwitch']);
      expect(new Set(planned.slice(0, 2).map(([region]) => region))).toEqual(new Set(['eu-west-1', 'us-east-1']));
      expect(planned.slice(2).map(([, kind]) => kind)).not.toContain('killSwitch');
      const undone = status.audit.flatMap((a) => (['undo', 'undo-failed', 'traffic-cut'].includes(a.action) ? [[a.region, a.action === 'traffic-cut' ? 'traffic-cut' : a.data?.undo]] : []));
      expect(undone.slice(0, 2).map(([, kind]) => kind)).toEqual(['killSwitch', 'killSwitch']);
      expect(new Set(undone.slice(0, 2).map(([region]) => region))).toEqual(new Set(['eu-west-1', 'us-east-1']));
      for (const region of ['eu-west-1', 'us-east-1']) expect(undone.find(([r]) => r === region)?.[1], region).toBe('killSwitch');
      // The instant kill switches say how long their provider took.
      expect(auditDataOf(status, 'undo').filter((d) => d.undo === 'killSwitch').slice(0, 2).map((d) => typeof d.tookMs)).toEqual(['number', 'number']);

      // Every flag file is again byte for byte what it was, and its flag what the snapshot recorded.
      const flag = status.compensation.find((r) => r.undo.kind === 'killSwitch')!.undo as { flag: FlagSpec };
      for (const region of ['eu-west-1', 'us-east-1', 'ap-south-1']) {
        const text = readFileSync(join(ROOT, DEMO_FLAGS_DIR, `checkout-${region}.json`), 'utf8');
        expect(text, region).toBe(initialFlagFile(flag.flag));
        const snapshot = status.compensation.find((r) => r.undo.kind === 'restoreFlag' && r.undo.region === region)?.undo;
        if (snapshot?.kind === 'restoreFlag') expect(JSON.parse(text).flags['checkout-new-path'], region).toEqual(snapshot.snapshot.definition);
        else expect(region).toBe('ap-south-1');
      }

      // What the services counted: the new path before the breach, none once the kill switch was in effect.
      const report = JSON.parse(readFileSync(join(ROOT, DEMO_FLAGS_DIR, DEMO_FLAGS_REPORT), 'utf8')) as FlagsReport;
      const of = (region: string) => report.regions.find((r) => r.region === region)!;
      const share = (c?: { newPath: number; all: number }) => (c && c.all > 0 ? c.newPath / c.all : NaN);
      expect(share(of('us-east-1').beforeBreach)).toBeGreaterThan(0.05);
      expect(share(of('us-east-1').beforeBreach)).toBeLessThan(0.15);
      expect(share(of('eu-west-1').beforeBreach)).toBeGreaterThan(0.15);
      expect(share(of('eu-west-1').beforeBreach)).toBeLessThan(0.25);
      for (const region of ['eu-west-1', 'us-east-1']) {
        const r = of(region);
        expect(r.afterKillSwitch, region).toMatchObject({ newPath: 0 });
        expect(r.afterKillSwitch!.all, region).toBeGreaterThan(100);
        expect(Date.parse(r.newPathLastAt!) - Date.parse(r.killSwitchAt!), region).toBeLessThanOrEqual(FLAGD_POLL_MS + 2_000);
        expect(r.fileAsBefore, region).toBe(true);
      }
      expect(of('ap-south-1').total.newPath).toBe(0);
      expect(of('ap-south-1').total.all).toBeGreaterThan(0);
      expect(out).toMatch(/^ {2}first undo: the kill switch of checkout-new-path \(off for everyone\), in 2 regions at once, before anything else$/m);

      const fleet = new SimulatedFleet(join(ROOT, DEMO_FLEET_FILE));
      for (const name of ['eu-west-1', 'us-east-1', 'ap-south-1']) {
        const r = fleet.region('checkout', name)!;
        expect({ image: r.stable.image, canary: r.canary, weight: r.weight }, name).toEqual({ image: OLD, canary: null, weight: 0 });
      }
    } finally {
      await server.stop();
    }
  }, 300_000);

  it('--kubernetes runs the demo on the local test bed and rolls the clusters back to what they ran', async () => {
    const dir = tempDir('meridian-demo-testbed-');
    try {
      const { code, out } = await demo(['--kubernetes'], { MERIDIAN_TESTBED_DIR: dir });
      expect(code, out).toBe(0);
      expect(out).toMatch(/over 3 Kubernetes clusters of the local test bed/);
      expect(out).toMatch(/rolled back: +eu-west-1, us-east-1/);
      expect(out).toMatch(/not changed: +ap-south-1/);
      const tb = readTestbed(dir)!;
      for (const region of ['eu-west-1', 'us-east-1', 'ap-south-1']) {
        const c = clientFor({ kubeconfig: tb.kubeconfigPath, context: tb.contexts[region]! });
        const stable = await c.request('GET', paths.deployment(DEMO_NAMESPACE, 'checkout'));
        expect(stable.spec.template.spec.containers[0].image, region).toBe(OLD);
        expect(stable.status.availableReplicas, region).toBe(stable.spec.replicas);
        const canary = await c.request('GET', paths.deployment(DEMO_NAMESPACE, 'checkout-canary')).catch((err) => err.status);
        expect(canary, `${region} canary`).toBe(404);
      }
    } finally {
      await stopTestbed(dir);
    }
  }, 900_000);
});
