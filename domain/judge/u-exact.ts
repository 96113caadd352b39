/**
 * The exact null distribution of the Mann-Whitney U statistic without ties: the number of
 * orderings of n1 + n2 values giving each U is the coefficient of q^U in the Gaussian binomial
 * [n1 + n2 choose n1]_q. Counts stay integers below 2^53 up to n1 + n2 = 50.
 */
export const EXACT_MAX_TOTAL = 50;

/** counts[u] = orderings with U = u, for u = 0 .. n1 * n2. */
export function uCounts(n1: number, n2: number): number[] {
  if (n1 + n2 > EXACT_MAX_TOTAL) throw new RangeError(`exact U counts need n1 + n2 <= ${EXACT_MAX_TOTAL}, got ${n1 + n2}`);
  const m = Math.min(n1, n2);
  const n = Math.max(n1, n2);
  let poly = [1];
  for (let k = 1; k <= m; k++) {
    // poly * (1 - q^(n+k)) / (1 - q^k): the product grows by n + k terms, the division removes k.
    const grown = new Array<number>(poly.length + n + k).fill(0);
    poly.forEach((c, i) => {
      grown[i] += c;
      grown[i + n + k] -= c;
    });
    const quotient = new Array<number>(grown.length - k).fill(0);
    for (let i = 0; i < quotient.length; i++) quotient[i] = grown[i]! + (i >= k ? quotient[i - k]! : 0);
    poly = quotient;
  }
  return poly;
}

/** P(U >= u) and P(U <= u) under the null hypothesis. */
export function exactTails(n1: number, n2: number, u: number): { upper: number; lower: number } {
  const counts = uCounts(n1, n2);
  let total = 0;
  let upper = 0;
  let lower = 0;
  counts.forEach((c, i) => {
    total += c;
    if (i >= u) upper += c;
    if (i <= u) lower += c;
  });
  return { upper: upper / total, lower: lower / total };
}
