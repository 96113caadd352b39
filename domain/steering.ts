import type { EdgeSpec, EdgeShares } from './edges';

/*
 * Steering an edge's traffic away from a region that goes bad, and back in steps once it is
 * healthy. Pure: shares in, shares out; runs in workflow code.
 *
 * Shares are whole percents. Wherever a share has to be split, the split is by largest
 * remainder: every region first gets the whole part of its exact portion, then the percents
 * left over go one each to the regions with the largest fractional parts, ties broken by region
 * name (alphabetical, first wins). The same inputs always give the same shares.
 */

/** Why steering away holds the rollout for a person instead of draining. */
export type HoldReason = 'below-min-healthy-share' | 'no-healthy-region';

/** The figures a person needs to decide on a held drain. */
export interface HoldNumbers {
  /** The region that went bad. */
  region: string;
  /** Percent of the edge's normal traffic that normally goes to the regions that could take the drained share. */
  healthyShare: number;
  /** The edge's `minHealthyShare`. */
  minHealthyShare: number;
  /** The regions that could take the drained share: healthy, and of the edge's residency or allowed across it. */
  healthyRegions: string[];
  /** The edge's regions that may not take it: unhealthy (the bad region among them), or of another residency. */
  excludedRegions: { region: string; why: 'unhealthy' | 'other-residency' }[];
}

export type SteerPlan =
  | { kind: 'steer'; before: EdgeShares; after: EdgeShares }
  | { kind: 'hold'; reason: HoldReason; numbers: HoldNumbers }
  | { kind: 'none' };

/** The shares the edge's routes declare, mirrors none. */
export function normalShares(edge: EdgeSpec): EdgeShares {
  return { shares: Object.fromEntries(edge.routes.map((r) => [r.region, r.share])) };
}

/** Whether two configurations send the same traffic; a region left out counts as 0. */
export function sameShares(a: EdgeShares, b: EdgeShares): boolean {
  return sameRecord(a.shares, b.shares) && sameRecord(a.mirrors ?? {}, b.mirrors ?? {});
}

function sameRecord(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => (a[k] ?? 0) === (b[k] ?? 0));
}

/**
 * Splits `total` whole percents over `weights` in proportion, by largest remainder (ties by
 * name). Weights are whole numbers, so the arithmetic is exact. All-zero weights get nothing.
 */
export function apportion(weights: Record<string, number>, total: number): Record<string, number> {
  const names = Object.keys(weights).sort();
  const sum = names.reduce((s, n) => s + weights[n]!, 0);
  const out: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  if (sum === 0) return out;
  const rest = names.map((n) => ({ n, r: (total * weights[n]!) % sum }));
  for (const n of names) out[n] = Math.floor((total * weights[n]!) / sum);
  let left = total - names.reduce((s, n) => s + out[n]!, 0);
  rest.sort((a, b) => b.r - a.r || (a.n < b.n ? -1 : 1));
  for (const { n } of rest) {
    if (left <= 0) break;
    out[n]! += 1;
    left -= 1;
  }
  return out;
}

function mayReceive(edge: EdgeSpec, region: string, residencyOf: Record<string, string>): boolean {
  return residencyOf[region] === edge.residency || (edge.crossResidency ?? []).some((c) => c.region === region);
}

function withoutMirror(mirrors: Record<string, number> | undefined, region: string): Pick<EdgeShares, 'mirrors'> {
  if (mirrors === undefined) return {};
  const { [region]: _dropped, ...rest } = mirrors;
  return { mirrors: rest };
}

/**
 * The edge's shares once `region` goes bad. Its current share moves to the edge's regions that
 * are healthy (not `region`, not in `unhealthy`) and of the edge's residency or listed in
 * `crossResidency`, in proportion to their normal shares; a region whose residency is unknown
 * receives nothing. Other regions keep their current shares, and a mirror to the bad region
 * stops (it mirrors traffic the region no longer gets).
 *
 * Holds instead when no such region is left, or when their normal shares add up to less than
 * `minHealthyShare`: they were sized for that much of the edge's traffic and would have to carry all of it.
 */
