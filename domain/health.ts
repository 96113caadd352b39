/**
 * Health judgement: one metric value against its thresholds, and the sustained-health accumulator
 * that folds samples into an analysis outcome (Argo Rollouts' assessMetricStatus semantics).
 * Pure: runs in workflow and activity code alike.
 */
import { formatDuration } from './duration';
import { describeBound, resolveThreshold } from './judge/threshold';
import { show } from './judge/show';
import type { AnalysisStep, MetricSpec } from './spec';
import type { AnalysisProgress, Verdict } from './status';

/**
 * One value against the metric's max/min. Relative bounds (`baseline * 1.2`) resolve against
 * `baseline`; without one the verdict is Inconclusive, since the bound is unknown.
 */
export function judgeMetric(metric: MetricSpec, value: number | undefined, at?: string, baseline?: number): Verdict {
  const resolved = resolveThreshold(metric, baseline);
  const { threshold, derivation } = resolved;
  const base = {
    metric: metric.name,
    threshold,
    ...(at ? { at } : {}),
    ...(resolved.baseline !== undefined ? { baseline: resolved.baseline } : {}),
  };
  if (metric.kind === 'compare') {
    return { ...base, phase: 'Inconclusive', reason: `${metric.name}: a compare metric is judged on canary and stable samples, not one value` };
  }
  if (value === undefined || Number.isNaN(value)) {
    return { ...base, phase: 'Inconclusive', reason: `${metric.name}: no data` };
  }
  const shown = `${metric.name} ${show(value)}`;
  if (resolved.unresolved.length > 0) {
    const bounds = resolved.unresolved.map((b) => describeBound(b, metric[b]!)).join(' and ');
    return { ...base, phase: 'Inconclusive', value, reason: `${shown}: ${bounds} ${resolved.unresolved.length > 1 ? 'need' : 'needs'} the region's baseline, and none was measured` };
  }
  const from = (bound: 'max' | 'min') => (derivation[bound] ? ` (${derivation[bound]})` : '');
  if (threshold.max !== undefined && value > threshold.max) {
    return { ...base, phase: 'Failed', value, reason: `${shown} > max ${show(threshold.max)}${from('max')}` };
  }
  if (threshold.min !== undefined && value < threshold.min) {
    return { ...base, phase: 'Failed', value, reason: `${shown} < min ${show(threshold.min)}${from('min')}` };
  }
  const within = [
    threshold.min !== undefined ? `>= min ${show(threshold.min)}${from('min')}` : undefined,
    threshold.max !== undefined ? `<= max ${show(threshold.max)}${from('max')}` : undefined,
  ].filter(Boolean);
  return { ...base, phase: 'Successful', value, reason: `${shown} ${within.join(' and ')}` };
}

/** The provider could not answer: not a judgement of the service. */
export function errorVerdict(metric: MetricSpec, message: string, at?: string, baseline?: number): Verdict {
  const resolved = resolveThreshold(metric, baseline);
  return {
    phase: 'Error',
    metric: metric.name,
    threshold: resolved.threshold,
    reason: `${metric.name}: provider error: ${message}`,
    ...(at ? { at } : {}),
    ...(resolved.baseline !== undefined ? { baseline: resolved.baseline } : {}),
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
