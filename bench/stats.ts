/** The figures' arithmetic, shared by every benchmark. */

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The `q` quantile of `xs` by linear interpolation between the closest ranks. */
export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo]! + (s[Math.ceil(i)]! - s[lo]!) * (i - lo);
}

export const median = (xs: number[]) => quantile(xs, 0.5);

export const round = (x: number, digits = 0) => Math.round(x * 10 ** digits) / 10 ** digits;
