/** A threshold written relative to the region's baseline: `baseline * 1.2` or `baseline + 50`. */
export interface RelativeThreshold {
  op: '*' | '+';
  by: number;
}

export type Threshold = number | RelativeThreshold;

export const THRESHOLD_HELP = 'expected a number or "baseline * <factor>" / "baseline + <delta>"';

const RELATIVE = /^\s*baseline\s*([*+])\s*(\d+(?:\.\d+)?|\.\d+)\s*$/;

/** Parses `baseline * <factor>` (factor > 0) or `baseline + <delta>` (delta >= 0); anything else is undefined. */
export function parseRelativeThreshold(text: string): RelativeThreshold | undefined {
  const match = RELATIVE.exec(text);
  if (!match) return undefined;
  const op = match[1] as RelativeThreshold['op'];
  const by = Number(match[2]);
  if (op === '*' && by === 0) return undefined;
  return { op, by };
}

export function isRelative(t: Threshold | undefined): t is RelativeThreshold {
  return typeof t === 'object' && t !== null;
}

export function formatRelative(t: RelativeThreshold): string {
  return `baseline ${t.op} ${t.by}`;
}

/** Rounded to 12 significant digits so `330 * 1.2` is 396, not 396.00000000000006. */
export function applyRelative(t: RelativeThreshold, baseline: number): number {
  const raw = t.op === '*' ? baseline * t.by : baseline + t.by;
  return Number(raw.toPrecision(12));
}
