import { defaultPayloadConverter } from '@temporalio/common';
import type { KubeFailureDetails } from '../../activities/kubernetes/client';
import type { RolloutClient } from '../../client/rollout-client';
import { KUBE_FAILURE_PREFIX } from '../../domain/vocabulary';
import type { ProxyStats } from '../../testbed/fault-proxy';
import { regionWorkflowId } from '../../workflows/definitions';
import type { Refusal } from './kubernetes-scenarios';

/**
 * A 401 or 403 must stop the region at once: the activity that met it fails for good, on its first
 * attempt, with a failure whose type carries the status and whose details name the region, the verb
 * and the resource; and the proxy answered it exactly once (the client did not retry it either).
 */

export interface RefusedActivity {
  workflowId: string;
  activity: string;
  type: string;
  nonRetryable: boolean;
  attempt: number;
  message: string;
  details?: Partial<KubeFailureDetails>;
}

/** Every activity of the rollout's and its regions' histories that failed with a Kubernetes 401 or 403. */
export async function refusedActivities(client: RolloutClient, rolloutId: string, regions: readonly string[]): Promise<RefusedActivity[]> {
  const ids = [rolloutId, ...regions.map((r) => regionWorkflowId(rolloutId, r))];
  const out: RefusedActivity[] = [];
  for (const workflowId of ids) {
    const history = await client.client.workflow.getHandle(workflowId).fetchHistory().catch(() => undefined);
    const types = new Map<string, string>();
    const attempts = new Map<string, number>();
    for (const e of history?.events ?? []) {
      const id = String(e.eventId);
      if (e.activityTaskScheduledEventAttributes) types.set(id, e.activityTaskScheduledEventAttributes.activityType?.name ?? '');
      const started = e.activityTaskStartedEventAttributes;
      if (started) attempts.set(String(started.scheduledEventId), started.attempt ?? 1);
      const failed = e.activityTaskFailedEventAttributes;
      const info = failed?.failure?.applicationFailureInfo;
      if (!failed || !info?.type || !/^Kube40[13]$/.test(info.type)) continue;
      const payload = info.details?.payloads?.[0];
      const scheduled = String(failed.scheduledEventId);
      out.push({
        workflowId,
        activity: types.get(scheduled) ?? '',
        type: info.type,
        nonRetryable: info.nonRetryable ?? false,
        attempt: attempts.get(scheduled) ?? 0,
        message: failed.failure?.message ?? '',
        details: payload ? (defaultPayloadConverter.fromPayload(payload) as Partial<KubeFailureDetails>) : undefined,
      });
    }
  }
  return out;
}

function failureProblems(f: RefusedActivity, refusal: Refusal, region: string, namespace: string): string[] {
  const d = f.details ?? {};
  const where = `${f.activity} in ${f.workflowId}`;
  const problems: string[] = [];
  if (f.type !== `${KUBE_FAILURE_PREFIX}${refusal.status}` || !f.nonRetryable) problems.push(`${where} failed as ${f.type}${f.nonRetryable ? '' : ' (retryable)'}, expected non-retryable ${KUBE_FAILURE_PREFIX}${refusal.status}`);
  if (f.attempt !== 1) problems.push(`${where} ran ${f.attempt} attempts on a ${refusal.status}, expected 1`);
  const wanted = { region, namespace, status: refusal.status, ...(refusal.resource ? { resource: refusal.resource } : {}) };
  const seen = { region: d.region, namespace: d.namespace, status: d.status, ...(refusal.resource ? { resource: d.resource } : {}) };
  if (JSON.stringify(seen) !== JSON.stringify(wanted)) problems.push(`${where}: failure details ${JSON.stringify(d)}, expected ${JSON.stringify(wanted)}`);
  if (!d.verb || !d.resource || (refusal.verbs && !refusal.verbs.includes(d.verb))) problems.push(`${where}: failure details name verb ${d.verb} and resource ${d.resource}`);
  for (const named of [d.region, d.verb, d.resource]) if (named && !f.message.includes(named)) problems.push(`${where}: the message does not name ${named}: ${f.message}`);
  return problems;
}

/** What was wrong with how the rollout met its refusal: the failures of its refused activities, and requests the proxy refused more than once. */
export function refusalProblems(refused: RefusedActivity[], denied: ProxyStats['denied'], refusal: Refusal, region: string, namespace: string): string[] {
  const problems = refused.flatMap((f) => failureProblems(f, refusal, region, namespace));
  if (!refused.some((f) => f.activity === refusal.activity)) problems.push(`${region}: no ${refusal.activity} failed on the ${refusal.status}; refused activities: ${refused.map((f) => f.activity).join(', ') || 'none'}`);
  const mine = denied.filter((d) => d.namespace === namespace);
  if (mine.length !== refused.length) {
    problems.push(`${region}: the proxy refused ${mine.length} requests (${mine.map((d) => `${d.verb} ${d.resource ?? ''}`.trim()).join(', ')}) for ${refused.length} failed activities: a refused call was tried again`);
  }
  return problems;
}
