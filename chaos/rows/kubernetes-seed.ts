import { clientFor, findObject, KubeError, type KubeClient } from '../../activities/kubernetes/client';
import { paths, type Obj } from '../../activities/kubernetes/objects';
import type { TestbedState } from '../../testbed/index';
import { OLD_IMAGE, REPLICAS } from './kubernetes-scenarios';

/** R4's clients and objects: the test bed's clusters reached directly, never through the proxy. */

export function directClient(tb: TestbedState, region: string): KubeClient {
  return clientFor({ kubeconfig: tb.kubeconfigPath, context: tb.contexts[region]! });
}

/** What a region held before its rollout: the stable Deployment once ready, and the route's rules. */
export interface Seeded {
  deployment: Obj;
  routeRules: Obj[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ignoreExists(err: unknown): void {
  if (!(err instanceof KubeError && err.status === 409)) throw err;
}

/** A namespace with a ready `web` Deployment (four pods of OLD_IMAGE), its Service and an HTTPRoute to it. */
export async function seedRegion(c: KubeClient, namespace: string): Promise<Seeded> {
  await c.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } }).catch(ignoreExists);
  const labels = { app: 'web' };
  await c.request('POST', `/apis/apps/v1/namespaces/${namespace}/deployments`, {
    body: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace, labels },
      spec: {
        replicas: REPLICAS,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels: { ...labels, tier: 'front' } },
          spec: { containers: [{ name: 'app', image: OLD_IMAGE, env: [{ name: 'MODE', value: 'stable' }], ports: [{ containerPort: 8080 }] }] },
        },
      },
    },
    query: { fieldManager: 'kubectl-create' },
  });
  await c.request('POST', `/api/v1/namespaces/${namespace}/services`, {
    body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace }, spec: { selector: labels, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
  });
  const route = await c.request('POST', `/apis/gateway.networking.k8s.io/v1/namespaces/${namespace}/httproutes`, {
    body: {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'web', namespace },
      spec: { parentRefs: [{ name: 'edge' }], rules: [{ backendRefs: [{ name: 'web', port: 80 }] }] },
    },
  });
  return { deployment: await waitReady(c, namespace, 'web'), routeRules: route.spec.rules };
}

/** The Deployment once every one of its pods runs its current template. */
export async function waitReady(c: KubeClient, namespace: string, name: string, timeoutMs = 120_000): Promise<Obj> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await findObject(c, paths.deployment(namespace, name));
    const s = d?.status ?? {};
    if (d && s.observedGeneration >= d.metadata.generation && s.availableReplicas === d.spec.replicas && s.updatedReplicas === d.spec.replicas && s.replicas === d.spec.replicas) return d;
    if (Date.now() > deadline) throw new Error(`Deployment ${namespace}/${name} was not ready within ${timeoutMs / 1000} s: ${JSON.stringify(s)}`);
    await sleep(250);
  }
}
