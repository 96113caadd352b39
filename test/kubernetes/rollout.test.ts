import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientFor } from '../../activities/kubernetes/client';
import { paths } from '../../activities/kubernetes/objects';
import type { RolloutStatus } from '../../domain/status';
import { DEMO_NAMESPACE, READY_DELAY_ANNOTATION, startTestbed, type Testbed } from '../../testbed';
import { startDevServer, type DevServer } from '../../worker/dev-server';
import { abortUpdate, approveUpdate, regionWorkflowId, resumeUpdate, statusQuery } from '../../workflows/definitions';
import { freePort, ROOT, startWorkerProcess } from '../support/processes';
import { startTimeSkipping } from '../workflows/harness';
import { withRollout, type RolloutRun } from '../workflows/support';
import { deployment, kube, kubePlan, NEW_IMAGE, OLD_IMAGE, regionState, REPLICAS, seedWeb, service, uniqueNamespace } from './support';
import { specInput } from '../support/spec';
import { auditDataOf, auditOf, regionOf } from '../support/status';
import { tempDir } from '../support/temp-dir';

const REGIONS = ['eu-west-1', 'us-east-1', 'ap-south-1'];

const WAVES = [['eu-west-1'], ['us-east-1', 'ap-south-1']];

let tb: Testbed;
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  tb = await startTestbed({ dir: tempDir('meridian-testbed-'), log: (line) => console.log(`[testbed] ${line}`) });
  env = await startTimeSkipping();
}, 60 * 60_000);

afterAll(async () => {
  await env?.teardown();
  await tb?.stop();
}, 120_000);

const waitingAt = (region: string, gate: string) => (s: RolloutStatus) => s.pendingApprovals.some((p) => p.region === region && p.gate === gate);
const approve = (run: RolloutRun, region: string, gate: string) => run.handle.executeUpdate(approveUpdate, { args: [{ region, gate, by: 'reviewer' }] });

/** Walks every region through both gates, asserting what the cluster runs at each one. */
async function walk(run: RolloutRun, ns: string, strategy: 'replicas' | 'gatewayAPI') {
  for (const wave of WAVES) {
    for (const [gate, weight] of [['at-25', 25], ['at-50', 50]] as const) {
      for (const region of wave) {
        await run.until(waitingAt(region, gate), `${region} at ${gate}`, 120_000);
        const state = await regionState(kube(tb, tb.contexts[region]!), ns);
        expect(state.canaryImage, `${region} canary image at ${weight}%`).toBe(NEW_IMAGE);
        expect(state.stableImage, `${region} stable image at ${weight}%`).toBe(OLD_IMAGE);
        if (strategy === 'replicas') {
          // Argo Rollouts' rounding: 4 pods at 25% -> 1 canary + 3 stable; at 50% -> 2 + 2.
          expect({ canary: state.canaryReplicas, stable: state.stableReplicas }, `${region} at ${weight}%`).toEqual(
            weight === 25 ? { canary: 1, stable: 3 } : { canary: 2, stable: 2 },
          );
          // The route is not this strategy's: it keeps its single backend (weight defaulted to 1 by the API server).
          expect(state.routeWeights).toEqual({ web: 1 });
        } else {
          expect(state.routeWeights, `${region} route at ${weight}%`).toEqual({ web: 100 - weight, 'web-canary': weight });
          expect(state.stableReplicas).toBe(REPLICAS);
        }
      }
      for (const region of wave) await approve(run, region, gate);
    }
  }
}

