import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiException, AppsV1Api, AuthorizationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type V1Deployment } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probe } from '../../testbed/health';
import { DEFAULT_REGIONS, DEMO_NAMESPACE, readTestbed, startTestbed, type Testbed, testbedStatus } from '../../testbed/index';
import { portFree } from '../../lib/ports';
import { isAlive } from '../../testbed/process';
import { tempDir } from '../support/temp-dir';

// The first run on a machine builds the Kubernetes binaries (tens of minutes); later runs take seconds.
const FIRST_BUILD_MS = 60 * 60_000;

let dir: string;
let testbed: Testbed;

function client(context: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(testbed.kubeconfigPath);
  kc.setCurrentContext(context);
  return kc;
}

function deployment(name: string, replicas: number): V1Deployment {
  const labels = { app: name };
  return {
    metadata: { name, labels },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'meridian/demo:1.0.0' }] } },
    },
  };
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

async function status(err: Promise<unknown>): Promise<number | undefined> {
  try {
    await err;
    return undefined;
  } catch (e) {
    if (e instanceof ApiException) return e.code;
    throw e;
  }
}

beforeAll(async () => {
  dir = tempDir('meridian-testbed-');
  testbed = await startTestbed({ dir, log: (line) => console.log(`[testbed] ${line}`) });
  console.log(`[testbed] started ${testbed.clusters.length} clusters in ${(testbed.startupMs / 1000).toFixed(1)} s`);
}, FIRST_BUILD_MS);

afterAll(async () => {
  await testbed?.stop();
}, 60_000);

