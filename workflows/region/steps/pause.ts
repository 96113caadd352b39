import { sleep } from '@temporalio/workflow';
import { formatDuration } from '../../../domain/duration';
import type { PauseStep } from '../../../domain/spec';
import type { Run } from './run';

/** Holds the canary at its weight for a fixed time, on a durable timer. */
export const pause: Run<PauseStep> = ({ duration }, { stage }) =>
  sleep(duration, { summary: `pause ${stage.name} ${formatDuration(duration)} at ${stage.status.weight}%` });
