import { isDeepStrictEqual } from 'node:util';
import { findObject, type KubeClient } from '../../activities/kubernetes/client';
import { paths, type Obj } from '../../activities/kubernetes/objects';
import type { RegionEnd } from '../scenarios';
import { NEW_IMAGE, REPLICAS } from './kubernetes-scenarios';
import type { Seeded } from './kubernetes-seed';

/**
 * R4's checks of one region, read from its API server directly once the rollout ended: the stable
 * Deployment and the ReplicaSet of its current revision run the expected image on every pod, no
 * canary is left, the route sends everything to the stable Service as before, and no ReplicaSet was
 * made twice for one template.
 */

export interface RegionExpectation {
  region: string;
  namespace: string;
  end: RegionEnd;
  seeded: Seeded;
}

export interface RegionFindings {
  problems: string[];
  duplicates: number;
}

/** How long the pods may take to settle (old ones terminating) after the rollout ended. */
const SETTLE_MS = 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The `app` container's image of a pod spec. */
const appImage = (spec: Obj) => (spec?.containers ?? []).find((c: Obj) => c.name === 'app')?.image as string | undefined;
const imageOf = (template: Obj) => appImage(template?.spec);

/** The pods of `web` that are not terminating, once they all run the Deployment's current template and are ready (or SETTLE_MS passed). */
async function settledPods(c: KubeClient, ns: string, image: string): Promise<Obj[]> {
  const deadline = Date.now() + SETTLE_MS;
  for (;;) {
    const pods = (await c.request<{ items: Obj[] }>('GET', paths.pods(ns), { query: { labelSelector: 'app=web' } })).items.filter((p) => !p.metadata.deletionTimestamp);
    const ready = (p: Obj) => (p.status?.conditions ?? []).some((x: Obj) => x.type === 'Ready' && x.status === 'True');
    if ((pods.length === REPLICAS && pods.every((p) => appImage(p.spec) === image && ready(p))) || Date.now() > deadline) return pods;
    await sleep(500);
  }
}

async function workloadProblems(c: KubeClient, x: RegionExpectation, stable: Obj): Promise<string[]> {
  const { region, namespace: ns } = x;
  const want = x.end === 'new' ? NEW_IMAGE : imageOf(x.seeded.deployment.spec.template)!;
  const problems: string[] = [];
  const template = stable.spec.template;
  if (x.end === 'new') {
    const app = template.spec.containers.find((k: Obj) => k.name === 'app');
    if (app?.image !== want || !isDeepStrictEqual(app?.env, [{ name: 'MODE', value: 'canary' }])) problems.push(`${region}: Deployment ${ns}/web runs ${app?.image} with env ${JSON.stringify(app?.env)}, expected ${want} with MODE=canary`);
  } else if (!isDeepStrictEqual(template, x.seeded.deployment.spec.template)) {
    problems.push(`${region}: the template of Deployment ${ns}/web differs from its snapshot (image ${imageOf(template)})`);
  }
  if (x.end === 'untouched' && stable.metadata.resourceVersion !== x.seeded.deployment.metadata.resourceVersion) problems.push(`${region}: Deployment ${ns}/web was to stay untouched, but changed`);
  const pods = await settledPods(c, ns, want);
  const running = pods.map((p) => appImage(p.spec));
  if (pods.length !== REPLICAS || running.some((i) => i !== want)) problems.push(`${region}: pods of web run ${running.join(', ') || 'nothing'}, expected ${REPLICAS} of ${want}`);
  const s = (await findObject(c, paths.deployment(ns, 'web')))?.status ?? {};
  if (s.updatedReplicas !== REPLICAS || s.availableReplicas !== REPLICAS || stable.spec.replicas !== REPLICAS) {
    problems.push(`${region}: Deployment ${ns}/web has ${s.availableReplicas}/${stable.spec.replicas} available and ${s.updatedReplicas} updated, expected ${REPLICAS}`);
  }
  return problems;
}

