import { describe, expect, it } from 'vitest';
import type { AnalysisProgress } from '../../activities/types';
import { assessSample, errorVerdict, judgeMetric } from '../../domain/health';
import type { AnalysisStep, MetricSpec } from '../../domain/spec';
import type { Verdict } from '../../domain/status';

const errorRate: MetricSpec = { name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 };
const latency: MetricSpec = { name: 'latency_p99_ms', provider: { type: 'simulated' }, max: 400 };
const success: MetricSpec = { name: 'success_rate', provider: { type: 'simulated' }, min: 0.99, max: 1 };

describe('judgeMetric', () => {
  it.each([
    [errorRate, 0.004, 'Successful', 'error_rate 0.004 <= max 0.02'],
    [errorRate, 0.02, 'Successful', 'error_rate 0.02 <= max 0.02'],
    [errorRate, 0.08, 'Failed', 'error_rate 0.08 > max 0.02'],
    [success, 0.98, 'Failed', 'success_rate 0.98 < min 0.99'],
    [success, 0.995, 'Successful', 'success_rate 0.995 >= min 0.99 and <= max 1'],
    [success, 1.5, 'Failed', 'success_rate 1.5 > max 1'],
    [errorRate, undefined, 'Inconclusive', 'error_rate: no data'],
    [errorRate, Number.NaN, 'Inconclusive', 'error_rate: no data'],
  ] as const)('%o at %s -> %s', (metric, value, phase, reason) => {
    const v = judgeMetric(metric, value, '2025-01-01T00:00:00.000Z');
    expect({ phase: v.phase, reason: v.reason, metric: v.metric, at: v.at }).toEqual({
      phase,
      reason,
      metric: metric.name,
      at: '2025-01-01T00:00:00.000Z',
    });
    expect(v.threshold).toEqual(metric.min === undefined ? { max: metric.max } : { min: metric.min, max: metric.max });
  });

  it('keeps the value it judged', () => {
    expect(judgeMetric(latency, 512, undefined)).toEqual({
      phase: 'Failed',
      metric: 'latency_p99_ms',
      value: 512,
      threshold: { max: 400 },
      reason: 'latency_p99_ms 512 > max 400',
    });
  });

  it('errorVerdict is an Error, not a judgement', () => {
    expect(errorVerdict(errorRate, 'connection refused')).toEqual({
      phase: 'Error',
      metric: 'error_rate',
      threshold: { max: 0.02 },
      reason: 'error_rate: provider error: connection refused',
    });
  });
});

const S = 1000;
const M = 60 * S;
const ok: Verdict[] = [judgeMetric(errorRate, 0.004), judgeMetric(latency, 180)];
const bad: Verdict[] = [judgeMetric(errorRate, 0.08), judgeMetric(latency, 180)];
const noData: Verdict[] = [judgeMetric(errorRate, undefined), judgeMetric(latency, 180)];
const down: Verdict[] = [errorVerdict(errorRate, 'connection refused'), judgeMetric(latency, 180)];
const badAndNoData: Verdict[] = [judgeMetric(errorRate, 0.08), judgeMetric(latency, undefined)];

function step(overrides: Partial<AnalysisStep> = {}): AnalysisStep {
  return {
    kind: 'analysis',
    metrics: ['error_rate', 'latency_p99_ms'],
    interval: S,
    sustainedFor: 3 * S,
    failureLimit: 0,
    inconclusiveLimit: 0,
    consecutiveErrorLimit: 4,
    minSamples: 1,
    ...overrides,
  };
}

function run(s: AnalysisStep, samples: [number, Verdict[]][]): { outcomes: string[]; last: AnalysisProgress } {
  let progress: AnalysisProgress | undefined;
  const outcomes: string[] = [];
  for (const [at, verdicts] of samples) {
    progress = assessSample(progress, verdicts, at, s);
    outcomes.push(progress.outcome);
  }
  return { outcomes, last: progress! };
}