describe.each(['replicas', 'gatewayAPI'] as const)('a rollout over three clusters with the %s strategy', (strategy) => {
  it('moves each region step by step and ends with the new image stable and no canary left', async () => {
    const ns = uniqueNamespace(strategy.toLowerCase());
    const { before } = await seedWeb(tb, REGIONS, ns);
    const plan = kubePlan(tb, ns, { strategy, waves: WAVES });
    await withRollout(env, plan, async (run) => {
      await walk(run, ns, strategy);
      const { status } = await run.end();
      expect(status.phase).toBe('Succeeded');
    });
    for (const region of REGIONS) {
      const c = kube(tb, tb.contexts[region]!);
      const stable = (await deployment(c, ns, 'web'))!;
      const app = stable.spec.template.spec.containers[0];
      expect(app.image, region).toBe(NEW_IMAGE);
      expect(app.env, region).toEqual([{ name: 'MODE', value: 'canary' }]);
      expect(stable.spec.replicas, region).toBe(REPLICAS);
      expect(stable.status.updatedReplicas, region).toBe(REPLICAS);
      expect(stable.spec.template.metadata.labels, region).toEqual(before[region]!.spec.template.metadata.labels);
      expect(await deployment(c, ns, 'web-canary'), `${region} canary removed`).toBeUndefined();
      expect(await service(c, ns, 'web-canary'), `${region} canary Service removed`).toBeUndefined();
      if (strategy === 'gatewayAPI') expect((await regionState(c, ns)).routeWeights).toEqual({ web: 1 });
    }
  }, 600_000);
});

describe('rollback', () => {
  it('returns the failing wave-2 region and the promoted wave-1 region to their snapshots exactly', async () => {
    const ns = uniqueNamespace('breach');
    const { before } = await seedWeb(tb, REGIONS, ns);
    const routesBefore = Object.fromEntries(
      await Promise.all(REGIONS.map(async (r) => [r, (await kube(tb, tb.contexts[r]!).request('GET', paths.route(ns, 'web'))).spec.rules])),
    );
    const plan = kubePlan(tb, ns, {
      strategy: 'gatewayAPI',
      waves: WAVES,
      overrides: {
        steps: [
          { kind: 'setWeight', weight: 25 },
          { kind: 'analysis', metrics: ['error_rate'], interval: '100ms', sustainedFor: '300ms', minSamples: 3 },
        ],
        simulation: { baseline: { error_rate: 0.004 }, faults: ['us-east-1: error_rate 0.3 when weight >= 25'] },
      },
    });
    await withRollout(env, plan, async (run) => {
      const { status, failure } = await run.end();
      expect(failure).toBeDefined();
      expect(status.phase).toBe('RolledBack');
      expect(regionOf(status, 'eu-west-1').snapshot?.kubernetes?.podTemplateHash).toMatch(/^[a-z0-9]+$/);
    });
    for (const region of REGIONS) {
      const c = kube(tb, tb.contexts[region]!);
      const stable = (await deployment(c, ns, 'web'))!;
      expect(stable.spec.template, `${region} template equals its snapshot`).toEqual(before[region]!.spec.template);
      expect(stable.spec.replicas, region).toBe(REPLICAS);
      expect(await deployment(c, ns, 'web-canary'), `${region} canary removed`).toBeUndefined();
      expect(await service(c, ns, 'web-canary'), `${region} canary Service removed`).toBeUndefined();
      expect((await c.request('GET', paths.route(ns, 'web'))).spec.rules, `${region} route rules`).toEqual(routesBefore[region]);
    }
  }, 600_000);
});

