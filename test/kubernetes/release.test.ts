import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findObject, type KubeClient } from '../../activities/kubernetes/client';
import { CONTRACTS_DATA_KEY, paths, type Obj } from '../../activities/kubernetes/objects';
import type { RecordedContracts } from '../../domain/recorded-contracts';
import type { RolloutPlan } from '../../domain/plan';
import type { RolloutSpecInput } from '../../domain/spec';
import type { RolloutStatus } from '../../domain/status';
import { validateSpec } from '../../domain/validate';
import { startTestbed, type Testbed } from '../../testbed';
import { approveUpdate } from '../../workflows/definitions';
import type { StepInput } from '../support/spec';
import { tempDir } from '../support/temp-dir';
import { startTimeSkipping } from '../workflows/harness';
import { endedHow, withRollout, type RolloutRun } from '../workflows/support';
import { deployment, kube, service, uniqueNamespace, waitReady } from './support';

const REGIONS = ['eu-west-1', 'us-east-1', 'ap-south-1'];
const WAVES = [['eu-west-1'], ['us-east-1', 'ap-south-1']];
const SERVICES = ['orders', 'checkout'] as const;
type Service = (typeof SERVICES)[number];
const REPLICAS = 2;

const oldImage = (s: Service) => `registry.test/shop/${s}:1.0.0`;
const newImage = (s: Service) => `registry.test/shop/${s}@sha256:${(s === 'orders' ? '0a' : '0c').repeat(32)}`;
const metricOf = (s: Service) => `${s}_errors`;

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

const cluster = (region: string) => kube(tb, tb.contexts[region]!);

/** A contract version's files from a fixture folder of test/fixtures/contracts. */
function proto(folder: string): Record<string, string> {
  const dir = join(import.meta.dirname, '..', 'fixtures', 'contracts', folder);
  return Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
}

/** In every cluster: the namespace, and for each service a ready Deployment on its old image and its Service. Returns each stable Deployment as read once ready. */
async function seed(namespace: string): Promise<Record<string, Record<Service, Obj>>> {
  const before: Record<string, Record<Service, Obj>> = {};
  await Promise.all(
    REGIONS.map(async (region) => {
      const c = cluster(region);
      await c.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } });
      const ready = await Promise.all(
        SERVICES.map(async (s) => {
          await c.request('POST', `/apis/apps/v1/namespaces/${namespace}/deployments`, {
            body: {
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              metadata: { name: s, namespace, labels: { app: s } },
              spec: {
                replicas: REPLICAS,
                selector: { matchLabels: { app: s } },
                template: {
                  metadata: { labels: { app: s, tier: 'back' } },
                  spec: { containers: [{ name: 'app', image: oldImage(s), env: [{ name: 'MODE', value: 'stable' }], ports: [{ containerPort: 8080 }] }] },
                },
              },
            },
            query: { fieldManager: 'kubectl-create' },
          });
          await c.request('POST', `/api/v1/namespaces/${namespace}/services`, {
            body: { apiVersion: 'v1', kind: 'Service', metadata: { name: s, namespace }, spec: { selector: { app: s }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
          });
          return [s, await waitReady(c, namespace, s)] as const;
        }),
      );
      before[region] = Object.fromEntries(ready) as Record<Service, Obj>;
    }),
  );
  return before;
}

/**
 * orders then checkout (checkout's canary waits for orders' promotion) in every cluster, each on
 * its own Deployment with the replicas strategy; orders provides orders.v1 and checkout consumes
 * it, unchanged, so preflight's contract check passes. With `gates`, each service waits for an
 * approval at 50% so the test sees every phase.
 */
