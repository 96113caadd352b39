import { formatDuration } from './duration';
import type { ApprovalStep, Step } from './spec';
import { assertNever } from './status';

export function describeStep(step: Step): string {
  switch (step.kind) {
    case 'setWeight':
      return `setWeight ${step.weight}%`;
    case 'pause':
      return `pause ${formatDuration(step.duration)}`;
    case 'approval':
      return `approval ${step.name ?? ''}`.trim() + (step.timeout ? ` (timeout ${formatDuration(step.timeout)}, then ${step.onTimeout ?? 'abort'})` : '');
    case 'flag':
      return `flag ${step.flag} ${step.variant} for ${step.fraction}%`;
    case 'mirror':
      return step.percent === 0 ? 'mirror off' : `mirror ${step.percent}% to the canary for ${formatDuration(step.duration)}`;
    case 'analysis':
      return `analysis ${step.metrics.join(', ')} sustained ${formatDuration(step.sustainedFor)}`;
    default:
      return assertNever(step);
  }
}

/** The name an operator uses to approve a gate: the step's own name, else its position. */
export function gateName(step: ApprovalStep, index: number): string {
  return step.name ?? `step-${index + 1}`;
}

/** Idempotency key of a side effect: the same rollout, region and step never act twice. */
export function effectKey(rolloutId: string, region: string, step: string): string {
  return `${rolloutId}/${region}/${step}`;
}
