import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argoRegionsTrial, meridianRegionsTrial, REGIONS, type RegionsBed, startRegionsBed } from '../../bench/peers-regions';
import { NEW_IMAGE, OLD_IMAGE, REPLICAS } from '../kubernetes/support';
import { freePort } from '../support/processes';
import { tempDir } from '../support/temp-dir';

/** Scenario 3 of the side-by-side comparison once per tool: three clusters, the third breaches after two are promoted. */
let bed: RegionsBed;

beforeAll(async () => {
  bed = await startRegionsBed({ dir: tempDir('meridian-peers-'), freePort, log: (line) => console.log(`[peers] ${line}`) });
}, 60 * 60_000);

afterAll(async () => {
  await bed?.stop();
}, 120_000);

describe('side by side with Argo Rollouts: three regions, the third breaches after two are promoted', () => {
  it('Meridian returns all three regions, the two promoted ones included, to the known-good version', async () => {
    const t = await meridianRegionsTrial(bed);
    console.log(`[peers] meridian three regions -> known-good: ${t.ms} ms`);
    expect(t.promotedBefore).toEqual(REGIONS.slice(0, 2));
    expect(t.phase).toBe('RolledBack');
    expect(t.ms).toBeGreaterThan(0);
    for (const r of REGIONS) {
      expect(t.end[r]!.canary.replicas, r).toBe(0);
      expect(t.end[r]!.stable, r).toEqual({ replicas: REPLICAS, available: REPLICAS });
      expect(t.end[r]!.runningImages, r).toEqual([OLD_IMAGE]);
    }
  }, 600_000);

  it('Argo Rollouts aborts the third Rollout and leaves the two promoted ones on the new version', async () => {
    const t = await argoRegionsTrial(bed);
    expect(t.promotedBefore).toEqual(REGIONS.slice(0, 2));
    expect(t.breachingBackOnStable).toBe(true);
    expect(t.end[REGIONS[2]]!.runningImages).toEqual([OLD_IMAGE]);
    expect(t.phases[REGIONS[2]]).toBe('Degraded');
    expect(t.stillOnNew).toEqual(REGIONS.slice(0, 2));
    for (const r of REGIONS.slice(0, 2)) {
      expect(t.end[r]!.runningImages, r).toEqual([NEW_IMAGE]);
      expect(t.phases[r], r).toBe('Healthy');
    }
  }, 600_000);
});