describe('drift', () => {
  it('pauses the region when someone edits the stable Deployment, names the change and its author, and goes on after resume', async () => {
    const ns = uniqueNamespace('drift');
    await seedWeb(tb, ['eu-west-1'], ns);
    const plan = kubePlan(tb, ns, { strategy: 'replicas', waves: [['eu-west-1']] });
    const c = kube(tb, tb.contexts['eu-west-1']!);
    await withRollout(env, plan, async (run) => {
      await run.until(waitingAt('eu-west-1', 'at-25'), 'gate at-25');
      await c.request('PATCH', paths.deployment(ns, 'web'), {
        contentType: 'application/strategic-merge-patch+json',
        query: { fieldManager: 'kubectl-edit' },
        body: { spec: { template: { spec: { containers: [{ name: 'app', env: [{ name: 'HOTFIX', value: '1' }] }] } } } },
      });
      await approve(run, 'eu-west-1', 'at-25');
      const paused = await run.until((s) => regionOf(s, 'eu-west-1').drift !== undefined, 'drift reported');
      const region = regionOf(paused, 'eu-west-1');
      expect(region.phase).toBe('Paused');
      expect(region.drift!.object).toBe(`Deployment ${ns}/web`);
      expect(region.drift!.changes).toEqual(['spec.template.spec.containers[app].env[HOTFIX]: added {"name":"HOTFIX","value":"1"}']);
      expect(region.drift!.by.map((b) => b.manager)).toContain('kubectl-edit');
      expect(auditDataOf(paused, 'drift', 'eu-west-1').flatMap((d) => d.by?.map((b) => b.manager) ?? [])).toContain('kubectl-edit');
      // Paused means paused: the weight stayed at 25% (1 of 4 pods) while the drift waits.
      expect((await regionState(c, ns)).canaryReplicas).toBe(1);

      await run.handle.executeUpdate(resumeUpdate, { args: [{ by: 'oncall', region: 'eu-west-1' }] });
      await run.until(waitingAt('eu-west-1', 'at-50'), 'gate at-50 after resume', 120_000);
      expect((await regionState(c, ns)).canaryReplicas).toBe(2);
      await approve(run, 'eu-west-1', 'at-50');
      const { status } = await run.end();
      expect(status.phase).toBe('Succeeded');
      expect(auditOf(status, 'drift-accepted', 'eu-west-1')).toMatchObject([{ actor: 'oncall' }]);
    });
    const stable = (await deployment(c, ns, 'web'))!;
    // The accepted hotfix survives the promotion.
    expect(stable.spec.template.spec.containers[0].env).toEqual(
      expect.arrayContaining([{ name: 'HOTFIX', value: '1' }, { name: 'MODE', value: 'canary' }]),
    );
    expect(stable.spec.template.spec.containers[0].image).toBe(NEW_IMAGE);
  }, 600_000);

  it('abort during a drift pause rolls the region back to its snapshot', async () => {
    const ns = uniqueNamespace('drift-abort');
    const { before } = await seedWeb(tb, ['eu-west-1'], ns);
    const plan = kubePlan(tb, ns, { strategy: 'gatewayAPI', waves: [['eu-west-1']] });
    const c = kube(tb, tb.contexts['eu-west-1']!);
    await withRollout(env, plan, async (run) => {
      await run.until(waitingAt('eu-west-1', 'at-25'), 'gate at-25');
      const r = await c.request('GET', paths.route(ns, 'web'));
      r.spec.rules[0].backendRefs = r.spec.rules[0].backendRefs.map((b: { name: string }) => ({ ...b, weight: b.name === 'web' ? 90 : 10 }));
      await c.request('PUT', paths.route(ns, 'web'), { body: r, query: { fieldManager: 'traffic-team' } });
      await approve(run, 'eu-west-1', 'at-25');
      const paused = await run.until((s) => regionOf(s, 'eu-west-1').drift !== undefined, 'route drift reported');
      expect(regionOf(paused, 'eu-west-1').drift!.changes).toEqual(
        expect.arrayContaining([expect.stringMatching(/^spec\.rules\[0\]\.backendRefs\[web\]\.weight: 75 -> 90$/)]),
      );
      expect(regionOf(paused, 'eu-west-1').drift!.by.map((b) => b.manager)).toContain('traffic-team');
      await run.handle.executeUpdate(abortUpdate, { args: [{ by: 'oncall', reason: 'traffic team is on it' }] });
      const { status } = await run.end();
      expect(status.phase).toBe('RolledBack');
    });
    expect((await deployment(c, ns, 'web'))!.spec.template).toEqual(before['eu-west-1']!.spec.template);
    expect(await deployment(c, ns, 'web-canary')).toBeUndefined();
  }, 600_000);
});

