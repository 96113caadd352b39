/** Resolves a metric's max/min, absolute or relative to the region's baseline, to absolute numbers. */
import type { Verdict } from '../status';
import { show } from './show';
import { applyRelative, formatRelative, isRelative, type Threshold } from './relative';

export type Bound = 'max' | 'min';
const BOUNDS: readonly Bound[] = ['max', 'min'];

export interface ResolvedThreshold {
  /** Absolute numbers for every bound that could be resolved. */
  threshold: Verdict['threshold'];
  /** Relative bounds that stay open because no baseline was given. */
  unresolved: Bound[];
  /** How each relative bound was reached, e.g. `baseline 330 * 1.2`. */
  derivation: Partial<Record<Bound, string>>;
  /** The baseline, when one was given and is a finite number. */
  baseline?: number;
}

export function resolveThreshold(metric: { max?: Threshold; min?: Threshold }, baseline?: number): ResolvedThreshold {
  const known = baseline !== undefined && Number.isFinite(baseline) ? baseline : undefined;
  const out: ResolvedThreshold = { threshold: {}, unresolved: [], derivation: {}, ...(known !== undefined ? { baseline: known } : {}) };
  for (const bound of BOUNDS) {
    const t = metric[bound];
    if (t === undefined) continue;
    if (!isRelative(t)) out.threshold[bound] = t;
    else if (known === undefined) out.unresolved.push(bound);
    else {
      out.threshold[bound] = applyRelative(t, known);
      out.derivation[bound] = `baseline ${show(known)} ${t.op} ${t.by}`;
    }
  }
  return out;
}

/** True when a bound is written relative to the baseline, so the region's baseline must be measured first. */
export function needsBaseline(metric: { max?: Threshold; min?: Threshold }): boolean {
  return isRelative(metric.max) || isRelative(metric.min);
}

/** `max baseline * 1.2`: a bound as written in the spec. */
export function describeBound(bound: Bound, t: Threshold): string {
  return `${bound} ${isRelative(t) ? formatRelative(t) : t}`;
}