interface Case {
  name: string;
  step: Partial<AnalysisStep>;
  samples: [number, Verdict[]][];
  outcomes: string[];
  reason: string;
  sustained: Partial<AnalysisProgress['sustained']>;
  consecutiveErrors?: number;
  healthySince?: number;
}

const cases: Case[] = [
  {
    name: 'healthy long enough with enough samples passes',
    step: { sustainedFor: 3 * S, minSamples: 3 },
    samples: [[0, ok], [S, ok], [2 * S, ok], [3 * S, ok]],
    outcomes: ['Running', 'Running', 'Running', 'Successful'],
    reason: 'healthy for 3s of 3s (4 samples)',
    sustained: { healthyForMs: 3 * S, requiredMs: 3 * S, samples: 4, minSamples: 3, failures: 0, inconclusives: 0 },
    healthySince: 0,
  },
  {
    name: 'sustainedFor 0 passes on the first healthy sample',
    step: { sustainedFor: 0 },
    samples: [[5 * S, ok]],
    outcomes: ['Successful'],
    reason: 'healthy for 0ms of 0ms (1 sample)',
    sustained: { healthyForMs: 0, samples: 1 },
    healthySince: 5 * S,
  },
  {
    name: 'minSamples keeps a long healthy period from passing on too few samples',
    step: { interval: 10 * M, sustainedFor: 10 * M, minSamples: 3 },
    samples: [[0, ok], [10 * M, ok]],
    outcomes: ['Running', 'Running'],
    reason: 'healthy for 10m of 10m (2 of 3 samples)',
    sustained: { healthyForMs: 10 * M, samples: 2, minSamples: 3 },
    healthySince: 0,
  },
  {
    name: '...and passes once the samples are in',
    step: { interval: 10 * M, sustainedFor: 10 * M, minSamples: 3 },
    samples: [[0, ok], [10 * M, ok], [20 * M, ok]],
    outcomes: ['Running', 'Running', 'Successful'],
    reason: 'healthy for 20m of 10m (3 samples)',
    sustained: { healthyForMs: 20 * M, samples: 3 },
  },
  {
    name: 'a failure over the limit fails with the metric reason',
    step: {},
    samples: [[0, ok], [S, bad]],
    outcomes: ['Running', 'Failed'],
    reason: 'error_rate 0.08 > max 0.02 (failure 1 of limit 0)',
    sustained: { failures: 1, healthyForMs: 0, samples: 0 },
  },
  {
    name: 'a failure below the limit resets the healthy window',
    step: { failureLimit: 1, sustainedFor: 3 * S },
    samples: [[0, ok], [S, ok], [2 * S, ok], [2500, bad], [3 * S, ok], [4 * S, ok], [5 * S, ok]],
    outcomes: ['Running', 'Running', 'Running', 'Running', 'Running', 'Running', 'Running'],
    reason: 'healthy for 2s of 3s (3 samples)',
    sustained: { healthyForMs: 2 * S, samples: 3, failures: 1 },
    healthySince: 3 * S,
  },
  {
    name: '...and the reset window passes later on its own',
    step: { failureLimit: 1, sustainedFor: 3 * S },
    samples: [[0, ok], [S, ok], [2 * S, ok], [2500, bad], [3 * S, ok], [4 * S, ok], [5 * S, ok], [6 * S, ok]],
    outcomes: ['Running', 'Running', 'Running', 'Running', 'Running', 'Running', 'Running', 'Successful'],
    reason: 'healthy for 3s of 3s (4 samples)',
    sustained: { healthyForMs: 3 * S, samples: 4, failures: 1 },
  },
  {
    name: 'the failure that tips the limit fails',
    step: { failureLimit: 1 },
    samples: [[0, bad], [S, ok], [2 * S, bad]],
    outcomes: ['Running', 'Running', 'Failed'],
    reason: 'error_rate 0.08 > max 0.02 (failure 2 of limit 1)',
    sustained: { failures: 2 },
  },
  {
    name: 'the reason of a failure below the limit says so',
    step: { failureLimit: 2 },
    samples: [[0, bad]],
    outcomes: ['Running'],
    reason: 'error_rate 0.08 > max 0.02 (failure 1 of limit 2)',
    sustained: { failures: 1, healthyForMs: 0, samples: 0 },
  },
  {
    name: 'no data over the limit is inconclusive',
    step: {},
    samples: [[0, ok], [S, noData]],
    outcomes: ['Running', 'Inconclusive'],
    reason: 'error_rate: no data (inconclusive 1 of limit 0)',
    sustained: { inconclusives: 1, healthyForMs: 0 },
  },
  {
    name: 'no data below the limit resets the window',
    step: { inconclusiveLimit: 1 },
    samples: [[0, ok], [S, ok], [2 * S, noData], [3 * S, ok]],
    outcomes: ['Running', 'Running', 'Running', 'Running'],
    reason: 'healthy for 0ms of 3s (1 sample)',
    sustained: { inconclusives: 1, healthyForMs: 0, samples: 1 },
    healthySince: 3 * S,
  },
  {
    name: 'a failed metric outweighs a missing one in the same sample',
    step: { inconclusiveLimit: 5, failureLimit: 0 },
    samples: [[0, badAndNoData]],
    outcomes: ['Failed'],
    reason: 'error_rate 0.08 > max 0.02 (failure 1 of limit 0)',
    sustained: { failures: 1, inconclusives: 0 },
  },
  {
    name: 'provider errors up to the limit keep running but reset the window',
    step: { consecutiveErrorLimit: 2 },
    samples: [[0, ok], [S, down], [2 * S, down]],
    outcomes: ['Running', 'Running', 'Running'],
    reason: 'error_rate: provider error: connection refused (2 errors in a row of limit 2)',
    sustained: { healthyForMs: 0, samples: 0, failures: 0, inconclusives: 0 },
    consecutiveErrors: 2,
  },
  {
    name: 'errors past the limit count as inconclusive',
    step: { consecutiveErrorLimit: 2 },
    samples: [[0, down], [S, down], [2 * S, down]],
    outcomes: ['Running', 'Running', 'Inconclusive'],
    reason: 'error_rate: provider error: connection refused (3 errors in a row > limit 2; inconclusive 1 of limit 0)',
    sustained: { inconclusives: 1, failures: 0 },
    consecutiveErrors: 3,
  },
  {
    name: 'a sample without errors resets the error count',
    step: { consecutiveErrorLimit: 2 },
    samples: [[0, down], [S, down], [2 * S, ok], [3 * S, down], [4 * S, down]],
    outcomes: ['Running', 'Running', 'Running', 'Running', 'Running'],
    reason: 'error_rate: provider error: connection refused (2 errors in a row of limit 2)',
    sustained: { inconclusives: 0 },
    consecutiveErrors: 2,
  },
];

describe('assessSample', () => {
  it.each(cases)('$name', (c) => {
    const { outcomes, last } = run(step(c.step), c.samples);
    expect(outcomes).toEqual(c.outcomes);
    expect(last.reason).toBe(c.reason);
    expect(last.sustained).toMatchObject(c.sustained);
    expect(last.consecutiveErrors).toBe(c.consecutiveErrors ?? 0);
    if ('healthySince' in c) expect(last.healthySince).toBe(c.healthySince);
    expect(last.verdicts).toEqual(c.samples.at(-1)![1]);
  });

  it('continues from a checkpoint exactly as from one run', () => {
    const s = step({ sustainedFor: 3 * S, minSamples: 3 });
    const first = assessSample(assessSample(undefined, ok, 0, s), ok, S, s);
    const resumed = assessSample(structuredClone(first), ok, 3 * S, s);
    expect(resumed.outcome).toBe('Successful');
    expect(resumed.sustained).toMatchObject({ healthyForMs: 3 * S, samples: 3 });
  });
});