describe('test bed', () => {
  it('writes one kubeconfig with an admin context per region and the restricted context', () => {
    expect(Object.keys(testbed.contexts).sort()).toEqual([...DEFAULT_REGIONS].sort());
    expect(testbed.restrictedContext).toBe('eu-west-1-restricted');
    const kc = new KubeConfig();
    kc.loadFromFile(testbed.kubeconfigPath);
    expect(kc.getContexts().map((c) => c.name).sort()).toEqual([...DEFAULT_REGIONS, 'eu-west-1-restricted'].sort());
    expect(readFileSync(testbed.kubeconfigPath, 'utf8')).not.toContain(dir);
    expect(readTestbed(dir)?.kubeconfigPath).toBe(testbed.kubeconfigPath);
  });

  it('reports every process running and healthy, with its memory', async () => {
    const s = await testbedStatus(testbed);
    for (const cluster of s.clusters) {
      expect(cluster.processes.map((p) => p.component)).toEqual(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok']);
      for (const p of cluster.processes) {
        expect(p, `${cluster.name} ${p.component}`).toMatchObject({ running: true, healthy: true });
        expect(p.rssBytes).toBeGreaterThan(1024 * 1024);
      }
    }
    console.log(`[testbed] RSS total ${Math.round(s.rssBytes / 2 ** 20)} MiB`);
  });

  describe.each(DEFAULT_REGIONS)('%s', (region) => {
    it('answers /readyz with ok, on loopback only', async () => {
      const cluster = testbed.clusters.find((c) => c.name === region)!;
      expect(cluster.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const result = await probe(`${cluster.server}/readyz`, { ca: cluster.caFile, cert: cluster.adminCertFile, key: cluster.adminKeyFile });
      expect(result).toMatchObject({ ok: true, status: 200, body: 'ok' });
    });

    it('rolls a 2-replica Deployment out onto kwok nodes until 2 pods are available and Ready', async () => {
      const kc = client(testbed.contexts[region]);
      const apps = kc.makeApiClient(AppsV1Api);
      const core = kc.makeApiClient(CoreV1Api);
      const name = `web-${region}`;
      await apps.createNamespacedDeployment({ namespace: DEMO_NAMESPACE, body: deployment(name, 2) });
      const available = await until(`${region} deployment available`, async () => {
        const d = await apps.readNamespacedDeployment({ name, namespace: DEMO_NAMESPACE });
        return d.status?.availableReplicas === 2 ? d : undefined;
      });
      expect(available.status?.readyReplicas).toBe(2);
      const pods = await core.listNamespacedPod({ namespace: DEMO_NAMESPACE, labelSelector: `app=${name}` });
      const nodes = testbed.clusters.find((c) => c.name === region)!.nodes;
      expect(pods.items).toHaveLength(2);
      for (const pod of pods.items) {
        expect(pod.status?.phase).toBe('Running');
        expect(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
        expect(nodes).toContain(pod.spec?.nodeName);
      }
    });

    it('accepts an HTTPRoute with weighted backendRefs', async () => {
      const custom = client(testbed.contexts[region]).makeApiClient(CustomObjectsApi);
      const ref = { group: 'gateway.networking.k8s.io', version: 'v1', namespace: DEMO_NAMESPACE, plural: 'httproutes' };
      const backendRefs = [
        { name: 'web-stable', port: 80, weight: 90 },
        { name: 'web-canary', port: 80, weight: 10 },
      ];
      await custom.createNamespacedCustomObject({
        ...ref,
        body: {
          apiVersion: 'gateway.networking.k8s.io/v1',
          kind: 'HTTPRoute',
          metadata: { name: 'web' },
          spec: { parentRefs: [{ name: 'gateway' }], rules: [{ backendRefs }] },
        },
      });
      const route = await custom.getNamespacedCustomObject({ ...ref, name: 'web' });
      expect(route.spec.rules[0].backendRefs).toMatchObject(backendRefs);
    });
  });

  it('lets the restricted context get a deployment but not patch it', async () => {
    const admin = client(testbed.contexts['eu-west-1']).makeApiClient(AppsV1Api);
    await admin.createNamespacedDeployment({ namespace: DEMO_NAMESPACE, body: deployment('guarded', 1) });
    const kc = client(testbed.restrictedContext);
    const apps = kc.makeApiClient(AppsV1Api);
    const got = await apps.readNamespacedDeployment({ name: 'guarded', namespace: DEMO_NAMESPACE });
    expect(got.spec?.replicas).toBe(1);
    const patch = [{ op: 'replace', path: '/spec/replicas', value: 3 }];
    expect(await status(apps.patchNamespacedDeployment({ name: 'guarded', namespace: DEMO_NAMESPACE, body: patch }))).toBe(403);
    expect(await status(apps.readNamespacedDeployment({ name: 'guarded', namespace: 'default' }))).toBe(403);

    const authz = kc.makeApiClient(AuthorizationV1Api);
    const review = (verb: string) =>
      authz
        .createSelfSubjectAccessReview({
          body: { spec: { resourceAttributes: { group: 'apps', resource: 'deployments', namespace: DEMO_NAMESPACE, verb } } },
        })
        .then((r) => r.status?.allowed);
    expect(await review('get')).toBe(true);
    expect(await review('patch')).toBe(false);
    expect((await admin.readNamespacedDeployment({ name: 'guarded', namespace: DEMO_NAMESPACE })).spec?.replicas).toBe(1);
  });

  it('stops every process group, frees the ports and removes the data', async () => {
    const processes = testbed.clusters.flatMap((c) => c.processes);
    expect(processes).toHaveLength(DEFAULT_REGIONS.length * 5);
    await testbed.stop();
    for (const p of processes) {
      expect(isAlive(p.pid), `${p.component} pid ${p.pid}`).toBe(false);
      expect(() => process.kill(-p.pid, 0), `process group ${p.pid}`).toThrow();
      expect(await portFree(p.port), `${p.component} port ${p.port}`).toBe(true);
    }
    expect(existsSync(join(dir, 'clusters'))).toBe(false);
    expect(existsSync(join(dir, 'state.json'))).toBe(false);
    expect(readTestbed(dir)).toBeUndefined();
  });
});