describe('a canary that never becomes ready', () => {
  it('fails its region with the Deployment\'s reason once the progress deadline passes, and rolls back', async () => {
    const ns = uniqueNamespace('stall');
    // Every pod of this service takes 30 s to become ready: the stable ones before the test starts, the canary's after the deadline.
    const { before } = await seedWeb(tb, ['eu-west-1'], ns, { [READY_DELAY_ANNOTATION]: '30s' });
    const plan = kubePlan(tb, ns, { strategy: 'gatewayAPI', waves: [['eu-west-1']] });
    plan.regions['eu-west-1']!.target = { ...plan.regions['eu-west-1']!.target, progressDeadline: 4_000 } as (typeof plan.regions)[string]['target'];
    const c = kube(tb, tb.contexts['eu-west-1']!);
    await withRollout(env, plan, async (run) => {
      const { status, failure } = await run.end();
      expect(failure).toBeDefined();
      expect(status.phase).toBe('RolledBack');
      expect(status.reason).toMatch(/eu-west-1 .*wait for Deployment web-canary to become ready: stalled: /);
      expect(status.reason).toMatch(/0\/1 available|timed out progressing/);
    });
    expect((await deployment(c, ns, 'web'))!.spec.template).toEqual(before['eu-west-1']!.spec.template);
    expect(await deployment(c, ns, 'web-canary')).toBeUndefined();
    expect((await regionState(c, ns)).routeWeights).toEqual({ web: 1 });
  }, 300_000);
});

describe('preflight', () => {
  it('fails on the restricted context with the region, context, namespace, resource and verb, and changes nothing anywhere', async () => {
    const ns = DEMO_NAMESPACE;
    const admin = (r: string) => kube(tb, tb.contexts[r]!);
    const { before } = await seedWeb(tb, REGIONS, ns).catch(async () => ({
      before: Object.fromEntries(await Promise.all(REGIONS.map(async (r) => [r, await deployment(admin(r), ns, 'web')]))),
    }));
    const plan = kubePlan(tb, ns, { strategy: 'replicas', waves: WAVES });
    plan.regions['eu-west-1']!.target = { ...plan.regions['eu-west-1']!.target, context: tb.restrictedContext } as typeof plan.regions[string]['target'];
    const restricted = clientFor({ kubeconfig: tb.kubeconfigPath, context: tb.restrictedContext });
    expect((await restricted.request('GET', paths.deployment(ns, 'web'))).metadata.name).toBe('web');
    await withRollout(env, plan, async (run) => {
      const { status, failure } = await run.end();
      expect(failure).toBeDefined();
      expect(status.phase).toBe('Failed');
      const reason = status.reason ?? '';
      expect(reason).toContain('eu-west-1');
      expect(reason).toContain(`context ${tb.restrictedContext}`);
      expect(reason).toContain(`namespace ${ns}`);
      expect(reason).toMatch(/may not patch deployments\.apps/);
      expect(status.regions.map((r) => [r.phase, r.snapshot])).toEqual(REGIONS.map(() => ['Cancelled', undefined]));
    });
    for (const region of REGIONS) {
      const now = (await deployment(admin(region), ns, 'web'))!;
      expect(now.metadata.resourceVersion, `${region} untouched`).toBe(before[region]!.metadata.resourceVersion);
      expect(await deployment(admin(region), ns, 'web-canary')).toBeUndefined();
    }
  }, 300_000);
});

