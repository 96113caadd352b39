import { sleep } from '@temporalio/workflow';
import { formatDuration } from '../../domain/duration';
import { targetTraits } from '../../domain/targets';
import { FAILURE } from '../../domain/vocabulary';
import { changeOptions, changes, reads, toCompletion } from './proxies';
import { changeOverDrift } from './drift';
import type { RegionStage } from './stage';

/** Records what the region runs before any change, unless a held region running again already has it. */
export async function snapshot(stage: RegionStage): Promise<void> {
  let knownGood = stage.priorKnownGood;
  if (!knownGood) {
    knownGood = await toCompletion(() => reads.snapshotRegion.executeWithOptions(changeOptions(stage.region.target, `snapshot ${stage.name}`), [stage.ref('snapshot')]));
    stage.record('snapshot', `known-good recorded: ${knownGood.image} at ${knownGood.weight}%`, { ...knownGood });
  }
  stage.update({ snapshot: knownGood, weight: knownGood.weight });
}

/** Starts the canary at no traffic, after pushing the undo that restores the known-good workload. */
export async function deployCanary(stage: RegionStage): Promise<void> {
  const { plan } = stage;
  stage.pushUndo({ kind: 'restoreWorkload', region: stage.name, key: stage.key('undo-workload'), snapshot: stage.knownGood });
  await toCompletion(() =>
    changes.deployCanary.executeWithOptions(changeOptions(stage.region.target, `deploy canary ${stage.name}`), [
      { ...stage.ref('deploy'), image: plan.image, config: plan.config },
    ]),
  );
  stage.record('deploy-canary', `canary ${plan.image} deployed`, { image: plan.image });
}

/** The canary becomes the region's stable version at 100%. */
export async function promote(stage: RegionStage): Promise<void> {
  const { plan, region } = stage;
  await stage.waitWhilePaused();
  if (stage.mirrored > 0) {
    const error = await stage.mirror(0, 'mirror-off');
    if (error !== undefined) throw stage.fail(`${stage.name}: could not stop mirroring to the canary before promotion: ${error}`, FAILURE.mirrorFailed);
  }
  const snapshot = targetTraits(region.target).promoteNeedsSnapshot ? { snapshot: stage.knownGood } : {};
  await changeOverDrift(stage, (acceptDrift) =>
    changes.promote.executeWithOptions(changeOptions(region.target, `promote ${stage.name}`), [
      { ...stage.ref('promote'), image: plan.image, config: plan.config, ...snapshot, ...(acceptDrift ? { acceptDrift } : {}) },
    ]),
  );
  stage.update({ weight: 100 });
  stage.record('promoted', `${plan.image} promoted to 100%`, { image: plan.image });
  // Dependents waiting for `promoted` in this region start now, not after the bake.
  if (stage.member) await stage.report();
}

/** Watches the promoted region for the bake time before the stage counts it promoted. */
export async function bake(stage: RegionStage): Promise<void> {
  const { bakeMs } = stage.region;
  if (bakeMs > 0) {
    stage.setPhase('Baking', `baking for ${formatDuration(bakeMs)}`);
    await stage.report();
    await sleep(bakeMs, { summary: `bake ${stage.name} ${formatDuration(bakeMs)}` });
  }
  stage.setPhase('Promoted');
}
