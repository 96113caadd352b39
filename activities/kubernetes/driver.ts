import { ApplicationFailure } from '@temporalio/common';
import { replicaSplit } from '../../domain/kubernetes';
import type { KubernetesTarget, Target } from '../../domain/spec';
import type { KnownGood } from '../../domain/status';
import { FAILURE } from '../../domain/vocabulary';
import type { TargetDriver } from '../drivers';
import type { DeployInput, RegionRef, WeightInput } from '../types';
import { clientFor, findObject, withKubeRetries, type KubeClient } from './client';
import { readRecordedContracts, recordContracts } from './contracts';
import { detectDrift, driftFailure } from './drift';
import {
  ANNOTATION,
  canaryDeployment,
  canaryLabels,
  canaryName,
  canaryService,
  canaryServiceName,
  envConfig,
  FIELD_MANAGER,
  paths,
  targetContainer,
  weightedRules,
  withRelease,
  type Obj,
} from './objects';
import { kubernetesPreflight } from './preflight';
import { waitForRollout } from './readiness';

/**
 * Server-side apply removes fields a manager stops sending, so each manager always sends the same
 * set: `meridian` whole objects and releases, `meridian-traffic` replicas, weights and route rules.
 */
const TRAFFIC_MANAGER = `${FIELD_MANAGER}-traffic`;

function kube(target: Target): KubernetesTarget {
  if (target.kind !== 'kubernetes') throw new Error(`the kubernetes driver got a ${target.kind} target`);
  return target;
}

/** One region's view: its client, target and the calls Meridian makes there. */
class Region {
  readonly t: KubernetesTarget;
  readonly client: KubeClient;

  readonly ref: RegionRef;

  constructor(ref: RegionRef) {
    this.ref = ref;
    this.t = kube(ref.target);
    this.client = clientFor(this.t);
  }

  call<T>(what: string, fn: (c: KubeClient) => Promise<T>): Promise<T> {
    return withKubeRetries({ region: this.ref.region, target: this.t, what }, () => fn(this.client));
  }

  get(what: string, path: string): Promise<Obj> {
    return this.call(`get ${what}`, (c) => c.request('GET', path));
  }

  /** The object, or undefined when it does not exist. */
  find(what: string, path: string): Promise<Obj | undefined> {
    return this.call(`get ${what}`, (c) => findObject(c, path));
  }

  apply(what: string, path: string, body: Obj, fieldManager = FIELD_MANAGER): Promise<Obj> {
    return this.call(`apply ${what}`, (c) =>
      c.request('PATCH', path, { body, contentType: 'application/apply-patch+yaml', query: { fieldManager, force: true } }),
    );
  }

  async remove(what: string, path: string): Promise<void> {
    await this.call(`delete ${what}`, async (c) => {
      try {
        await c.request('DELETE', path, { query: { propagationPolicy: 'Background' } });
      } catch (err) {
        if ((err as { status?: number }).status !== 404) throw err;
      }
    });
  }

  /** Read, change and replace with the read's resourceVersion; a 409 means someone wrote in between, so read again. */
  replace(what: string, path: string, change: (obj: Obj) => void): Promise<Obj> {
    return this.call(`update ${what}`, async (c) => {
      const obj = await c.request('GET', path);
      change(obj);
      return c.request('PUT', path, { body: obj, query: { fieldManager: FIELD_MANAGER } });
    });
  }

  get stablePath() {
    return paths.deployment(this.t.namespace, this.t.deployment);
  }
  get canaryPath() {
    return paths.deployment(this.t.namespace, canaryName(this.t));
  }
  get stableName() {
    return `Deployment ${this.t.namespace}/${this.t.deployment}`;
  }
  get canaryName() {
    return `Deployment ${this.t.namespace}/${canaryName(this.t)}`;
  }
  get gateway() {
    return this.t.traffic.strategy === 'gatewayAPI' ? this.t.traffic : undefined;
  }
  get routeName() {
    return `HTTPRoute ${this.t.namespace}/${this.gateway?.httpRoute}`;
  }
  get routePath() {
    return paths.route(this.t.namespace, this.gateway?.httpRoute ?? '');
  }
  get canaryService() {
    return canaryServiceName(this.t);
  }
}

