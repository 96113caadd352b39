import { describe, expect, it } from 'vitest';
import { averageRanks, mannWhitneyU, type PValueMethod } from '../../domain/judge/mann-whitney';
import { hodgesLehmannShift, median } from '../../domain/judge/median';
import { erf, erfc, normalCdf, normalSf } from '../../domain/judge/normal';
import { exactTails, uCounts } from '../../domain/judge/u-exact';

/** Relative closeness, for values spanning many orders of magnitude. */
function expectRelClose(actual: number, expected: number, rel = 1e-12) {
  if (expected === 0) expect(actual).toBe(0);
  else expect(Math.abs(actual - expected) / Math.abs(expected)).toBeLessThan(rel);
}

// Expected values: scipy.special.erfc / erf 1.17.1 (double precision).
describe('erf and erfc', () => {
  it.each([
    [0.1, 0.8875370839817152, 0.1124629160182849],
    [0.5, 0.4795001221869535, 0.5204998778130465],
    [1, 0.15729920705028516, 0.8427007929497148],
    [1.5, 0.03389485352468927, 0.9661051464753108],
    [2, 0.004677734981047266, 0.9953222650189527],
    [2.5, 0.00040695201744495886, 0.999593047982555],
    [3, 2.2090496998585445e-5, 0.9999779095030014],
    [4, 1.541725790028002e-8, 0.9999999845827421],
    [5, 1.5374597944280347e-12, 0.9999999999984626],
    [6, 2.1519736712498913e-17, 1],
    [10, 2.0884875837625446e-45, 1],
  ])('x = %d', (x, c, e) => {
    expectRelClose(erfc(x), c, 1e-13);
    expectRelClose(erf(x), e, 1e-14);
    expectRelClose(erf(-x), -e, 1e-14);
    expectRelClose(erfc(-x), 2 - c, 1e-14);
  });

  it('is 0 at 0 and NaN for NaN', () => {
    expect(erf(0)).toBe(0);
    expect(erfc(0)).toBe(1);
    expect(erfc(Number.NaN)).toBeNaN();
  });
});

// Expected values: scipy.stats.norm.cdf / norm.sf 1.17.1. p near 1e-4 is where a coarse erf
// (Abramowitz-Stegun 7.1.26, absolute error 1.5e-7) would already be off in the third digit.
describe('normal distribution', () => {
  it.each([
    [-8, 6.22096057427174e-16, 0.9999999999999993],
    [-3.719, 0.00010000652593416135, 0.9998999934740659],
    [-1.96, 0.024997895148220435, 0.9750021048517795],
    [0, 0.5, 0.5],
    [1.2816, 0.9000084999023248, 0.09999150009767521],
    [1.96, 0.9750021048517795, 0.024997895148220435],
    [3.719, 0.9998999934740659, 0.00010000652593416135],
    [5, 0.9999997133484281, 2.866515718791933e-7],
    [8.5, 1, 9.47953482220325e-18],
    [12, 1, 1.776482112077653e-33],
  ])('z = %d', (z, cdf, sf) => {
    expectRelClose(normalCdf(z), cdf, 1e-13);
    expectRelClose(normalSf(z), sf, 1e-13);
  });
});

const MAY_OZONE = [41, 36, 12, 18, 28, 23, 19, 8, 7, 16, 11, 14, 18, 14, 34, 6, 30, 11, 1, 11, 4, 32, 23, 45, 115, 37];
const AUGUST_OZONE = [39, 9, 16, 78, 35, 66, 122, 89, 110, 44, 28, 65, 22, 59, 23, 31, 44, 21, 9, 45, 168, 73, 76, 118, 84, 85];

interface Textbook {
  source: string;
  x: number[];
  y: number[];
  method: PValueMethod;
  u1: number;
  u: number;
  pTwoSided: number;
  pGreater: number;
  pLess: number;
  shift: number;
}