/** The ReplicaSets the stable Deployment owns: its current revision's runs `want` on every replica, the older ones none; one per template ever applied. */
async function replicaSetFindings(c: KubeClient, x: RegionExpectation, stable: Obj, want: string): Promise<RegionFindings> {
  const { region, namespace: ns } = x;
  const list = await c.request<{ items: Obj[] }>('GET', paths.replicaSets(ns), { query: { labelSelector: 'app=web' } });
  const owned = list.items.filter((rs) => (rs.metadata.ownerReferences ?? []).some((o: Obj) => o.uid === stable.metadata.uid));
  const revision = stable.metadata.annotations?.['deployment.kubernetes.io/revision'];
  const current = owned.find((rs) => rs.metadata.annotations?.['deployment.kubernetes.io/revision'] === revision);
  const problems: string[] = [];
  if (!current || imageOf(current.spec.template) !== want || current.status?.readyReplicas !== REPLICAS) {
    problems.push(`${region}: the current ReplicaSet of web (revision ${revision}) is ${current ? `${current.metadata.name} with ${current.status?.readyReplicas ?? 0} ready of ${imageOf(current.spec.template)}` : 'missing'}, expected ${REPLICAS} ready of ${want}`);
  }
  const busy = owned.filter((rs) => rs !== current && (rs.spec.replicas ?? 0) > 0).map((rs) => rs.metadata.name);
  if (busy.length > 0) problems.push(`${region}: old ReplicaSets of web still scaled up: ${busy.join(', ')}`);
  const expected = x.end === 'new' ? 2 : 1;
  if (owned.length !== expected) problems.push(`${region}: web owns ${owned.length} ReplicaSets (${owned.map((rs) => rs.metadata.name).join(', ')}), expected ${expected}`);
  return { problems, duplicates: Math.max(0, owned.length - expected) };
}

/** Canary ReplicaSets the deployment controller ever scaled, from the namespace's events: one at most, however often its apply was repeated. */
async function canaryFindings(c: KubeClient, x: RegionExpectation): Promise<RegionFindings> {
  const { region, namespace: ns } = x;
  const problems: string[] = [];
  if (await findObject(c, paths.deployment(ns, 'web-canary'))) problems.push(`${region}: Deployment ${ns}/web-canary is still there`);
  if (await findObject(c, paths.service(ns, 'web-canary'))) problems.push(`${region}: Service ${ns}/web-canary is still there`);
  const events = await c.request<{ items: Obj[] }>('GET', `/api/v1/namespaces/${ns}/events`);
  const made = new Set(events.items.filter((e) => e.reason === 'ScalingReplicaSet').flatMap((e) => /web-canary-[a-z0-9]+/.exec(e.message ?? '')?.[0] ?? []));
  const allowed = x.end === 'untouched' ? 0 : 1;
  if (made.size > allowed) problems.push(`${region}: ${made.size} canary ReplicaSets were made (${[...made].join(', ')}), expected at most ${allowed}`);
  const route = await findObject(c, paths.route(ns, 'web'));
  if (!isDeepStrictEqual(route?.spec?.rules, x.seeded.routeRules)) problems.push(`${region}: HTTPRoute ${ns}/web has rules ${JSON.stringify(route?.spec?.rules)}, expected all traffic on web as before`);
  return { problems, duplicates: Math.max(0, made.size - Math.max(allowed, 1)) };
}

export async function regionFindings(c: KubeClient, x: RegionExpectation): Promise<RegionFindings> {
  const stable = await findObject(c, paths.deployment(x.namespace, 'web'));
  if (!stable) return { problems: [`${x.region}: Deployment ${x.namespace}/web is gone`], duplicates: 0 };
  const want = x.end === 'new' ? NEW_IMAGE : imageOf(x.seeded.deployment.spec.template)!;
  const workload = await workloadProblems(c, x, stable);
  const sets = await replicaSetFindings(c, x, (await findObject(c, paths.deployment(x.namespace, 'web')))!, want);
  const canary = await canaryFindings(c, x);
  return { problems: [...workload, ...sets.problems, ...canary.problems], duplicates: sets.duplicates + canary.duplicates };
}
