import { describe, expect, it } from 'vitest';
import { judgeMetric } from '../../domain/health';
import { applyRelative, formatRelative, parseRelativeThreshold } from '../../domain/judge/relative';
import { needsBaseline, resolveThreshold } from '../../domain/judge/threshold';
import type { MetricSpec } from '../../domain/spec';

describe('parseRelativeThreshold', () => {
  it.each([
    ['baseline * 1.2', { op: '*', by: 1.2 }],
    ['baseline*2', { op: '*', by: 2 }],
    ['  baseline  +  50 ', { op: '+', by: 50 }],
    ['baseline + 0', { op: '+', by: 0 }],
    ['baseline * .5', { op: '*', by: 0.5 }],
    ['baseline + 0.25', { op: '+', by: 0.25 }],
  ])('%j -> %o', (text, parsed) => expect(parseRelativeThreshold(text)).toEqual(parsed));

  it.each([
    'baseline',
    'baseline * ',
    'baseline x 1.2',
    'baseline - 5',
    'baseline + -5',
    'baseline * 0',
    'baseline * 1e3',
    'baseline * 1.2.3',
    'Baseline * 1.2',
    '1.2 * baseline',
    'baseline * 1.2 + 3',
    '400',
    '',
  ])('rejects %j', (text) => expect(parseRelativeThreshold(text)).toBeUndefined());

  it('formats and applies without float dust', () => {
    expect(formatRelative({ op: '*', by: 1.2 })).toBe('baseline * 1.2');
    expect(applyRelative({ op: '*', by: 1.2 }, 330)).toBe(396);
    expect(applyRelative({ op: '+', by: 0.1 }, 0.2)).toBe(0.3);
  });
});

const latency: MetricSpec = { name: 'latency_p99', provider: { type: 'simulated' }, max: { op: '*', by: 1.2 } };
const errors: MetricSpec = { name: 'error_rate', provider: { type: 'simulated' }, max: { op: '+', by: 0.01 }, min: 0 };
const band: MetricSpec = { name: 'rps', provider: { type: 'simulated' }, min: { op: '*', by: 0.8 }, max: { op: '*', by: 1.5 } };
const absolute: MetricSpec = { name: 'cpu', provider: { type: 'simulated' }, max: 0.9 };

describe('resolveThreshold', () => {
  it.each([
    [latency, 330, { threshold: { max: 396 }, unresolved: [], derivation: { max: 'baseline 330 * 1.2' }, baseline: 330 }],
    [latency, undefined, { threshold: {}, unresolved: ['max'], derivation: {} }],
    [latency, Number.NaN, { threshold: {}, unresolved: ['max'], derivation: {} }],
    [errors, 0.004, { threshold: { max: 0.014, min: 0 }, unresolved: [], derivation: { max: 'baseline 0.004 + 0.01' }, baseline: 0.004 }],
    [errors, undefined, { threshold: { min: 0 }, unresolved: ['max'], derivation: {} }],
    [band, 1000, { threshold: { min: 800, max: 1500 }, unresolved: [], derivation: { max: 'baseline 1000 * 1.5', min: 'baseline 1000 * 0.8' }, baseline: 1000 }],
    [absolute, 0.5, { threshold: { max: 0.9 }, unresolved: [], derivation: {}, baseline: 0.5 }],
  ] as const)('%o with baseline %s', (metric, baseline, expected) => {
    expect(resolveThreshold(metric, baseline)).toEqual(expected);
  });

  it('knows which metrics need a baseline', () => {
    expect([latency, errors, band, absolute].map(needsBaseline)).toEqual([true, true, true, false]);
  });
});

describe('judgeMetric with a baseline', () => {
  it.each([
    [latency, 412, 330, 'Failed', 'latency_p99 412 > max 396 (baseline 330 * 1.2)', { max: 396 }],
    [latency, 396, 330, 'Successful', 'latency_p99 396 <= max 396 (baseline 330 * 1.2)', { max: 396 }],
    [latency, 412, undefined, 'Inconclusive', "latency_p99 412: max baseline * 1.2 needs the region's baseline, and none was measured", {}],
    [errors, 0.02, 0.004, 'Failed', 'error_rate 0.02 > max 0.014 (baseline 0.004 + 0.01)', { max: 0.014, min: 0 }],
    [errors, 0.01, 0.004, 'Successful', 'error_rate 0.01 >= min 0 and <= max 0.014 (baseline 0.004 + 0.01)', { max: 0.014, min: 0 }],
    [errors, 0.5, undefined, 'Inconclusive', "error_rate 0.5: max baseline + 0.01 needs the region's baseline, and none was measured", { min: 0 }],
    [band, 700, 1000, 'Failed', 'rps 700 < min 800 (baseline 1000 * 0.8)', { min: 800, max: 1500 }],
    [band, 900, undefined, 'Inconclusive', "rps 900: max baseline * 1.5 and min baseline * 0.8 need the region's baseline, and none was measured", {}],
    [absolute, 0.95, 0.5, 'Failed', 'cpu 0.95 > max 0.9', { max: 0.9 }],
  ] as const)('%o at %d, baseline %s -> %s', (metric, value, baseline, phase, reason, threshold) => {
    const v = judgeMetric(metric, value, undefined, baseline);
    expect(v).toEqual({
      phase,
      metric: metric.name,
      value,
      threshold,
      reason,
      ...(baseline !== undefined ? { baseline } : {}),
    });
  });

  it('no data stays no data, with or without a baseline', () => {
    expect(judgeMetric(latency, undefined, undefined, 330)).toMatchObject({ phase: 'Inconclusive', reason: 'latency_p99: no data', baseline: 330 });
    expect(judgeMetric(latency, undefined).reason).toBe('latency_p99: no data');
  });

  it('a compare metric is not judged on one value', () => {
    const compare: MetricSpec = { name: 'latency', kind: 'compare', provider: { type: 'simulated' }, compare: { confidence: 0.95, direction: 'increase' } };
    expect(judgeMetric(compare, 100).phase).toBe('Inconclusive');
  });
});
