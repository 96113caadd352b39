import { z } from 'zod';
import { parseDuration } from './duration';

/** A duration written as `30s`, `5m`, `1h30m`; parsed to milliseconds. */
export const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `bad duration "${text}" (write it like 30s, 5m, 1h30m, 2d)` });
    return z.NEVER;
  }
  return ms;
});

/** Placeholders a query or URL template may use: `{{region}}`, `{{version}}`, ... */
export const QUERY_VARIABLES = ['region', 'service', 'version', 'namespace', 'role'] as const;
export const PLACEHOLDER = /\{\{\s*([^{}\s]*)\s*\}\}/g;
