import { sleep } from '@temporalio/workflow';
import { formatDuration } from '../../../domain/duration';
import type { MirrorStep } from '../../../domain/spec';
import { FAILURE } from '../../../domain/vocabulary';
import type { Run } from './run';

/**
 * Copies `percent` of the region's stable traffic at its edges to the canary as shadow requests,
 * whose answers nobody sees, then holds for `duration`; the mirror stays on until the region is
 * promoted, rolled back, or a mirror step sets another percent.
 */
export const mirror: Run<MirrorStep> = async (step, { stage, index }) => {
  const error = await stage.mirror(step.percent, `mirror-${index}`);
  if (error !== undefined) throw stage.fail(`${stage.name}: could not mirror ${step.percent}% to the canary: ${error}`, FAILURE.mirrorFailed);
  if (step.percent > 0) await sleep(step.duration, { summary: `mirror ${step.percent}% of ${stage.name} to its canary for ${formatDuration(step.duration)}` });
};