function releasePlan(namespace: string, opts: { gates: boolean; faults?: string[] }): RolloutPlan {
  const contract = proto('add-field/previous');
  const steps = (s: Service): StepInput[] => [
    { kind: 'setWeight', weight: 50 },
    ...(opts.gates ? [{ kind: 'approval', name: 'at-50' } as const] : []),
    { kind: 'analysis', metrics: [metricOf(s)], interval: '100ms', sustainedFor: '300ms', minSamples: 3 },
  ];
  const spec = {
    service: 'shop',
    version: '2026.12.1',
    regions: REGIONS.map((name) => ({ name })),
    waves: WAVES.map((regions, i) => ({ name: `wave-${i + 1}`, regions })),
    steps: [{ kind: 'setWeight', weight: 50 }],
    // No bake: the time-skipping test server at times rejects the completion of a stage cancelled
    // during its bake timer ("invalid history builder state for action") and the rollout hangs.
    bake: '0s',
    failurePolicy: 'rollback-all',
    simulation: { baseline: { orders_errors: 0.004, checkout_errors: 0.004 }, faults: opts.faults ?? [] },
    services: SERVICES.map((s) => ({
      name: s,
      version: '2.0.0',
      image: newImage(s),
      config: { MODE: 'canary' },
      steps: steps(s),
      metrics: [{ name: metricOf(s), provider: { type: 'simulated' }, max: 0.02 }],
      targets: Object.fromEntries(
        REGIONS.map((r) => [
          r,
          { kind: 'kubernetes', kubeconfig: tb.kubeconfigPath, context: tb.contexts[r]!, namespace, deployment: s, container: 'app', progressDeadline: '60s', traffic: { strategy: 'replicas' } },
        ]),
      ),
      ...(s === 'orders'
        ? { provides: [{ contract: 'orders.v1', kind: 'protobuf', files: contract, running: { files: contract } }] }
        : { dependsOn: [{ service: 'orders', until: 'promoted' }], consumes: [{ contract: 'orders.v1', files: contract }] }),
    })),
  } as unknown as RolloutSpecInput;
  const v = validateSpec(spec);
  if (!v.ok) throw new Error(v.problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return v.plan;
}

/** What one list of a cluster's Deployments says about each service: its stable image and replicas, its canary's replicas. */
interface Sample {
  region: string;
  at: number;
  stable: Record<Service, { image: string; replicas: number }>;
  /** The canary's desired replicas and ready replicas, the larger; undefined when there is no canary. */
  canary: Record<Service, number | undefined>;
}

const serving = (s: Sample, svc: Service) => (s.canary[svc] ?? 0) > 0 || (s.stable[svc].image === newImage(svc) && s.stable[svc].replicas > 0);
const promoted = (s: Sample, svc: Service) => s.stable[svc].image === newImage(svc);

/** The phase a sample shows, for counting that each was seen. */
function phaseOf(s: Sample): string {
  if (promoted(s, 'checkout') && s.canary.checkout === undefined && promoted(s, 'orders') && s.canary.orders === undefined) return 'both promoted';
  if ((s.canary.checkout ?? 0) > 0) return 'checkout canary';
  if (promoted(s, 'orders')) return 'orders promoted';
  if ((s.canary.orders ?? 0) > 0) return 'orders canary';
  return 'old';
}

/** Lists every cluster's Deployments in `namespace` every ~100 ms until stopped; `take` lists once more on demand. */
function sampleClusters(namespace: string) {
  const samples: Sample[] = [];
  const clients = Object.fromEntries(REGIONS.map((r) => [r, cluster(r)])) as Record<string, KubeClient>;
  const once = async (region: string) => {
    const list = await clients[region]!.request<{ items: Obj[] }>('GET', `/apis/apps/v1/namespaces/${namespace}/deployments`);
    const byName = new Map(list.items.map((d) => [d.metadata.name as string, d]));
    const stable = {} as Sample['stable'];
    const canary = {} as Sample['canary'];
    for (const svc of SERVICES) {
      const d = byName.get(svc)!;
      stable[svc] = { image: d.spec.template.spec.containers[0].image, replicas: Math.max(d.spec.replicas ?? 0, d.status?.readyReplicas ?? 0) };
      const c = byName.get(`${svc}-canary`);
      canary[svc] = c === undefined ? undefined : Math.max(c.spec.replicas ?? 0, c.status?.readyReplicas ?? 0);
    }
    samples.push({ region, at: Date.now(), stable, canary });
  };
  const take = () => Promise.all(REGIONS.map(once));
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await take();
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    samples,
    take,
    async stop() {
      stopped = true;
      await loop;
      await take();
    },
  };
}

/** Every sample where checkout's new version serves in a cluster whose orders is not promoted. */
function skewed(samples: Sample[]): Sample[] {
  return samples.filter((s) => serving(s, 'checkout') && !promoted(s, 'orders'));
}

const shown = (s: Sample) => `${s.region} at ${new Date(s.at).toISOString()}: ${JSON.stringify({ stable: s.stable, canary: s.canary })}`;

/**
 * Waits for each service's gate in each region, wave by wave, and approves it after one more
 * sample of the clusters, so every phase is sampled while it holds.
 */
async function approveEachGate(run: RolloutRun, take: () => Promise<unknown>): Promise<void> {
  for (const wave of WAVES) {
    for (const svc of SERVICES) {
      for (const region of wave) {
        await run.until((s) => s.pendingApprovals.some((p) => p.region === region && p.service === svc && p.gate === 'at-50'), `${svc} in ${region} at at-50`, 120_000);
        await take();
        await run.handle.executeUpdate(approveUpdate, { args: [{ region, service: svc, gate: 'at-50', by: 'reviewer' }] });
      }
    }
  }
}

async function recorded(c: KubeClient, ns: string, svc: Service): Promise<RecordedContracts | undefined> {
  const cm = await findObject(c, paths.configMap(ns, `${svc}-meridian-contracts`));
  return cm === undefined ? undefined : JSON.parse(cm.data[CONTRACTS_DATA_KEY]);
}

const undoServices = (status: RolloutStatus, region: string) => status.audit.filter((a) => a.action === 'undo' && a.region === region).map((a) => a.service);

