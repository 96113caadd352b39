import type { SetWeightStep } from '../../../domain/spec';
import { changeOptions, changes } from '../proxies';
import { changeOverDrift } from '../drift';
import type { Run } from './run';

/** Moves the canary's share of traffic, after pushing the undo that puts traffic back where the known-good had it. */
export const setWeight: Run<SetWeightStep> = async ({ weight }, { stage }) => {
  if (!stage.hasUndo('restoreTraffic')) {
    stage.pushUndo({ kind: 'restoreTraffic', region: stage.name, key: stage.key('undo-traffic'), weight: stage.knownGood.weight });
  }
  await changeOverDrift(stage, (acceptDrift) =>
    changes.setWeight.executeWithOptions(changeOptions(stage.region.target, `setWeight ${stage.name} to ${weight}%`), [
      { ...stage.ref(`weight-${weight}`), weight, ...(acceptDrift ? { acceptDrift } : {}) },
    ]),
  );
  stage.update({ weight });
  stage.record('set-weight', `canary weight set to ${weight}%`, { weight });
};
