import { describe, expect, it } from 'vitest';
import { judgeCompare, medianRatio, MIN_COMPARE_SAMPLES } from '../../domain/judge/compare';
import type { CompareSpec, MetricSpec } from '../../domain/spec';

function metric(compare?: Partial<CompareSpec>): MetricSpec {
  return {
    name: 'latency_p99_ms',
    kind: 'compare',
    provider: { type: 'simulated' },
    ...(compare ? { compare: { confidence: 0.95, direction: 'increase', ...compare } } : {}),
  };
}

// Latency samples of one region, canary against stable. Expected U and p: scipy.stats.mannwhitneyu
// 1.17.1 (canary, stable, method='asymptotic'; the samples have ties, so the normal approximation).
const stable = [100, 102, 98, 101, 99, 103, 97, 100, 101, 99];
const slow = [130, 128, 135, 131, 129, 133, 127, 132, 130, 134]; // U=100, p(greater)=8.930724418684081e-05
const slight = [103, 105, 101, 104, 102, 106, 100, 103, 104, 102]; // U=88, p(greater)=0.0021578596512529663
const fast = [80, 78, 83, 81, 79, 82, 77, 84, 80, 81]; // U=0, p(less)=8.880533034448187e-05, two-sided 0.00017761066068896375

describe('judgeCompare', () => {
  it.each([
    ['a slow canary', metric({ allowedIncrease: 1.1 }), slow, 'Failed',
      'latency_p99_ms canary median 130.5 vs stable 100 (x1.305): significantly higher, beyond allowed x1.1 (U=100, p=8.93e-5 < 0.05, r=1, shift +31)'],
    ['a slow canary, no allowance given', metric(), slow, 'Failed',
      'latency_p99_ms canary median 130.5 vs stable 100 (x1.305): significantly higher, beyond allowed x1 (U=100, p=8.93e-5 < 0.05, r=1, shift +31)'],
    ['a slow canary within a generous allowance', metric({ allowedIncrease: 1.5 }), slow, 'Successful',
      'latency_p99_ms canary median 130.5 vs stable 100 (x1.305): significantly higher, within allowed x1.5 (U=100, p=8.93e-5 < 0.05, r=1, shift +31)'],
    ['a slightly slower canary', metric({ allowedIncrease: 1.1 }), slight, 'Successful',
      'latency_p99_ms canary median 103 vs stable 100 (x1.03): significantly higher, within allowed x1.1 (U=88, p=0.00216 < 0.05, r=0.76, shift +3)'],
    ['a canary like stable', metric({ allowedIncrease: 1.1 }), stable, 'Successful',
      'latency_p99_ms canary median 100 vs stable 100 (x1): no significant increase (U=50, p=0.515 >= 0.05, r=0, shift 0)'],
    ['a faster canary when higher is worse', metric({ allowedIncrease: 1.1 }), fast, 'Successful',
      'latency_p99_ms canary median 80.5 vs stable 100 (x0.805): no significant increase (U=0, p=1 >= 0.05, r=-1, shift -19.5)'],
    ['a lower canary when lower is worse', metric({ direction: 'decrease', allowedDecrease: 0.9 }), fast, 'Failed',
      'latency_p99_ms canary median 80.5 vs stable 100 (x0.805): significantly lower, beyond allowed x0.9 (U=0, p=8.88e-5 < 0.05, r=-1, shift -19.5)'],
    ['a lower canary, either way is worse', metric({ direction: 'either', allowedIncrease: 1.1, allowedDecrease: 0.9 }), fast, 'Failed',
      'latency_p99_ms canary median 80.5 vs stable 100 (x0.805): significantly lower, beyond allowed x0.9 (U=0, p=1.78e-4 < 0.05, r=-1, shift -19.5)'],
    ['a slow canary, either way is worse', metric({ direction: 'either', allowedIncrease: 1.1, allowedDecrease: 0.9 }), slow, 'Failed',
      'latency_p99_ms canary median 130.5 vs stable 100 (x1.305): significantly higher, beyond allowed x1.1 (U=100, p=1.79e-4 < 0.05, r=1, shift +31)'],
    ['a slightly slower canary at a confidence its p-value does not reach', metric({ confidence: 0.999 }), slight, 'Successful',
      'latency_p99_ms canary median 103 vs stable 100 (x1.03): no significant increase (U=88, p=0.00216 >= 0.001, r=0.76, shift +3)'],
    ['a slow canary at 99.99% confidence', metric({ confidence: 0.9999 }), slow, 'Failed',
      'latency_p99_ms canary median 130.5 vs stable 100 (x1.305): significantly higher, beyond allowed x1 (U=100, p=8.93e-5 < 0.0001, r=1, shift +31)'],
  ] as const)('%s -> %s', (_, m, canary, phase, reason) => {
    const v = judgeCompare(m, canary, stable);
    expect({ phase: v.phase, reason: v.reason }).toEqual({ phase, reason });
  });

  it('reports the effect and a threshold on the canary median', () => {
    const v = judgeCompare(metric({ allowedIncrease: 1.1 }), slow, stable, '2025-01-01T00:00:00.000Z');
    expect(v).toMatchObject({ metric: 'latency_p99_ms', value: 130.5, threshold: { max: 110 }, at: '2025-01-01T00:00:00.000Z' });
    expect(v.effect).toEqual({ u: 100, p: expect.any(Number), rankBiserial: 1, shift: 31, canaryMedian: 130.5, stableMedian: 100 });
    expect(Math.abs(v.effect!.p - 8.930724418684081e-5) / 8.930724418684081e-5).toBeLessThan(1e-12);
  });

  it('thresholds follow the direction', () => {
    expect(judgeCompare(metric({ direction: 'decrease', allowedDecrease: 0.9 }), fast, stable).threshold).toEqual({ min: 90 });
    expect(judgeCompare(metric({ direction: 'either', allowedIncrease: 1.2, allowedDecrease: 0.8 }), fast, stable).threshold).toEqual({ max: 120, min: 80 });
  });

  it.each([
    [slow.slice(0, MIN_COMPARE_SAMPLES - 1), stable, 'canary 4, stable 10'],
    [slow, stable.slice(0, 3), 'canary 10, stable 3'],
    [[1, 2, Number.NaN, 3, Number.POSITIVE_INFINITY, 4], stable, 'canary 4, stable 10'],
  ])('too few samples is inconclusive (%#)', (canary, base, counts) => {
    const v = judgeCompare(metric({ allowedIncrease: 1.1 }), canary, base);
    expect(v).toEqual({
      phase: 'Inconclusive',
      metric: 'latency_p99_ms',
      threshold: {},
      reason: `latency_p99_ms: too few samples to compare (${counts}; need 5 each)`,
    });
  });

  it('drops values that are not numbers before testing', () => {
    const v = judgeCompare(metric({ allowedIncrease: 1.1 }), [...slow, Number.NaN], stable);
    expect(v.phase).toBe('Failed');
    expect(v.effect?.u).toBe(100);
  });

  it('defaults apply when the compare block is absent', () => {
    expect(judgeCompare(metric(), slight, stable).phase).toBe('Failed');
    expect(judgeCompare(metric(), fast, stable).phase).toBe('Successful');
  });
});

describe('medianRatio', () => {
  it.each([
    [130, 100, 1.3],
    [80, 100, 0.8],
    [5, 0, Number.POSITIVE_INFINITY],
    [-5, 0, Number.NEGATIVE_INFINITY],
    [0, 0, 1],
    [-8, -10, 1.2],
    [-12, -10, 0.8],
  ])('%d against %d is %d', (c, s, r) => expect(medianRatio(c, s)).toBeCloseTo(r, 12));
});
