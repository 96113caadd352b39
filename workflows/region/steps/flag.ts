import type { FlagStep } from '../../../domain/spec';
import { changeOverDrift } from '../drift';
import { flagCalls, toCompletion } from '../proxies';
import type { RegionStage } from '../stage';
import type { Run } from './run';

/**
 * Sets a flag's variant for a fraction of the region's users, at most the region's `maxFraction`.
 * Before the rollout's first change to the flag here it records the flag as it is, and pushes the
 * undo that restores it and then the kill switch, which a rollback runs before anything else.
 */
export const flag: Run<FlagStep> = async (step, { stage, index }) => {
  const { spec, provider, maxFraction } = stage.flag(step.flag);
  const fraction = Math.min(step.fraction, maxFraction ?? 100);
  await snapshotFirst(stage, step.flag);
  const change = { flag: spec, variant: step.variant, fraction };
  await changeOverDrift(stage, (acceptDrift) =>
    flagCalls.applyFlag.executeWithOptions({ summary: `flag ${spec.key} ${step.variant} for ${fraction}% in ${stage.name}` }, [
      { rolloutId: stage.rolloutId, region: stage.name, provider, change, key: stage.key(`flag-${index}`), expected: stage.flagWrites.get(spec.key), ...(acceptDrift ? { acceptDrift } : {}) },
    ]),
  );
  stage.flagWritten(spec.key, { action: 'apply', ...change });
  const capped = fraction < step.fraction ? { requested: step.fraction, maxFraction } : {};
  stage.record('flag', `flag ${spec.key}: ${step.variant} for ${fraction}% of users${fraction < step.fraction ? ` (asked ${step.fraction}%, the region's cap is ${maxFraction}%)` : ''}`, { flag: spec.key, variant: step.variant, fraction, ...capped });
};

async function snapshotFirst(stage: RegionStage, key: string): Promise<void> {
  if (stage.flagWrites.has(key) || stage.hasUndo('restoreFlag', key)) return;
  const { spec, provider } = stage.flag(key);
  const snapshot = await toCompletion(() =>
    flagCalls.snapshotFlag.executeWithOptions({ summary: `snapshot flag ${key} in ${stage.name}` }, [{ rolloutId: stage.rolloutId, region: stage.name, provider, flagKey: key }]),
  );
  stage.record('flag-snapshot', `flag ${key} recorded before any change`, { flag: key, existed: snapshot.definition !== null });
  stage.pushUndo({ kind: 'restoreFlag', region: stage.name, key: stage.key(`undo-flag-${key}`), provider, snapshot });
  stage.pushUndo({ kind: 'killSwitch', region: stage.name, key: stage.key(`kill-${key}`), flag: spec, provider });
}

/** Before each step: a flag someone else changed since the stage last set it pauses the region, as drift does for a Deployment. */
export async function checkFlags(stage: RegionStage): Promise<void> {
  for (const [key, expected] of stage.flagWrites) {
    const { provider } = stage.flag(key);
    await changeOverDrift(stage, async (acceptDrift) => {
      // Accepted: the flag is someone else's until the stage next changes it.
      if (acceptDrift) return void stage.flagWrites.delete(key);
      const drift = await flagCalls.checkFlagDrift.executeWithOptions({ summary: `look for changes to flag ${key} in ${stage.name}` }, [{ rolloutId: stage.rolloutId, region: stage.name, provider, expected }]);
      if (drift.drifted) throw stage.flagDrift(key, drift.differences);
    });
  }
}