describe('a release of orders and checkout over three clusters', () => {
  it('rolls out orders before checkout in every cluster, never serving the new checkout beside the old orders, and records the contracts', async () => {
    const ns = uniqueNamespace('release');
    await seed(ns);
    const plan = releasePlan(ns, { gates: true });
    const sampler = sampleClusters(ns);
    try {
      await withRollout(env, plan, async (run) => {
        await approveEachGate(run, sampler.take);
        const { status, failure } = await run.end();
        expect(status.phase, endedHow(status, failure)).toBe('Succeeded');
        for (const r of status.regions) expect(r.services!.map((s) => [s.service, s.phase])).toEqual(SERVICES.map((s) => [s, 'Promoted']));
      });
    } finally {
      await sampler.stop();
    }
    expect(skewed(sampler.samples).map(shown)).toEqual([]);
    for (const region of REGIONS) {
      const phases = new Set(sampler.samples.filter((s) => s.region === region).map(phaseOf));
      for (const phase of ['orders canary', 'checkout canary', 'both promoted']) expect(phases.has(phase), `${region}: a sample in phase "${phase}" (saw ${[...phases].join(', ')})`).toBe(true);
    }

    for (const region of REGIONS) {
      const c = cluster(region);
      for (const svc of SERVICES) {
        const stable = (await deployment(c, ns, svc))!;
        expect(stable.spec.template.spec.containers[0].image, `${region} ${svc}`).toBe(newImage(svc));
        expect(stable.spec.template.spec.containers[0].env, `${region} ${svc}`).toEqual([{ name: 'MODE', value: 'canary' }]);
        expect(stable.spec.replicas, `${region} ${svc}`).toBe(REPLICAS);
        expect(await deployment(c, ns, `${svc}-canary`), `${region} ${svc} canary removed`).toBeUndefined();
        const record = await recorded(c, ns, svc);
        expect(record, `${region}: ConfigMap ${svc}-meridian-contracts`).toMatchObject({ service: svc, region, version: '2.0.0', image: newImage(svc) });
        if (svc === 'orders') expect(record!.provides.map((p) => p.contract)).toEqual(['orders.v1']);
        else expect(record!.consumes.map((p) => p.contract)).toEqual(['orders.v1']);
      }
    }
  }, 600_000);

  it('a breach in checkout\'s canary in wave 2 restores both Deployments in every touched cluster exactly, checkout before orders', async () => {
    const ns = uniqueNamespace('release-breach');
    const before = await seed(ns);
    const plan = releasePlan(ns, { gates: false, faults: ['checkout/us-east-1: checkout_errors 0.3 when weight >= 50'] });
    const sampler = sampleClusters(ns);
    let status!: RolloutStatus;
    try {
      await withRollout(env, plan, async (run) => {
        const end = await run.end();
        status = end.status;
        expect(end.failure, endedHow(status)).toBeDefined();
        expect(status.phase, endedHow(status, end.failure)).toBe('RolledBack');
      });
    } finally {
      await sampler.stop();
    }
    expect(status.audit.find((a) => a.action === 'service-failed')).toMatchObject({ region: 'us-east-1', service: 'checkout' });
    expect(status.audit.find((a) => a.action === 'analysis-failed' && a.service === 'checkout')?.data).toMatchObject({ metric: 'checkout_errors', value: 0.3 });

    // Touched: a sample of the cluster shows some change; wave 1 was promoted and wave 2 had started.
    const touched = REGIONS.filter((r) => sampler.samples.some((s) => s.region === r && phaseOf(s) !== 'old'));
    expect(touched).toEqual(expect.arrayContaining(['eu-west-1', 'us-east-1']));
    for (const region of touched) {
      expect(status.regions.find((r) => r.name === region)?.phase, region).toBe('RolledBack');
      // Consecutive undos of one service collapsed: every undo of checkout comes before any of orders.
      const order = undoServices(status, region).filter((s, i, all) => s !== all[i - 1]);
      expect(order, `${region} undo order`).toEqual(order.includes('checkout') ? ['checkout', 'orders'] : ['orders']);
    }
    for (const region of ['eu-west-1', 'us-east-1']) expect(undoServices(status, region), `${region} undoes checkout`).toContain('checkout');
    expect(skewed(sampler.samples).map(shown)).toEqual([]);
    expect(sampler.samples.some((s) => s.region === 'us-east-1' && phaseOf(s) === 'checkout canary'), 'us-east-1 sampled with checkout\'s canary').toBe(true);

    for (const region of REGIONS) {
      const c = cluster(region);
      for (const svc of SERVICES) {
        const stable = (await deployment(c, ns, svc))!;
        expect(stable.spec.template, `${region} ${svc} template equals the one before`).toEqual(before[region]![svc].spec.template);
        expect(stable.spec.replicas, `${region} ${svc} replicas`).toBe(before[region]![svc].spec.replicas);
        expect(await deployment(c, ns, `${svc}-canary`), `${region} ${svc} canary removed`).toBeUndefined();
        expect(await service(c, ns, svc), `${region} ${svc} Service kept`).toBeDefined();
        expect(await recorded(c, ns, svc), `${region}: nothing recorded for ${svc}`).toBeUndefined();
      }
    }
  }, 600_000);
});
