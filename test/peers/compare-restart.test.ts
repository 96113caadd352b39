import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PeerBed, startPeerBed } from '../../bench/peers';
import { argoRestartTrial, DOWN_MS, KILL_AFTER_MS, meridianRestartTrial, PAUSE_MS, type RestartTrial } from '../../bench/peers-restart';
import { NEW_IMAGE, REPLICAS } from '../kubernetes/support';
import { freePort } from '../support/processes';
import { tempDir } from '../support/temp-dir';

/** Scenario 4 of the side-by-side comparison once per tool: a SIGKILL in the middle of a timed pause, then a restart. */
let bed: PeerBed;

beforeAll(async () => {
  bed = await startPeerBed({ dir: tempDir('meridian-peers-'), freePort, log: (line) => console.log(`[peers] ${line}`) });
}, 60 * 60_000);

afterAll(async () => {
  await bed?.stop();
}, 120_000);

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
    console.log(`[peers] meridian workflow tasks timed out after the kill: ${t.workflowTaskTimeouts}`);
  }, 300_000);

  it('Argo Rollouts: the controller killed at the same point and restarted, the Rollout still ends Healthy on the new version', async () => {
    const t = await argoRestartTrial(bed);
    expectEndedOnNew(t);
    expect(t.phase).toBe('Healthy');
  }, 300_000);
});