describe('a worker killed between a canary apply and its readiness wait', () => {
  let server: DevServer;
  const workers: ChildProcess[] = [];
  afterAll(async () => {
    for (const w of workers) w.kill('SIGKILL');
    await server?.stop();
  });

  const startWorker = async (dir: string) => {
    const child = await startWorkerProcess({ address: server.address, fleetFile: join(dir, 'fleet.json') });
    workers.push(child);
    return child;
  };

  it('is replaced, and the new worker finishes the rollout without duplicate objects', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meridian-kube-kill-'));
    server = await startDevServer({ dbFile: join(dir, 'temporal.db'), port: await freePort(), uiPort: await freePort() });
    const ns = uniqueNamespace('kill');
    // kwok holds each pod's readiness this long, so the kill lands inside the readiness wait.
    await seedWeb(tb, ['eu-west-1'], ns, { [READY_DELAY_ANNOTATION]: '8s' });
    const c = kube(tb, tb.contexts['eu-west-1']!);
    const spec = specInput(
      {
        service: 'web',
        version: '2.0.0',
        image: NEW_IMAGE,
        steps: [{ kind: 'setWeight', weight: 25 }, { kind: 'setWeight', weight: 50 }],
        metrics: undefined,
        bake: undefined,
        simulation: undefined,
      },
      {
        waves: { 'wave-1': ['eu-west-1'] },
        region: () => ({ target: { kind: 'kubernetes', kubeconfig: tb.kubeconfigPath, context: tb.contexts['eu-west-1']!, namespace: ns, deployment: 'web', progressDeadline: '90s' } }),
      },
    );
    const specFile = join(dir, 'spec.yaml');
    writeFileSync(specFile, JSON.stringify(spec));
    let worker = await startWorker(dir);
    const started = spawnSync(process.execPath, ['bin/meridian.js', 'start', specFile, '--json', '--address', server.address], {
      cwd: ROOT,
      env: { ...process.env, CI: 'true' },
      encoding: 'utf8',
    });
    expect(started.status, started.stderr).toBe(0);
    const id = JSON.parse(started.stdout).id as string;

    // The canary has its first pod (weight 25%), not yet ready: the setWeight activity is waiting.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const canary = await deployment(c, ns, 'web-canary');
      if (canary?.spec.replicas === 1 && (canary.status?.availableReplicas ?? 0) === 0 && canary.status?.replicas === 1) break;
      if (Date.now() > deadline) throw new Error(`the canary never reached its first pod: ${JSON.stringify(canary?.status)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    worker.kill('SIGKILL');
    await new Promise((r) => worker.once('close', r));
    worker = await startWorker(dir);

    const client = new Client({ connection: await Connection.connect({ address: server.address }) });
    const handle = client.workflow.getHandle(id);
    const result = await handle.result().catch((err) => err);
    const status = (await handle.query(statusQuery)) as RolloutStatus;
    expect(status.phase, JSON.stringify(result)).toBe('Succeeded');

    const deployments = await c.request<{ items: { metadata: { name: string } }[] }>('GET', `/apis/apps/v1/namespaces/${ns}/deployments`);
    expect(deployments.items.map((d) => d.metadata.name)).toEqual(['web']);
    const stable = (await deployment(c, ns, 'web'))!;
    expect(stable.spec.template.spec.containers[0].image).toBe(NEW_IMAGE);
    expect(stable.status.availableReplicas).toBe(REPLICAS);
    // One canary ReplicaSet was ever made: a repeated apply changed nothing.
    const events = await c.request<{ items: { reason: string; message: string }[] }>('GET', `/api/v1/namespaces/${ns}/events`);
    const canarySets = events.items.filter((e) => e.reason === 'ScalingReplicaSet' && /web-canary-/.test(e.message)).map((e) => /web-canary-[a-z0-9]+/.exec(e.message)![0]);
    expect(new Set(canarySets).size).toBe(1);
    // The killed attempt shows in the region stage's history: the same setWeight ran again on the second worker.
    const history = await client.workflow.getHandle(regionWorkflowId(id, 'eu-west-1')).fetchHistory();
    const attempts = (history.events ?? []).flatMap((e) => (e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt] : []));
    expect(Math.max(...attempts.map(Number)), JSON.stringify(attempts)).toBeGreaterThan(1);
  }, 600_000);
});
