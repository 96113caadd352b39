import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argoTrial, clusterState, meridianTrial, type PeerBed, type Scenario, startPeerBed, type Trial } from '../../bench/peers';
import { rolloutPath } from '../../peers/argo/scenario';
import { deployment, NEW_IMAGE, OLD_IMAGE, REPLICAS } from '../kubernetes/support';
import { freePort } from '../support/processes';
import { tempDir } from '../support/temp-dir';

/** The side-by-side comparison once per scenario (one trial each), so `npm run bench`'s peers figures cannot rot. */
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
