/**
 * Canary against stable in the same region, as Kayenta's NetflixACAJudge does: a Mann-Whitney U
 * test says whether the canary is significantly worse, and the ratio of the medians says whether
 * the difference matters. Failed needs both.
 */
import type { MetricSpec } from '../spec';
import type { CompareEffect, Verdict } from '../status';
import { mannWhitneyU } from './mann-whitney';
import type { CompareSettings } from './metric-schema';
import { show } from './show';

/** Fewer samples than this on either side is too little evidence for a verdict. */
export const MIN_COMPARE_SAMPLES = 5;

export const DEFAULT_COMPARE: CompareSettings = { confidence: 0.95, direction: 'increase' };

type Side = 'higher' | 'lower';

/**
 * How far the canary's median moved against the stable median, as a ratio: canary / stable for a
 * positive stable median, and 1 + (canary - stable) / |stable| in general, so the sign of a move
 * survives a negative or zero stable median.
 */
export function medianRatio(canaryMedian: number, stableMedian: number): number {
  const moved = canaryMedian - stableMedian;
  if (moved === 0) return 1;
  if (stableMedian === 0) return moved > 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  return 1 + moved / Math.abs(stableMedian);
}

/** Three significant digits; small p-values in exponent form (`8.93e-5`). */
function p3(p: number): string {
  return p > 0 && p < 0.001 ? p.toExponential(2).replace(/\.?0+e/, 'e') : String(Number(p.toPrecision(3)));
}

function signed(n: number): string {
  return n > 0 ? `+${show(n)}` : show(n);
}

function scaled(median: number, factor: number): number {
  return Number((median * factor).toPrecision(12));
}

export function judgeCompare(metric: MetricSpec, canary: readonly number[], stable: readonly number[], at?: string): Verdict {
  const settings = metric.compare ?? DEFAULT_COMPARE;
  const up = settings.allowedIncrease ?? 1;
  const down = settings.allowedDecrease ?? 1;
  const c = canary.filter(Number.isFinite);
  const s = stable.filter(Number.isFinite);
  const base = { metric: metric.name, ...(at ? { at } : {}) };
  if (c.length < MIN_COMPARE_SAMPLES || s.length < MIN_COMPARE_SAMPLES) {
    return {
      ...base,
      phase: 'Inconclusive',
      threshold: {},
      reason: `${metric.name}: too few samples to compare (canary ${c.length}, stable ${s.length}; need ${MIN_COMPARE_SAMPLES} each)`,
    };
  }

  const mw = mannWhitneyU(c, s);
  const ratio = medianRatio(mw.medianX, mw.medianY);
  const alpha = 1 - settings.confidence;
  let side: Side;
  let p: number;
  if (settings.direction === 'increase') [side, p] = ['higher', mw.pGreater];
  else if (settings.direction === 'decrease') [side, p] = ['lower', mw.pLess];
  else [side, p] = [mw.u1 >= mw.u2 ? 'higher' : 'lower', mw.pTwoSided];
  const allowed = side === 'higher' ? up : down;
  const beyond = side === 'higher' ? ratio > up : ratio < down;
  const significant = p < alpha;

  const threshold: Verdict['threshold'] = {};
  if (settings.direction !== 'decrease') threshold.max = scaled(mw.medianY, up);
  if (settings.direction !== 'increase') threshold.min = scaled(mw.medianY, down);
  const effect: CompareEffect = {
    u: mw.u1,
    p,
    rankBiserial: mw.rankBiserial,
    shift: mw.shift,
    canaryMedian: mw.medianX,
    stableMedian: mw.medianY,
  };

  const noun = settings.direction === 'either' ? 'difference' : settings.direction;
  const finding = !significant
    ? `no significant ${noun}`
    : beyond
      ? `significantly ${side}, beyond allowed x${show(allowed)}`
      : `significantly ${side}, within allowed x${show(allowed)}`;
  const stats = `U=${show(mw.u1)}, p=${p3(p)} ${significant ? '<' : '>='} ${show(alpha)}, r=${show(mw.rankBiserial)}, shift ${signed(mw.shift)}`;
  const reason = `${metric.name} canary median ${show(mw.medianX)} vs stable ${show(mw.medianY)} (x${show(ratio)}): ${finding} (${stats})`;
  return { ...base, phase: significant && beyond ? 'Failed' : 'Successful', value: mw.medianX, threshold, reason, effect };
}
