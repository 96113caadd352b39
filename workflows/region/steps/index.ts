import { describeStep } from '../../../domain/steps';
import type { Step } from '../../../domain/spec';
import type { RegionStage } from '../stage';
import { analysis } from './analysis';
import { approval } from './approval';
import { checkFlags, flag } from './flag';
import { mirror } from './mirror';
import { pause } from './pause';
import type { Run, StepRuns } from './run';
import { setWeight } from './set-weight';

/** The runner of each step kind. */
export const STEP_RUNS: StepRuns = { setWeight, pause, approval, analysis, mirror, flag };

/** Runs the region's steps in order; an operator's pause holds the stage before each one. */
export async function runSteps(stage: RegionStage): Promise<void> {
  const { steps } = stage.region;
  for (const [index, step] of steps.entries()) {
    await stage.waitWhilePaused();
    if (stage.flagWrites.size > 0) await checkFlags(stage);
    stage.update({ step: { index, total: steps.length, kind: step.kind, description: describeStep(step) } });
    await stage.report();
    await (STEP_RUNS[step.kind] as Run<Step>)(step, { stage, index });
  }
  stage.update({ step: undefined });
}
