import { z } from 'zod';
import { formatDuration, parseDuration } from './duration';

const durations = new WeakSet<z.ZodType>();

/**
 * A duration written as `30s`, `5m`, `1h30m`, at most `maxMs`; parsed to milliseconds. A value over
 * the bound is an issue whose params carry `maxMs`.
 */
export function duration(maxMs: number) {
  const schema = z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `bad duration "${text}" (write it like 30s, 5m, 1h30m, 2d)` });
      return z.NEVER;
    }
    if (ms > maxMs) {
      ctx.addIssue({ code: 'custom', message: `must be at most ${formatDuration(maxMs)}, got ${text.trim()}`, params: { maxMs } });
      return z.NEVER;
    }
    return ms;
  });
  durations.add(schema);
  return schema;
}

/** Whether a schema is one of the duration schemas above. */
export const isDuration = (schema: z.ZodType): boolean => durations.has(schema);

/** Placeholders a query or URL template may use: `{{region}}`, `{{version}}`, ... */
export const QUERY_VARIABLES = ['region', 'service', 'version', 'namespace', 'role'] as const;
export const PLACEHOLDER = /\{\{\s*([^{}\s]*)\s*\}\}/g;
