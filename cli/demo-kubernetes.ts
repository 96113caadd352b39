import { clientFor, findObject, KubeError, type KubeClient } from '../activities/kubernetes/client';
import { ANNOTATION, canaryName, envConfig, paths, type Obj } from '../activities/kubernetes/objects';
import { waitForRollout } from '../activities/kubernetes/readiness';
import { DEMO_NAMESPACE, startTestbed } from '../testbed';
import type { RolloutPlan } from '../domain/plan';
import { kubernetesTarget, type KubernetesTarget } from '../domain/spec';
import type { FleetRegion } from './fleet-check';

const REPLICAS = 4;

/** What each region runs now, read from its cluster, in the shape the demo's checks compare. */
export type Observe = () => Promise<Record<string, FleetRegion | undefined>>;


async function create(c: KubeClient, path: string, body: Obj): Promise<void> {
  try {
    await c.request('POST', path, { body });
  } catch (err) {
    if (!(err instanceof KubeError && err.status === 409)) throw err;
  }
}

/**
 * The demo's service in one cluster at its old image: a Deployment, its Service and an HTTPRoute. A
 * Deployment left by an earlier run is put back to the old image, and any canary is removed.
 */
async function seed(c: KubeClient, target: KubernetesTarget, service: string, image: string): Promise<void> {
  const ns = target.namespace;
  const template = {
    metadata: { labels: { app: service } },
    spec: { containers: [{ name: 'app', image, ports: [{ containerPort: 8080 }] }] },
  };
  const existing = await findObject(c, paths.deployment(ns, service));
  if (existing) {
    existing.spec.template = template;
    existing.spec.replicas = REPLICAS;
    await c.request('PUT', paths.deployment(ns, service), { body: existing, query: { fieldManager: 'meridian-demo' } });
  } else {
    await create(c, `/apis/apps/v1/namespaces/${ns}/deployments`, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: service, namespace: ns },
      spec: { replicas: REPLICAS, selector: { matchLabels: { app: service } }, template },
    });
  }
  await c.request('DELETE', paths.deployment(ns, canaryName(target))).catch(() => undefined);
  await create(c, `/api/v1/namespaces/${ns}/services`, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: service, namespace: ns },
    spec: { selector: { app: service }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  });
  const rules = [{ backendRefs: [{ name: service, port: 80 }] }];
  const route = await findObject(c, paths.route(ns, service));
  if (route) {
    route.spec.rules = rules;
    await c.request('PUT', paths.route(ns, service), { body: route, query: { fieldManager: 'meridian-demo' } });
  } else {
    await create(c, `/apis/gateway.networking.k8s.io/v1/namespaces/${ns}/httproutes`, {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: service, namespace: ns },
      spec: { parentRefs: [{ name: 'edge' }], rules },
    });
  }
  await waitForRollout(c, 'demo', target, service);
}

/**
 * The demo's plan moved onto the local test bed: regions the test bed has become Kubernetes
 * regions (us-east-1 splits traffic through an HTTPRoute, the others by replicas); the rest are
 * left out, and waves left empty are dropped.
 */
export async function kubernetesDemo(plan: RolloutPlan, initialImage: string, log: (line: string) => void): Promise<{ plan: RolloutPlan; observe: Observe }> {
  log('test bed: starting the local Kubernetes control planes (the first run builds them, which takes a while)');
  const tb = await startTestbed({ log: (line) => log(`test bed: ${line}`) });
  log(`test bed: up; kubeconfig ${tb.kubeconfigPath}`);
  const names = Object.keys(plan.regions).filter((n) => tb.contexts[n]);
  if (names.length === 0) throw new Error(`the test bed has none of the demo's regions (it has ${Object.keys(tb.contexts).join(', ')})`);
  const targets = Object.fromEntries(
    names.map((name) => [
      name,
      kubernetesTarget.parse({
        kind: 'kubernetes',
        kubeconfig: tb.kubeconfigPath,
        context: tb.contexts[name],
        namespace: DEMO_NAMESPACE,
        deployment: plan.service,
        progressDeadline: '2m',
        traffic: name === 'us-east-1' ? { strategy: 'gatewayAPI', httpRoute: plan.service, stableService: plan.service } : { strategy: 'replicas' },
      }),
    ]),
  );
  await Promise.all(names.map((n) => seed(clientFor(targets[n]!), targets[n]!, plan.service, initialImage)));
  log(`test bed: ${plan.service} runs ${initialImage} on ${REPLICAS} pods in ${names.join(', ')} (namespace ${DEMO_NAMESPACE})`);

  const waves = plan.waves
    .map((w) => ({ ...w, regions: w.regions.filter((r) => names.includes(r)) }))
    .filter((w) => w.regions.length > 0)
    .map((w, index) => ({ ...w, index }));
  const regions = Object.fromEntries(
    names.map((n) => {
      const wave = waves.findIndex((w) => w.regions.includes(n));
      return [n, { ...plan.regions[n]!, wave, target: targets[n]!, labels: { ...plan.regions[n]!.labels, namespace: DEMO_NAMESPACE } }];
    }),
  );
  const faults = (plan.simulation?.faults ?? []).filter((f) => names.some((n) => f.startsWith(`${n}:`)));
  const moved: RolloutPlan = { ...plan, regions, waves, simulation: plan.simulation && { ...plan.simulation, faults } };

  const observe: Observe = async () =>
    Object.fromEntries(
      await Promise.all(
        names.map(async (n) => {
          const t = targets[n]!;
          const c = clientFor(t);
          const stable = await findObject(c, paths.deployment(t.namespace, t.deployment));
          const canary = await findObject(c, paths.deployment(t.namespace, canaryName(t)));
          if (!stable) return [n, undefined];
          const container = (d: Obj) => d.spec.template.spec.containers[0];
          const runsNew = container(stable).image === plan.image;
          return [
            n,
            {
              stable: { image: container(stable).image, config: envConfig(container(stable)) },
              canary: canary ? { image: container(canary).image, config: envConfig(container(canary)) } : null,
              weight: runsNew ? 100 : Number(canary?.metadata?.annotations?.[ANNOTATION.weight] ?? 0),
            },
          ];
        }),
      ),
    );
  return { plan: moved, observe };
}
