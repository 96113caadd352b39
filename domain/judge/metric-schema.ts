/** Schema pieces of a metric's judgement: thresholds (absolute or relative) and compare settings. */
import { z } from 'zod';
import { parseRelativeThreshold, THRESHOLD_HELP, type Threshold } from './relative';

export const threshold = z.union(
  [
    z.number(),
    z.string().transform((text, ctx) => {
      const parsed = parseRelativeThreshold(text);
      if (parsed) return parsed;
      ctx.addIssue({ code: 'custom', message: THRESHOLD_HELP });
      return z.NEVER;
    }),
  ],
  { error: THRESHOLD_HELP },
);

export const METRIC_KINDS = ['threshold', 'compare'] as const;
export const COMPARE_DIRECTIONS = ['increase', 'decrease', 'either'] as const;

/**
 * Canary against stable (Kayenta's judge): fails when the canary is significantly worse at
 * `confidence` and its median moved beyond the allowed ratio of the stable median.
 * `direction: increase` means higher is worse.
 */
export const compareSettings = z
  .strictObject({
    confidence: z.number().min(0.5).max(0.9999).default(0.95),
    allowedIncrease: z.number().min(1).optional(),
    allowedDecrease: z.number().min(0.0001).max(1).optional(),
    direction: z.enum(COMPARE_DIRECTIONS).default('increase'),
  })
  .superRefine((c, ctx) => {
    if (c.direction === 'increase' && c.allowedDecrease !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['allowedDecrease'], message: 'has no effect with direction increase (higher is worse); set direction: decrease or either' });
    }
    if (c.direction === 'decrease' && c.allowedIncrease !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['allowedIncrease'], message: 'has no effect with direction decrease (lower is worse); set direction: increase or either' });
    }
  });

export type MetricKind = (typeof METRIC_KINDS)[number];
export type CompareDirection = (typeof COMPARE_DIRECTIONS)[number];
export type CompareSettings = z.output<typeof compareSettings>;

interface JudgedFields {
  kind?: MetricKind;
  max?: Threshold;
  min?: Threshold;
  compare?: CompareSettings;
}

/** A threshold metric needs max or min; a compare metric needs its compare block and takes no max/min. */
export function checkMetricKind(m: JudgedFields, ctx: z.RefinementCtx): void {
  if ((m.kind ?? 'threshold') === 'threshold') {
    if (m.max === undefined && m.min === undefined) ctx.addIssue({ code: 'custom', message: 'needs a threshold: max, min or both' });
    if (m.compare !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['compare'], message: 'compare settings apply only to kind: compare; add kind: compare or remove them' });
    }
    return;
  }
  if (m.compare === undefined) {
    ctx.addIssue({ code: 'custom', message: 'kind: compare needs a compare block, e.g. compare: { confidence: 0.95, allowedIncrease: 1.1 }' });
  }
  for (const key of ['max', 'min'] as const) {
    if (m[key] !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `${key} does not apply to kind: compare, which judges canary against stable; put it on a separate threshold metric`,
      });
    }
  }
}
