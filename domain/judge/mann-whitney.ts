/**
 * The Mann-Whitney U test (Wilcoxon rank-sum test) of two independent samples, with the
 * conventions of scipy.stats.mannwhitneyu: U1 is x's statistic (pairs with x_i > y_j, ties
 * counting one half); p-values come from the normal approximation with tie and continuity
 * correction, or from the exact distribution for small samples without ties.
 */
import { median, hodgesLehmannShift } from './median';
import { normalCdf, normalSf } from './normal';
import { exactTails, EXACT_MAX_TOTAL } from './u-exact';

export type PValueMethod = 'exact' | 'asymptotic';

/** `auto`: exact when neither sample has more than 20 values and no value repeats. */
export interface MannWhitneyOptions {
  method?: 'auto' | PValueMethod;
}

export const EXACT_AUTO_MAX = 20;

export interface MannWhitneyResult {
  n1: number;
  n2: number;
  /** x's statistic: pairs with x_i > y_j, plus one half per tie. */
  u1: number;
  u2: number;
  /** min(U1, U2), the statistic tables print. */
  u: number;
  /** (U1 - n1 n2 / 2) with continuity correction, over the tie-corrected standard deviation; positive when x tends larger. */
  z: number;
  pTwoSided: number;
  /** One-sided p-value against the alternative "x is stochastically greater than y". */
  pGreater: number;
  /** One-sided p-value against the alternative "x is stochastically less than y". */
  pLess: number;
  method: PValueMethod;
  ties: boolean;
  /** Signed rank-biserial correlation (U1 - U2) / (n1 n2); its magnitude is 1 - 2U / (n1 n2). */
  rankBiserial: number;
  /** Hodges-Lehmann estimate of x's shift against y: the median of x_i - y_j. */
  shift: number;
  medianX: number;
  medianY: number;
}

/** Average ranks (1-based) of the values, and the tie term sum(t^3 - t) over groups of equal values. */
export function averageRanks(values: readonly number[]): { ranks: number[]; tieTerm: number } {
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(values.length);
  let tieTerm = 0;
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    while (end < order.length && order[end]![0] === order[start]![0]) end++;
    const t = end - start;
    const rank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) ranks[order[k]![1]] = rank;
    tieTerm += t * t * t - t;
    start = end;
  }
  return { ranks, tieTerm };
}

export function mannWhitneyU(x: readonly number[], y: readonly number[], options: MannWhitneyOptions = {}): MannWhitneyResult {
  const n1 = x.length;
  const n2 = y.length;
  if (n1 === 0 || n2 === 0) throw new RangeError(`the Mann-Whitney U test needs values in both samples (got ${n1} and ${n2})`);
  if (!x.every(Number.isFinite) || !y.every(Number.isFinite)) throw new RangeError('the Mann-Whitney U test needs finite numbers');

  const { ranks, tieTerm } = averageRanks([...x, ...y]);
  let r1 = 0;
  for (let i = 0; i < n1; i++) r1 += ranks[i]!;
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const u2 = n1 * n2 - u1;
  const n = n1 + n2;
  const mu = (n1 * n2) / 2;
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))));
  const ties = tieTerm > 0;
  const method = chooseMethod(options.method ?? 'auto', n1, n2, ties);
  const z = sigma > 0 ? (Math.sign(u1 - mu) * Math.max(0, Math.abs(u1 - mu) - 0.5)) / sigma : 0;

  const p = method === 'exact' ? exactP(n1, n2, u1) : asymptoticP(u1, u2, mu, sigma);
  return {
    n1,
    n2,
    u1,
    u2,
    u: Math.min(u1, u2),
    z,
    ...p,
    method,
    ties,
    rankBiserial: (u1 - u2) / (n1 * n2),
    shift: hodgesLehmannShift(x, y),
    medianX: median(x),
    medianY: median(y),
  };
}

function chooseMethod(asked: 'auto' | PValueMethod, n1: number, n2: number, ties: boolean): PValueMethod {
  if (asked === 'asymptotic') return asked;
  if (asked === 'exact') {
    if (ties) throw new RangeError('exact Mann-Whitney p-values assume no ties; use the asymptotic method');
    if (n1 + n2 > EXACT_MAX_TOTAL) throw new RangeError(`exact Mann-Whitney p-values need n1 + n2 <= ${EXACT_MAX_TOTAL}`);
    return asked;
  }
  return !ties && n1 <= EXACT_AUTO_MAX && n2 <= EXACT_AUTO_MAX ? 'exact' : 'asymptotic';
}

type PValues = Pick<MannWhitneyResult, 'pTwoSided' | 'pGreater' | 'pLess'>;

function exactP(n1: number, n2: number, u1: number): PValues {
  const { upper, lower } = exactTails(n1, n2, u1);
  return { pGreater: upper, pLess: lower, pTwoSided: Math.min(1, 2 * Math.min(upper, lower)) };
}

function asymptoticP(u1: number, u2: number, mu: number, sigma: number): PValues {
  if (sigma === 0) return { pGreater: 1, pLess: 1, pTwoSided: 1 };
  return {
    pGreater: normalSf((u1 - mu - 0.5) / sigma),
    pLess: normalCdf((u1 - mu + 0.5) / sigma),
    pTwoSided: Math.min(1, 2 * normalSf((Math.max(u1, u2) - mu - 0.5) / sigma)),
  };
}
