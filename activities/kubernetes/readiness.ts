import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import type { KubernetesTarget } from '../../domain/spec';
import { FAILURE } from '../../domain/vocabulary';
import { heartbeat } from './heartbeat';
import { describeCall, withKubeRetries, type KubeClient } from './client';
import { paths, type Obj } from './objects';

export interface Rollout {
  ready: boolean;
  /** `3/4 available, 4/4 updated`. */
  progress: string;
  /** Set when the Deployment itself reports that it cannot progress. */
  stalled?: string;
}

/** Whether a Deployment has finished rolling out, read the way `kubectl rollout status` does. */
export function rolloutState(d: Obj): Rollout {
  const want = d.spec?.replicas ?? 1;
  const s = d.status ?? {};
  const observed = (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
  const updated = s.updatedReplicas ?? 0;
  const available = s.availableReplicas ?? 0;
  const total = s.replicas ?? 0;
  const progress = `${available}/${want} available, ${updated}/${want} updated${total > want ? `, ${total - want} old terminating` : ''}`;
  const stalledCondition = (s.conditions ?? []).find((c: Obj) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded');
  return {
    ready: observed && updated === want && available === want && total === want,
    progress,
    stalled: observed && stalledCondition ? stalledCondition.message : undefined,
  };
}

/** Why the Deployment's newest pods are not ready: waiting reasons, scheduling failures. */
async function podReasons(client: KubeClient, d: Obj): Promise<string[]> {
  const selector = Object.entries(d.spec?.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
  const pods = await client.request<{ items: Obj[] }>('GET', paths.pods(d.metadata.namespace), { query: { labelSelector: selector, limit: 20 } });
  const reasons = new Set<string>();
  for (const pod of pods.items) {
    for (const c of pod.status?.containerStatuses ?? []) {
      const waiting = c.state?.waiting;
      if (waiting?.reason) reasons.add(`${c.name}: ${waiting.reason}${waiting.message ? ` (${waiting.message})` : ''}`);
    }
    for (const cond of pod.status?.conditions ?? []) {
      if (cond.type === 'PodScheduled' && cond.status === 'False') reasons.add(`unschedulable: ${cond.message ?? cond.reason}`);
    }
  }
  return [...reasons];
}

/**
 * Waits until the Deployment has rolled out, heartbeating its progress. It fails the region, for
 * good, when the Deployment reports ProgressDeadlineExceeded or the target's progress deadline
 * passes, with the Deployment's and its pods' own reasons.
 */
export async function waitForRollout(client: KubeClient, region: string, target: KubernetesTarget, name: string, pollMs = 100): Promise<void> {
  const site = { region, target, what: `wait for Deployment ${name} to become ready` };
  const deadline = Date.now() + target.progressDeadline;
  for (;;) {
    const d = await withKubeRetries(site, () => client.request('GET', paths.deployment(target.namespace, name)));
    const state = rolloutState(d);
    heartbeat({ deployment: name, progress: state.progress });
    if (state.ready) return;
    if (state.stalled || Date.now() >= deadline) {
      const pods = await podReasons(client, d).catch(() => []);
      const why = [state.stalled ?? `not ready within ${Math.round(target.progressDeadline / 1000)} s (${state.progress})`, ...pods].join('; ');
      throw ApplicationFailure.nonRetryable(`${describeCall(site)}: stalled: ${why}`, FAILURE.deploymentStalled);
    }
    await sleep(pollMs);
  }
}