/** The pod-template-hash of the ReplicaSet that runs the Deployment's current revision. */
async function podTemplateHash(r: Region, d: Obj): Promise<string | undefined> {
  const revision = d.metadata?.annotations?.['deployment.kubernetes.io/revision'];
  const selector = Object.entries(d.spec?.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
  const list = await r.call(`list ReplicaSets of ${r.stableName}`, (c) =>
    c.request<{ items: Obj[] }>('GET', paths.replicaSets(r.t.namespace), { query: { labelSelector: selector } }),
  );
  const owned = list.items.filter((rs) => (rs.metadata?.ownerReferences ?? []).some((o: Obj) => o.uid === d.metadata.uid));
  const current = owned.find((rs) => rs.metadata?.annotations?.['deployment.kubernetes.io/revision'] === revision);
  return current?.metadata?.labels?.['pod-template-hash'];
}

async function snapshot(ref: RegionRef): Promise<KnownGood> {
  const r = new Region(ref);
  const stable = await r.get(r.stableName, r.stablePath);
  const container = targetContainer(stable.spec.template, r.t);
  const gw = r.gateway;
  const route = gw ? await r.get(r.routeName, r.routePath) : undefined;
  return {
    image: container.image,
    config: envConfig(container),
    weight: 0,
    capturedAt: new Date().toISOString(),
    kubernetes: {
      namespace: r.t.namespace,
      deployment: r.t.deployment,
      template: stable.spec.template,
      replicas: stable.spec.replicas ?? 1,
      generation: stable.metadata.generation,
      podTemplateHash: await podTemplateHash(r, stable),
      routeRules: route?.spec?.rules,
    },
  };
}

/**
 * Refuses to go on when the stable Deployment or the route changed since Meridian last looked,
 * unless an operator accepted the change. The route may also already carry `weight`, where this
 * very step wrote it before a crash.
 */
async function checkDrift(r: Region, canary: Obj, acceptDrift: boolean, weight?: number): Promise<{ stable: Obj; route?: Obj }> {
  const since = canary.metadata?.creationTimestamp;
  const notes = canary.metadata?.annotations ?? {};
  const stable = await r.get(r.stableName, r.stablePath);
  const gw = r.gateway;
  const route = gw ? await r.get(r.routeName, r.routePath) : undefined;
  if (acceptDrift) return { stable, route };
  const expectedTemplate = notes[ANNOTATION.stableTemplate] ? JSON.parse(notes[ANNOTATION.stableTemplate]) : undefined;
  const templateDrift = expectedTemplate && detectDrift(r.stableName, expectedTemplate, stable.spec.template, stable, since, 'spec.template');
  if (templateDrift) throw driftFailure(r.ref.region, templateDrift);
  if (gw && route && notes[ANNOTATION.routeRules]) {
    const recorded = JSON.parse(notes[ANNOTATION.routeRules]);
    const drift = detectDrift(r.routeName, recorded, route.spec.rules, route, since, 'spec.rules');
    const intended = weight === undefined ? undefined : weightedRules(recorded, gw.stableService, r.canaryService!, weight);
    const isIntended = intended !== undefined && detectDrift(r.routeName, intended, route.spec.rules, route, since, 'spec.rules') === undefined;
    if (drift && !isIntended) throw driftFailure(r.ref.region, drift);
  }
  return { stable, route };
}

/**
 * Meridian's traffic fields of the canary, always applied as one set by one field manager, so that
 * no apply drops a field an earlier one wrote.
 */
function applyCanaryTraffic(r: Region, canary: Obj, change: { replicas: number; weight: number; stableTemplate?: Obj; routeRules?: Obj[] }): Promise<Obj> {
  const notes = canary.metadata?.annotations ?? {};
  const annotations: Record<string, string> = { [ANNOTATION.weight]: String(change.weight) };
  const template = change.stableTemplate ? JSON.stringify(change.stableTemplate) : notes[ANNOTATION.stableTemplate];
  if (template) annotations[ANNOTATION.stableTemplate] = template;
  const rules = change.routeRules ? JSON.stringify(change.routeRules) : notes[ANNOTATION.routeRules];
  if (rules) annotations[ANNOTATION.routeRules] = rules;
  return r.apply(
    r.canaryName,
    r.canaryPath,
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: canaryName(r.t), namespace: r.t.namespace, annotations }, spec: { replicas: change.replicas } },
    TRAFFIC_MANAGER,
  );
}