export function steerAway(
  edge: EdgeSpec,
  current: EdgeShares,
  region: string,
  residencyOf: Record<string, string>,
  unhealthy: ReadonlySet<string>,
): SteerPlan {
  if (!edge.routes.some((r) => r.region === region)) return { kind: 'none' };
  const receivers = edge.routes.filter(
    (r) => r.region !== region && !unhealthy.has(r.region) && mayReceive(edge, r.region, residencyOf) && r.share > 0,
  );
  const healthyShare = receivers.reduce((s, r) => s + r.share, 0);
  if (receivers.length === 0 || healthyShare < edge.minHealthyShare) {
    const numbers: HoldNumbers = {
      region,
      healthyShare,
      minHealthyShare: edge.minHealthyShare,
      healthyRegions: receivers.map((r) => r.region).sort(),
      excludedRegions: excluded(edge, region, residencyOf, unhealthy),
    };
    return { kind: 'hold', reason: receivers.length === 0 ? 'no-healthy-region' : 'below-min-healthy-share', numbers };
  }
  const moved = apportion(Object.fromEntries(receivers.map((r) => [r.region, r.share])), current.shares[region] ?? 0);
  const shares: Record<string, number> = { ...current.shares, [region]: 0 };
  for (const [r, add] of Object.entries(moved)) shares[r] = (shares[r] ?? 0) + add;
  return { kind: 'steer', before: current, after: { shares, ...withoutMirror(current.mirrors, region) } };
}

function excluded(
  edge: EdgeSpec,
  region: string,
  residencyOf: Record<string, string>,
  unhealthy: ReadonlySet<string>,
): HoldNumbers['excludedRegions'] {
  const out: HoldNumbers['excludedRegions'] = [];
  for (const r of [...edge.routes].sort((a, b) => (a.region < b.region ? -1 : 1))) {
    if (r.region === region || unhealthy.has(r.region)) out.push({ region: r.region, why: 'unhealthy' });
    else if (!mayReceive(edge, r.region, residencyOf)) out.push({ region: r.region, why: 'other-residency' });
  }
  return out;
}

/**
 * The edge's shares as `region` comes back, one configuration per step. Each step is a percent
 * of the way from `current` to the final configuration; with no other region drained, step
 * `p` gives the region `p`% of its normal share. A step list not ending at 100 gets 100 added.
 *
 * The final configuration is the normal shares with the regions still drained left at 0 and
 * their normal shares spread over the regions that take traffic, in proportion to their normal
 * shares. "Still drained" is read from `current`: a region with a normal share and no current
 * share, other than `region`. Mirrors stay as they are. A region the edge does not serve: no steps.
 */
export function stepsBack(edge: EdgeSpec, current: EdgeShares, region: string, steps: number[]): EdgeShares[] {
  if (!edge.routes.some((r) => r.region === region)) return [];
  const percents = steps.filter((p) => p > 0 && p < 100);
  for (const p of percents) if (!Number.isInteger(p)) throw new RangeError(`step ${p} is not a whole percent`);
  const final = returned(edge, current, region);
  const regions = Object.keys({ ...current.shares, ...final }).sort();
  const total = regions.reduce((s, r) => s + (current.shares[r] ?? 0), 0);
  const mirrors = current.mirrors === undefined ? {} : { mirrors: current.mirrors };
  return [...new Set([...percents.sort((a, b) => a - b), 100])].map((p) => {
    const weights = Object.fromEntries(
      regions.map((r) => [r, (current.shares[r] ?? 0) * 100 + ((final[r] ?? 0) - (current.shares[r] ?? 0)) * p]),
    );
    return { shares: apportion(weights, total), ...mirrors };
  });
}

/** The shares once `region` is fully back and only the regions still drained stay at 0. */
function returned(edge: EdgeSpec, current: EdgeShares, region: string): Record<string, number> {
  const drained = new Set(
    edge.routes.filter((r) => r.region !== region && r.share > 0 && (current.shares[r.region] ?? 0) === 0).map((r) => r.region),
  );
  const takers = Object.fromEntries(edge.routes.filter((r) => !drained.has(r.region)).map((r) => [r.region, r.share]));
  const total = edge.routes.reduce((s, r) => s + r.share, 0);
  return { ...Object.fromEntries([...drained].map((r) => [r, 0])), ...apportion(takers, total) };
}
