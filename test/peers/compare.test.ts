import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argoTrial, clusterState, meridianTrial, type PeerBed, type Scenario, startPeerBed, type Trial } from '../../bench/peers';
import { argoRestartTrial, DOWN_MS, KILL_AFTER_MS, meridianRestartTrial, PAUSE_MS, type RestartTrial } from '../../bench/peers-restart';
import { rolloutPath } from '../../peers/argo/scenario';
import { deployment, NEW_IMAGE, OLD_IMAGE, REPLICAS } from '../kubernetes/support';
import { freePort } from '../support/processes';
import { tempDir } from '../support/temp-dir';
import { STICKY_QUEUE_TIMEOUT_MS } from '../../worker/index';

/**
 * The side-by-side comparison once per scenario (one trial each), so `npm run bench`'s peers figures
 * cannot rot: breach and abort, and a SIGKILL in the middle of a timed pause, on one bed.
 */
let bed: PeerBed;

beforeAll(async () => {
  bed = await startPeerBed({ dir: tempDir('meridian-peers-'), freePort, log: (line) => console.log(`[peers] ${line}`) });
}, 60 * 60_000);

afterAll(async () => {
  await bed?.stop();
}, 120_000);

async function expectBackOnStable(t: Trial) {
  console.log(`[peers] ${t.tool} ${t.scenario} -> stable: ${t.ms} ms`);
  expect(t.ms).toBeGreaterThan(0);
  // Breach scenario: the tool's own analysis failed; abort scenario: no analysis ran to a failure.
  expect(t.outcome.analysisFailed).toBe(t.scenario === 'breach');
  expect(t.end.canary.replicas).toBe(0);
  expect(t.end.stable).toEqual({ replicas: REPLICAS, available: REPLICAS });
  expect(t.end.runningImages).toEqual([OLD_IMAGE]);
  // Read again after the measurement: the end state holds.
  const now = await clusterState(bed.kube, t.namespace);
  expect(now.canary.replicas).toBe(0);
  expect(now.stable.replicas).toBe(REPLICAS);
  expect(now.runningImages).toEqual([OLD_IMAGE]);
}

describe.each(['breach', 'abort'] as Scenario[])('side by side with Argo Rollouts: %s → stable', (scenario) => {
  it('Meridian ends with the canary at 0 and the stable Deployment at full replicas on the old image', async () => {
    const t = await meridianTrial(bed, scenario);
    await expectBackOnStable(t);
    expect(t.outcome.phase).toBe('RolledBack');
    const stable = (await deployment(bed.kube, t.namespace, 'web'))!;
    expect(stable.spec.template.spec.containers[0].image).toBe(OLD_IMAGE);
    expect(stable.spec.replicas).toBe(REPLICAS);
    const canary = await deployment(bed.kube, t.namespace, 'web-canary');
    expect(canary?.spec.replicas ?? 0).toBe(0);
  }, 300_000);

  it('Argo Rollouts ends with the canary ReplicaSet at 0, the stable one at full replicas, the Rollout aborted', async () => {
    const t = await argoTrial(bed, scenario);
    await expectBackOnStable(t);
    expect(t.outcome.phase).toBe('Degraded');
    const ro = await bed.kube.request('GET', rolloutPath(t.namespace, 'web'));
    expect(ro.status.abort).toBe(true);
    expect(ro.status.phase).toBe('Degraded');
    // The Rollout's template keeps the new image; its pods run the stable ReplicaSet's.
    expect(ro.spec.template.spec.containers[0].image).toBe(NEW_IMAGE);
    expect(ro.status.currentPodHash).not.toBe(ro.status.stableRS);
  }, 300_000);
});

function expectEndedOnNew(t: RestartTrial) {
  console.log(`[peers] ${t.tool} restart mid-step: step ${t.stepMs} ms, restart ${t.restartMs} ms`);
  expect(t.endedCorrectly).toBe(true);
  expect(t.end.canary).toEqual({ replicas: REPLICAS, available: REPLICAS });
  expect(t.end.stable.replicas).toBe(0);
  expect(t.end.runningImages).toEqual([NEW_IMAGE]);
  // The pause is neither skipped by the restart nor left for a resync. Argo Rollouts keeps the
  // pause's start in whole seconds, so its pause may end up to a second early.
  expect(t.stepMs).toBeGreaterThanOrEqual(PAUSE_MS - 1_000);
  expect(t.stepMs).toBeLessThan(PAUSE_MS + KILL_AFTER_MS + DOWN_MS + t.restartMs + 30_000);
}

describe('side by side with Argo Rollouts: controller restart in the middle of a step', () => {
  it('Meridian: the worker killed 2 s into a 6 s pause and restarted, the rollout still ends on the new version', async () => {
    const t = await meridianRestartTrial(bed);
    expectEndedOnNew(t);
    expect(t.phase).toBe('Succeeded');
    console.log(`[peers] meridian workflow tasks timed out after the kill: ${t.workflowTaskTimeouts}, waited ${t.workflowTaskWaitsMs?.join(', ')} ms`);
    // A task the timer scheduled on the killed worker's sticky queue moves to the shared queue
    // after the worker's sticky timeout, not the SDK's 10 s default. The times are the server's.
    for (const wait of t.workflowTaskWaitsMs ?? []) expect(wait).toBeLessThan(STICKY_QUEUE_TIMEOUT_MS + 2_000);
  }, 300_000);

  it('Argo Rollouts: the controller killed at the same point and restarted, the Rollout still ends Healthy on the new version', async () => {
    const t = await argoRestartTrial(bed);
    expectEndedOnNew(t);
    expect(t.phase).toBe('Healthy');
  }, 300_000);
});