function scaleStable(r: Region, replicas: number): Promise<Obj> {
  return r.apply(
    r.stableName,
    r.stablePath,
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: r.t.deployment, namespace: r.t.namespace }, spec: { replicas } },
    TRAFFIC_MANAGER,
  );
}

async function deployCanary(input: DeployInput): Promise<void> {
  const r = new Region(input);
  const stable = await r.get(r.stableName, r.stablePath);
  const existing = await r.find(r.canaryName, r.canaryPath);
  const gw = r.gateway;
  const stableService = gw ? await r.get(`Service ${r.t.namespace}/${gw.stableService}`, paths.service(r.t.namespace, gw.stableService)) : undefined;
  const route = gw ? await r.get(r.routeName, r.routePath) : undefined;
  const notes = existing?.metadata?.annotations ?? {};
  const body = canaryDeployment({
    target: r.t,
    region: input.region,
    rolloutId: input.rolloutId,
    stable,
    image: r.t.image ?? input.image,
    config: input.config,
    replicas: existing?.spec?.replicas ?? 0,
    stableReplicas: Number(notes[ANNOTATION.stableReplicas] ?? stable.spec.replicas ?? 1),
    stableServiceSelector: stableService?.spec?.selector,
    annotations: {
      [ANNOTATION.weight]: notes[ANNOTATION.weight] ?? '0',
      [ANNOTATION.stableTemplate]: notes[ANNOTATION.stableTemplate] ?? JSON.stringify(stable.spec.template),
      ...(route ? { [ANNOTATION.routeRules]: notes[ANNOTATION.routeRules] ?? JSON.stringify(route.spec.rules) } : {}),
    },
  });
  if (gw && stableService) {
    const selector = canaryLabels(stable.spec.template, r.t, stableService.spec?.selector).selector;
    const svc = canaryService({ target: r.t, region: input.region, rolloutId: input.rolloutId, stableService, selector });
    await r.apply(`Service ${r.t.namespace}/${svc.metadata.name}`, paths.service(r.t.namespace, svc.metadata.name), svc);
  }
  await r.apply(r.canaryName, r.canaryPath, body);
  await waitForRollout(r.client, input.region, r.t, canaryName(r.t));
}

async function setWeight(input: WeightInput): Promise<void> {
  const r = new Region(input);
  const canary = await r.get(r.canaryName, r.canaryPath);
  const { stable, route } = await checkDrift(r, canary, input.acceptDrift ?? false, input.weight);
  const total = Number(canary.metadata.annotations?.[ANNOTATION.stableReplicas] ?? 1);
  const gw = r.gateway;
  if (gw && route) {
    // Canary pods first, so the route never sends a share to a Service with nothing behind it.
    const replicas = input.weight > 0 ? replicaSplit(total, input.weight).canary : 0;
    const before = Number(canary.metadata.annotations?.[ANNOTATION.weight] ?? 0);
    await applyCanaryTraffic(r, canary, { replicas: Math.max(replicas, canary.spec?.replicas ?? 0), weight: before, stableTemplate: stable.spec.template });
    await waitForRollout(r.client, input.region, r.t, canaryName(r.t));
    const rules = weightedRules(route.spec.rules ?? [], gw.stableService, r.canaryService!, input.weight);
    const written = await r.apply(
      r.routeName,
      r.routePath,
      { apiVersion: route.apiVersion, kind: 'HTTPRoute', metadata: { name: gw.httpRoute, namespace: r.t.namespace }, spec: { rules } },
      TRAFFIC_MANAGER,
    );
    await applyCanaryTraffic(r, canary, { replicas, weight: input.weight, stableTemplate: stable.spec.template, routeRules: written.spec.rules });
    await waitForRollout(r.client, input.region, r.t, canaryName(r.t));
    return;
  }
  const split = replicaSplit(total, input.weight);
  await applyCanaryTraffic(r, canary, { replicas: split.canary, weight: input.weight, stableTemplate: stable.spec.template });
  await scaleStable(r, split.stable);
  await waitForRollout(r.client, input.region, r.t, canaryName(r.t));
  await waitForRollout(r.client, input.region, r.t, r.t.deployment);
}

