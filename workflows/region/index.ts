import { ApplicationFailure, CancellationScope, isCancellation, patched } from '@temporalio/workflow';
import { rootMessage } from '../../domain/errors';
import { FAILURE } from '../../domain/vocabulary';
import type { RegionInput, RegionOutcome } from '../definitions';
import { expandDatabase } from './expand';
import { waitForHealth } from './health';
import { RegionStage } from './stage';
import { runSteps } from './steps/index';
import { waitForWindow } from './window';
import { bake, deployCanary, promote, snapshot } from './workload';

/**
 * One region's stage: wait for its deployment window and for its health, snapshot known-good,
 * expand its database, deploy the canary, run the steps, promote, bake. It never undoes anything
 * itself: it pushes each undo before the change it reverses and hands the stack to the parent,
 * which runs the saga for every region in order.
 */
export async function regionRolloutWorkflow(input: RegionInput): Promise<RegionOutcome> {
  const stage = new RegionStage(input);
  stage.listen();
  const current = patched('coalesced-reports');
  stage.coalesceReports(current);
  // Histories without this patch were recorded by the code before it, and that code's commands.
  if (!current) stage.takePreviousCommands();
  try {
    await waitForWindow(stage);
    if (!input.knownGood && patched('alarm-blocker')) await waitForHealth(stage);
    await stage.waitWhilePaused();
    stage.setPhase('Progressing');
    await snapshot(stage);
    await expandDatabase(stage);
    await deployCanary(stage);
    await runSteps(stage);
    await promote(stage);
    await bake(stage);
    return await stage.complete();
  } catch (err) {
    throw await stageFailure(stage, err);
  }
}

/**
 * What the stage ends with when it stops early: a cancellation by the rollout, a failure a stage
 * already decided on (it carries the outcome), or an unexpected error, which degrades the region.
 */
async function stageFailure(stage: RegionStage, err: unknown): Promise<ApplicationFailure> {
  if (isCancellation(err)) {
    stage.setPhase('Cancelled', 'stopped by the rollout');
    await CancellationScope.nonCancellable(() => stage.report());
    return stage.failure(`${stage.name} stopped by the rollout`, FAILURE.regionCancelled);
  }
  if (err instanceof ApplicationFailure && err.details?.length) {
    await stage.report();
    return err;
  }
  const reason = `${stage.name}: ${rootMessage(err)}`;
  stage.setPhase('Degraded', reason);
  stage.record('stage-error', reason, { failure: FAILURE.regionError });
  await stage.report();
  return stage.failure(reason, FAILURE.regionError);
}
