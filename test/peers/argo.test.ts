import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient } from '../../activities/kubernetes/client';
import type { Obj } from '../../activities/kubernetes/objects';
import { type ArgoRollouts, controllerLogFile, ensureArgoRollouts, installRolloutsCrds, type RolloutsController, startRolloutsController } from '../../peers/argo';
import { startTestbed, type Testbed } from '../../testbed';
import { kube, NEW_IMAGE, OLD_IMAGE, REPLICAS, uniqueNamespace } from '../kubernetes/support';
import { tempDir } from '../support/temp-dir';

const REGION = 'eu-west-1';
const ROLLOUTS = '/apis/argoproj.io/v1alpha1';

let argo: ArgoRollouts;
let tb: Testbed;
let c: KubeClient;
let controller: RolloutsController;
let ns: string;

beforeAll(async () => {
  argo = await ensureArgoRollouts({ log: (line) => console.log(`[argo] ${line}`) });
  tb = await startTestbed({ dir: tempDir('meridian-testbed-'), regions: [REGION], log: (line) => console.log(`[testbed] ${line}`) });
  const context = tb.contexts[REGION]!;
  c = kube(tb, context);
  await installRolloutsCrds({ kubeconfig: tb.kubeconfigPath, context, crdFiles: argo.crdFiles });
  ns = uniqueNamespace('argo');
  await c.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
  controller = await startRolloutsController({ binary: argo.controller, kubeconfig: tb.kubeconfigPath, context, namespace: ns, logFile: controllerLogFile(tb, REGION) });
}, 60 * 60_000);

afterAll(async () => {
  await controller?.stop();
  await tb?.stop();
}, 120_000);

type Step = { setWeight: number } | { pause: { duration?: string } };

function rollout(name: string, steps: Step[]): Obj {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name, namespace: ns },
    spec: {
      replicas: REPLICAS,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: OLD_IMAGE, ports: [{ containerPort: 8080 }] }] },
      },
      strategy: { canary: { steps } },
    },
  };
}

const rolloutPath = (name: string) => `${ROLLOUTS}/namespaces/${ns}/rollouts/${name}`;
const getRollout = (name: string) => c.request('GET', rolloutPath(name));

/** What the test reads of a Rollout from the cluster: its step, its pause, and each ReplicaSet's replicas by role. */
async function observe(name: string) {
  const ro = await getRollout(name);
  const sets = await c.request('GET', `/apis/apps/v1/namespaces/${ns}/replicasets`, { query: { labelSelector: `app=${name}` } });
  const byHash = (hash: string | undefined) => (sets.items as Obj[]).find((rs) => rs.metadata.labels?.['rollouts-pod-template-hash'] === hash);
  const counts = (rs: Obj | undefined) => ({ replicas: rs?.spec.replicas as number | undefined, available: (rs?.status?.availableReplicas ?? 0) as number, image: rs?.spec.template.spec.containers[0].image as string | undefined });
  const s = ro.status ?? {};
  const current = byHash(s.currentPodHash);
  return {
    phase: s.phase as string | undefined,
    step: s.currentStepIndex as number | undefined,
    paused: ((s.pauseConditions ?? []) as Obj[]).map((p) => p.reason as string),
    pauseStarted: s.pauseConditions?.[0]?.startTime as string | undefined,
    abort: Boolean(s.abort),
    observed: String(s.observedGeneration) === String(ro.metadata.generation),
    canary: s.currentPodHash === s.stableRS ? undefined : counts(current),
    stable: counts(byHash(s.stableRS)),
  };
}

type Observed = Awaited<ReturnType<typeof observe>>;

async function until(name: string, what: string, ok: (o: Observed) => boolean, timeoutMs = 60_000): Promise<Observed> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const o = await observe(name);
    if (ok(o)) return o;
    if (Date.now() > deadline) throw new Error(`${ns}/${name}: ${what} not reached in ${timeoutMs} ms; last: ${JSON.stringify(o)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const healthyOnOld = (o: Observed) => o.observed && o.phase === 'Healthy' && o.stable.image === OLD_IMAGE && o.stable.available === REPLICAS;

async function createAndRelease(name: string, steps: Step[]): Promise<void> {
  await c.request('POST', `${ROLLOUTS}/namespaces/${ns}/rollouts`, { body: rollout(name, steps) });
  await until(name, 'Healthy on the old image', healthyOnOld);
  await c.request('PATCH', rolloutPath(name), {
    contentType: 'application/json-patch+json',
    body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: NEW_IMAGE }],
  });
}

describe('Argo Rollouts on the test bed, out of cluster', () => {
  it('scales a canary ReplicaSet to the set weight, pauses at step 1, and an abort on the status subresource scales it back to stable', async () => {
    await createAndRelease('web', [{ setWeight: 25 }, { pause: {} }]);

    const paused = await until('web', 'paused at step 1 with the canary up', (o) => o.step === 1 && o.paused.includes('CanaryPauseStep') && o.canary?.available === 1 && o.stable.replicas === 3);
    expect(paused.canary).toEqual({ replicas: 1, available: 1, image: NEW_IMAGE });
    expect(paused.stable).toMatchObject({ replicas: REPLICAS - 1, image: OLD_IMAGE });

    // What `kubectl argo rollouts abort web` sends.
    await c.request('PATCH', `${rolloutPath('web')}/status`, { contentType: 'application/merge-patch+json', body: { status: { abort: true } } });
    const aborted = await until('web', 'canary at 0 and stable at full replicas', (o) => o.abort && o.canary?.replicas === 0 && o.stable.available === REPLICAS);
    expect(aborted.stable).toEqual({ replicas: REPLICAS, available: REPLICAS, image: OLD_IMAGE });
    expect(aborted.phase).toBe('Degraded');
  });

  it('carries on after a SIGKILL in the middle of a timed pause, once restarted', async () => {
    const pause = 4;
    await createAndRelease('api', [{ setWeight: 25 }, { pause: { duration: `${pause}s` } }, { setWeight: 50 }, { pause: {} }]);
    const inPause = await until('api', 'in the timed pause at step 1', (o) => o.step === 1 && o.paused.includes('CanaryPauseStep'));

    const before = controller.pid;
    await controller.kill();
    expect(controller.running).toBe(false);
    await new Promise((r) => setTimeout(r, 1_000));
    await controller.start();
    expect(controller.pid).not.toBe(before);

    const next = await until('api', 'paused at step 3 at 50%', (o) => o.step === 3 && o.paused.includes('CanaryPauseStep') && o.canary?.available === 2 && o.stable.replicas === 2);
    expect(next.canary).toEqual({ replicas: 2, available: 2, image: NEW_IMAGE });
    const stepMs = Date.parse(next.pauseStarted!) - Date.parse(inPause.pauseStarted!);
    // Not skipped by the restart, and not left for the controller's 15-minute resync either.
    expect(stepMs).toBeGreaterThanOrEqual(pause * 1000);
    expect(stepMs).toBeLessThan((pause + 10) * 1000);
  });
});