/** The stable Deployment takes the release on top of its current template; the route returns to its snapshot; the canary goes. */
async function promote(input: DeployInput): Promise<void> {
  const r = new Region(input);
  const canary = await r.find(r.canaryName, r.canaryPath);
  const { stable } = canary
    ? await checkDrift(r, canary, input.acceptDrift ?? false, Number(canary.metadata.annotations?.[ANNOTATION.weight] ?? 0))
    : { stable: await r.get(r.stableName, r.stablePath) };
  const total = Number(canary?.metadata?.annotations?.[ANNOTATION.stableReplicas] ?? input.snapshot?.kubernetes?.replicas ?? stable.spec.replicas ?? 1);
  const release = withRelease(stable.spec.template, r.t, r.t.image ?? input.image, input.config);
  const container = targetContainer(release, r.t);
  await r.apply(r.stableName, r.stablePath, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: r.t.deployment, namespace: r.t.namespace, annotations: { [ANNOTATION.rollout]: input.rolloutId } },
    spec: { replicas: total, template: { spec: { containers: [{ name: container.name, image: container.image, env: container.env ?? [] }] } } },
  });
  await waitForRollout(r.client, input.region, r.t, r.t.deployment);
  await cleanup(r, input.snapshot);
}

/** Route back to its recorded rules, then the canary Deployment and Service removed. Each part is a no-op when already done. */
async function cleanup(r: Region, known: KnownGood | undefined): Promise<void> {
  const gw = r.gateway;
  const rules = known?.kubernetes?.routeRules;
  if (gw) {
    await r.replace(r.routeName, r.routePath, (route) => {
      route.spec.rules = rules ?? weightedRules(route.spec.rules ?? [], gw.stableService, r.canaryService!, 0);
    });
  }
  await r.remove(r.canaryName, r.canaryPath);
  if (gw) await r.remove(`Service ${r.t.namespace}/${r.canaryService}`, paths.service(r.t.namespace, r.canaryService!));
}

async function restoreTraffic(input: RegionRef & { weight: number }): Promise<void> {
  const r = new Region(input);
  const canary = await r.find(r.canaryName, r.canaryPath);
  if (!canary) return;
  const gw = r.gateway;
  if (gw) {
    await r.replace(r.routeName, r.routePath, (route) => {
      route.spec.rules = weightedRules(route.spec.rules ?? [], gw.stableService, r.canaryService!, input.weight);
    });
    return;
  }
  const split = replicaSplit(Number(canary.metadata.annotations?.[ANNOTATION.stableReplicas] ?? 1), input.weight);
  await scaleStable(r, split.stable);
  await applyCanaryTraffic(r, canary, { replicas: split.canary, weight: input.weight });
}

/**
 * The stable Deployment's template and replicas, and the route's rules, replaced with the snapshot
 * so they equal it field for field (an apply would keep fields other managers added), then the
 * canary removed.
 */
async function restoreWorkload(input: RegionRef & { snapshot: KnownGood }): Promise<void> {
  const r = new Region(input);
  const known = input.snapshot.kubernetes;
  if (!known) throw ApplicationFailure.nonRetryable(`${input.region}: the snapshot has no Kubernetes part to restore`, FAILURE.snapshotMissing);
  await r.replace(r.stableName, r.stablePath, (d) => {
    d.spec.template = known.template;
    d.spec.replicas = known.replicas;
  });
  await waitForRollout(r.client, input.region, r.t, r.t.deployment);
  await cleanup(r, input.snapshot);
}

export function kubernetesDriver(): TargetDriver {
  return {
    kind: 'kubernetes',
    preflight: (input) => kubernetesPreflight({ region: input.region, target: kube(input.target) }),
    snapshot, deployCanary, setWeight, promote, restoreTraffic, restoreWorkload,
    readContracts: async (ref) => readRecordedContracts(ref, kube(ref.target)),
    recordContracts: async (input) => recordContracts(input, kube(input.target)),
  };
}