const textbook: Textbook[] = [
  {
    // Wikipedia, "Mann-Whitney U test", illustration: tortoise and hare, finishing order
    // T H H H H H T T T T T H; U_T = 11 (tortoise finishing positions as x would be U1 = 25).
    // p: scipy.stats.mannwhitneyu(x, y, method='exact'|...) 1.17.1.
    source: 'Wikipedia tortoise and hare',
    x: [1, 7, 8, 9, 10, 11],
    y: [2, 3, 4, 5, 6, 12],
    method: 'exact',
    u1: 25,
    u: 11,
    pTwoSided: 0.30952380952380953,
    pGreater: 0.15476190476190477,
    pLess: 0.8798701298701299,
    shift: 4,
  },
  {
    source: 'Wikipedia tortoise and hare, normal approximation',
    x: [1, 7, 8, 9, 10, 11],
    y: [2, 3, 4, 5, 6, 12],
    method: 'asymptotic',
    u1: 25,
    u: 11,
    pTwoSided: 0.2979530616081678,
    pGreater: 0.1489765308040839,
    pLess: 0.885116864769431,
    shift: 4,
  },
  {
    // Hollander & Wolfe (1973), Nonparametric Statistical Methods, p. 69f: permeability constants of
    // the human chorioamnion at term (x) and at 12-26 weeks (y). Published (R's wilcox.test
    // example): W = 35, one-sided exact p = 0.1272. Other p-values: scipy 1.17.1, method='exact'.
    source: 'Hollander & Wolfe 1973, p. 69',
    x: [0.8, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46],
    y: [1.15, 0.88, 0.9, 0.74, 1.21],
    method: 'exact',
    u1: 35,
    u: 15,
    pTwoSided: 0.2544122544122544,
    pGreater: 0.1272061272061272,
    pLess: 0.8967698967698967,
    shift: 0.305,
  },
  {
    // R documentation of wilcox.test: Ozone ~ Month, airquality, May (x) against August (y), NAs
    // dropped; published W = 127.5, p-value = 0.0001208 (normal approximation with ties and
    // continuity correction). Full digits: scipy 1.17.1, method='asymptotic'.
    source: 'R airquality, May vs August ozone',
    x: MAY_OZONE,
    y: AUGUST_OZONE,
    method: 'asymptotic',
    u1: 127.5,
    u: 127.5,
    pTwoSided: 0.00012080783076877434,
    pGreater: 0.9999439498752809,
    pLess: 6.040391538438717e-5,
    shift: -32,
  },
  {
    // scipy.stats.mannwhitneyu documentation example: ages at diagnosis of type II diabetes,
    // males (x) and females (y); published U1 = 17, exact two-sided p = 0.1111, asymptotic 0.1113.
    source: 'scipy mannwhitneyu docs, exact',
    x: [19, 22, 16, 29, 24],
    y: [20, 11, 17, 12],
    method: 'exact',
    u1: 17,
    u: 3,
    pTwoSided: 0.1111111111111111,
    pGreater: 0.05555555555555555,
    pLess: 0.9682539682539683,
    shift: 7,
  },
  {
    source: 'scipy mannwhitneyu docs, asymptotic',
    x: [19, 22, 16, 29, 24],
    y: [20, 11, 17, 12],
    method: 'asymptotic',
    u1: 17,
    u: 3,
    pTwoSided: 0.11134688653314041,
    pGreater: 0.055673443266570206,
    pLess: 0.9669037101389033,
    shift: 7,
  },
];

