/**
 * Health judgement: one metric value against its thresholds, and the sustained-health accumulator
 * that folds samples into an analysis outcome (Argo Rollouts' assessMetricStatus semantics).
 * Pure: runs in workflow and activity code alike.
 */
import { formatDuration } from './duration';
import type { AnalysisStep, MetricSpec } from './spec';
import type { AnalysisProgress, Verdict } from './status';

function show(n: number): string {
  return String(Number(n.toPrecision(6)));
}

function thresholdOf(metric: MetricSpec): Verdict['threshold'] {
  const threshold: Verdict['threshold'] = {};
  if (metric.max !== undefined) threshold.max = metric.max;
  if (metric.min !== undefined) threshold.min = metric.min;
  return threshold;
}

export function judgeMetric(metric: MetricSpec, value: number | undefined, at?: string): Verdict {
  const base = { metric: metric.name, threshold: thresholdOf(metric), ...(at ? { at } : {}) };
  if (value === undefined || Number.isNaN(value)) {
    return { ...base, phase: 'Inconclusive', reason: `${metric.name}: no data` };
  }
  const shown = `${metric.name} ${show(value)}`;
  if (metric.max !== undefined && value > metric.max) {
    return { ...base, phase: 'Failed', value, reason: `${shown} > max ${show(metric.max)}` };
  }
  if (metric.min !== undefined && value < metric.min) {
    return { ...base, phase: 'Failed', value, reason: `${shown} < min ${show(metric.min)}` };
  }
  const within = [
    metric.min !== undefined ? `>= min ${show(metric.min)}` : undefined,
    metric.max !== undefined ? `<= max ${show(metric.max)}` : undefined,
  ].filter(Boolean);
  return { ...base, phase: 'Successful', value, reason: `${shown} ${within.join(' and ')}` };
}

/** The provider could not answer: not a judgement of the service. */
export function errorVerdict(metric: MetricSpec, message: string, at?: string): Verdict {
  return {
    phase: 'Error',
    metric: metric.name,
    threshold: thresholdOf(metric),
    reason: `${metric.name}: provider error: ${message}`,
    ...(at ? { at } : {}),
  };
}

function startProgress(step: AnalysisStep): AnalysisProgress {
  return {
    outcome: 'Running',
    sustained: {
      healthyForMs: 0,
      requiredMs: step.sustainedFor,
      samples: 0,
      minSamples: step.minSamples,
      failures: 0,
      inconclusives: 0,
    },
    consecutiveErrors: 0,
    verdicts: [],
    reason: 'no samples yet',
  };
}

function reasons(verdicts: Verdict[], phase: Verdict['phase']): string {
  return verdicts
    .filter((v) => v.phase === phase)
    .map((v) => v.reason)
    .join('; ');
}

/**
 * Folds one sample (a verdict per metric) into the progress of an analysis step.
 * `sustained.samples` counts the samples of the current unbroken healthy run, so a failure below the
 * limit restarts both the clock and the count, and minSamples bounds the evidence a pass rests on.
 */
export function assessSample(
  progress: AnalysisProgress | undefined,
  verdicts: Verdict[],
  nowMs: number,
  step: AnalysisStep,
): AnalysisProgress {
  const prev = progress ?? startProgress(step);
  const erred = verdicts.some((v) => v.phase === 'Error');
  const consecutiveErrors = erred ? prev.consecutiveErrors + 1 : 0;
  let { failures, inconclusives } = prev.sustained;
  let healthySince: number | undefined;
  let samples = 0;
  let note: string;

  if (verdicts.some((v) => v.phase === 'Failed')) {
    failures += 1;
    note = `${reasons(verdicts, 'Failed')} (failure ${failures} of limit ${step.failureLimit})`;
  } else if (erred && consecutiveErrors > step.consecutiveErrorLimit) {
    inconclusives += 1;
    note =
      `${reasons(verdicts, 'Error')} (${consecutiveErrors} errors in a row > limit ${step.consecutiveErrorLimit}; ` +
      `inconclusive ${inconclusives} of limit ${step.inconclusiveLimit})`;
  } else if (erred) {
    note = `${reasons(verdicts, 'Error')} (${consecutiveErrors} errors in a row of limit ${step.consecutiveErrorLimit})`;
  } else if (verdicts.some((v) => v.phase === 'Inconclusive')) {
    inconclusives += 1;
    note = `${reasons(verdicts, 'Inconclusive')} (inconclusive ${inconclusives} of limit ${step.inconclusiveLimit})`;
  } else {
    healthySince = prev.healthySince ?? nowMs;
    samples = prev.sustained.samples + 1;
    const healthyFor = nowMs - healthySince;
    const count = samples >= step.minSamples ? `${samples} sample${samples === 1 ? '' : 's'}` : `${samples} of ${step.minSamples} samples`;
    note = `healthy for ${formatDuration(healthyFor)} of ${formatDuration(step.sustainedFor)} (${count})`;
  }

  const healthyForMs = healthySince === undefined ? 0 : nowMs - healthySince;
  let outcome: AnalysisProgress['outcome'] = 'Running';
  if (failures > step.failureLimit) outcome = 'Failed';
  else if (inconclusives > step.inconclusiveLimit) outcome = 'Inconclusive';
  else if (healthySince !== undefined && healthyForMs >= step.sustainedFor && samples >= step.minSamples) {
    outcome = 'Successful';
  }

  return {
    outcome,
    sustained: {
      healthyForMs,
      requiredMs: step.sustainedFor,
      samples,
      minSamples: step.minSamples,
      failures,
      inconclusives,
    },
    consecutiveErrors,
    verdicts,
    reason: note,
    ...(healthySince !== undefined ? { healthySince } : {}),
  };
}
