/** The median of a non-empty list; the mean of the two middle values when the count is even. */
export function median(values: ArrayLike<number>): number {
  if (values.length === 0) throw new RangeError('the median of no values is undefined');
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Hodges-Lehmann estimate of the shift of x against y: the median of all differences x_i - y_j. */
export function hodgesLehmannShift(x: readonly number[], y: readonly number[]): number {
  const diffs = new Float64Array(x.length * y.length);
  let k = 0;
  for (const a of x) for (const b of y) diffs[k++] = a - b;
  return median(diffs);
}
