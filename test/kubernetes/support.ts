import { randomBytes } from 'node:crypto';
import { clientFor, findObject, KubeError, type KubeClient } from '../../activities/kubernetes/client';
import { paths, type Obj } from '../../activities/kubernetes/objects';
import type { RolloutPlan } from '../../domain/plan';
import type { RolloutSpecInput } from '../../domain/spec';
import type { Testbed } from '../../testbed';
import { FAST_ANALYSIS, testPlan } from '../support/spec';

export const OLD_IMAGE = 'registry.test/shop/web:1.0.0';
export const NEW_IMAGE = `registry.test/shop/web@sha256:${'cd'.repeat(32)}`;
export const REPLICAS = 4;

export function kube(tb: Testbed, context: string): KubeClient {
  return clientFor({ kubeconfig: tb.kubeconfigPath, context });
}

export function uniqueNamespace(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

export interface Seeded {
  /** Each region's stable Deployment as the API server returned it after it became ready. */
  before: Record<string, Obj>;
  namespace: string;
}

/**
 * In every cluster: a namespace with a ready `web` Deployment (4 replicas), its Service and an
 * HTTPRoute to that Service. `podAnnotations` go on the pod template (kwok reads readiness delays there).
 */
export async function seedWeb(tb: Testbed, regions: string[], namespace: string, podAnnotations: Record<string, string> = {}): Promise<Seeded> {
  const before: Record<string, Obj> = {};
  await Promise.all(
    regions.map(async (region) => {
      const c = kube(tb, tb.contexts[region]!);
      await c.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } }).catch(ignoreExists);
      await c.request('POST', `/apis/apps/v1/namespaces/${namespace}/deployments`, {
        body: {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'web', namespace, labels: { app: 'web' } },
          spec: {
            replicas: REPLICAS,
            selector: { matchLabels: { app: 'web' } },
            template: {
              metadata: { labels: { app: 'web', tier: 'front' }, annotations: podAnnotations },
              spec: { containers: [{ name: 'app', image: OLD_IMAGE, env: [{ name: 'MODE', value: 'stable' }], ports: [{ containerPort: 8080 }] }] },
            },
          },
        },
        query: { fieldManager: 'kubectl-create' },
      });
      await c.request('POST', `/api/v1/namespaces/${namespace}/services`, {
        body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
      });
      await c.request('POST', `/apis/gateway.networking.k8s.io/v1/namespaces/${namespace}/httproutes`, {
        body: {
          apiVersion: 'gateway.networking.k8s.io/v1',
          kind: 'HTTPRoute',
          metadata: { name: 'web', namespace },
          spec: { parentRefs: [{ name: 'edge' }], rules: [{ backendRefs: [{ name: 'web', port: 80 }] }] },
        },
      });
      before[region] = await waitReady(c, namespace, 'web');
    }),
  );
  return { before, namespace };
}

function ignoreExists(err: unknown) {
  if (!(err instanceof KubeError && err.status === 409)) throw err;
}


export const deployment = (c: KubeClient, ns: string, name: string) => findObject(c, paths.deployment(ns, name));
export const route = (c: KubeClient, ns: string) => findObject(c, paths.route(ns, 'web'));
export const service = (c: KubeClient, ns: string, name: string) => findObject(c, paths.service(ns, name));

export async function waitReady(c: KubeClient, ns: string, name: string, timeoutMs = 60_000): Promise<Obj> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await deployment(c, ns, name);
    const s = d?.status ?? {};
    if (d && s.observedGeneration >= d.metadata.generation && s.availableReplicas === d.spec.replicas && s.updatedReplicas === d.spec.replicas) return d;
    if (Date.now() > deadline) throw new Error(`${ns}/${name} not ready: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** What a test checks of a region at a step: the images running and the split. */
export async function regionState(c: KubeClient, ns: string) {
  const stable = await deployment(c, ns, 'web');
  const canary = await deployment(c, ns, 'web-canary');
  const r = await route(c, ns);
  const refs = (r?.spec?.rules?.[0]?.backendRefs ?? []) as Obj[];
  return {
    stableImage: stable?.spec.template.spec.containers[0].image as string,
    stableReplicas: stable?.spec.replicas as number,
    canaryImage: canary?.spec.template.spec.containers[0].image as string | undefined,
    canaryReplicas: canary?.spec.replicas as number | undefined,
    routeWeights: Object.fromEntries(refs.map((b) => [b.name, b.weight])),
  };
}

/** A plan over the test bed's clusters: `replicas` or `gatewayAPI` traffic, a gate after each weight so a test can look. */
export function kubePlan(tb: Testbed, namespace: string, opts: { strategy: 'replicas' | 'gatewayAPI'; waves: string[][]; overrides?: Partial<RolloutSpecInput> }): RolloutPlan {
  const traffic = opts.strategy === 'gatewayAPI' ? { strategy: 'gatewayAPI' as const, httpRoute: 'web', stableService: 'web' } : { strategy: 'replicas' as const };
  return testPlan(
    {
      service: 'web',
      version: '2.0.0',
      image: NEW_IMAGE,
      config: { MODE: 'canary' },
      steps: [
        { kind: 'setWeight', weight: 25 },
        { kind: 'approval', name: 'at-25' },
        FAST_ANALYSIS,
        { kind: 'setWeight', weight: 50 },
        { kind: 'approval', name: 'at-50' },
      ],
      bake: undefined,
      ...opts.overrides,
    },
    {
      waves: Object.fromEntries(opts.waves.map((regions, i) => [`wave-${i + 1}`, regions])),
      region: (name) => ({
        target: { kind: 'kubernetes', kubeconfig: tb.kubeconfigPath, context: tb.contexts[name]!, namespace, deployment: 'web', container: 'app', progressDeadline: '60s', traffic },
      }),
    },
  );
}