describe('mannWhitneyU on textbook examples', () => {
  it.each(textbook)('$source', (t) => {
    const r = mannWhitneyU(t.x, t.y, { method: t.method });
    expect(r.method).toBe(t.method);
    expect([r.u1, r.u2, r.u]).toEqual([t.u1, t.x.length * t.y.length - t.u1, t.u]);
    expectRelClose(r.pTwoSided, t.pTwoSided);
    expectRelClose(r.pGreater, t.pGreater);
    expectRelClose(r.pLess, t.pLess);
    expect(r.shift).toBeCloseTo(t.shift, 12);
    expect(r.rankBiserial).toBeCloseTo((2 * t.u1) / (t.x.length * t.y.length) - 1, 15);
    expect(Math.abs(r.rankBiserial)).toBeCloseTo(1 - (2 * t.u) / (t.x.length * t.y.length), 15);
  });

  it('picks the exact distribution for small samples without ties, the normal one otherwise', () => {
    expect(mannWhitneyU([1, 7, 8, 9, 10, 11], [2, 3, 4, 5, 6, 12]).method).toBe('exact');
    expect(mannWhitneyU(MAY_OZONE, AUGUST_OZONE).method).toBe('asymptotic');
    const big = Array.from({ length: 21 }, (_, i) => i * 2);
    const other = Array.from({ length: 5 }, (_, i) => i * 2 + 1);
    expect(mannWhitneyU(big, other).method).toBe('asymptotic');
  });

  it('swapping the samples swaps U1 and U2 and the one-sided p-values', () => {
    const a = mannWhitneyU(MAY_OZONE, AUGUST_OZONE);
    const b = mannWhitneyU(AUGUST_OZONE, MAY_OZONE);
    expect([b.u1, b.u2]).toEqual([a.u2, a.u1]);
    expect(b.pGreater).toBeCloseTo(a.pLess, 15);
    expect(b.pTwoSided).toBeCloseTo(a.pTwoSided, 15);
    expect(b.z).toBeCloseTo(-a.z, 15);
    expect(b.rankBiserial).toBeCloseTo(-a.rankBiserial, 15);
    expect(b.shift).toBe(-a.shift);
  });

  it('identical samples: no evidence either way', () => {
    const r = mannWhitneyU([5, 5, 5], [5, 5, 5, 5]);
    expect(r).toMatchObject({ u1: 6, u2: 6, z: 0, pTwoSided: 1, pGreater: 1, pLess: 1, rankBiserial: 0, shift: 0, ties: true });
  });

  it('z carries the tie and continuity corrections', () => {
    // Hand computation: ranks of [1,2,2 | 2,3] are 1, 3, 3 | 3, 5; R1 = 7, U1 = 1, mu = 3;
    // tie term 3^3 - 3 = 24; sigma^2 = 6/12 * (6 - 24/20) = 2.4; z = -(2 - 0.5) / sqrt(2.4).
    const r = mannWhitneyU([1, 2, 2], [2, 3], { method: 'asymptotic' });
    expect(r.u1).toBe(1);
    expect(r.z).toBeCloseTo(-1.5 / Math.sqrt(2.4), 14);
  });

  it('refuses empty samples, non-finite values and exact p-values with ties', () => {
    expect(() => mannWhitneyU([], [1])).toThrow(/values in both samples/);
    expect(() => mannWhitneyU([1, Number.NaN], [1])).toThrow(/finite/);
    expect(() => mannWhitneyU([1, 2], [2, 3], { method: 'exact' })).toThrow(/no ties/);
  });
});

describe('exact U distribution', () => {
  it.each([
    // Enumerated by hand: the 6 orderings of two x among two y give U = 0,1,2,2,3,4.
    [2, 2, [1, 1, 2, 1, 1]],
    [1, 3, [1, 1, 1, 1]],
    [3, 3, [1, 1, 2, 3, 3, 3, 3, 2, 1, 1]],
  ])('n1=%i n2=%i', (n1, n2, counts) => {
    expect(uCounts(n1, n2)).toEqual(counts);
    expect(uCounts(n2, n1)).toEqual(counts);
  });

  it('counts all C(n1 + n2, n1) orderings and is symmetric', () => {
    const counts = uCounts(20, 20);
    expect(counts).toHaveLength(401);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(137846528820);
    expect(counts).toEqual([...counts].reverse());
  });

  it('tails include the observed value', () => {
    expect(exactTails(2, 2, 2)).toEqual({ upper: 4 / 6, lower: 4 / 6 });
    expect(() => uCounts(30, 21)).toThrow(/n1 \+ n2 <= 50/);
  });
});

describe('ranks and medians', () => {
  it('averages ranks of ties', () => {
    expect(averageRanks([10, 20, 20, 5, 20])).toEqual({ ranks: [2, 4, 4, 1, 4], tieTerm: 24 });
  });
  it.each([
    [[3], 3],
    [[3, 1], 2],
    [[5, 1, 3], 3],
    [[4, 1, 3, 100], 3.5],
  ])('median of %o is %d', (values, m) => expect(median(values)).toBe(m));
  it('Hodges-Lehmann shift is the median of pairwise differences', () => {
    // differences of [10, 20] against [1, 2]: 9, 8, 19, 18 -> median 13.5
    expect(hodgesLehmannShift([10, 20], [1, 2])).toBe(13.5);
  });
});
