import { PLACEHOLDER, QUERY_VARIABLES, type QueryVariable } from '../../domain/spec';
import type { MetricContext } from './provider';

export type TemplateValues = Partial<Record<QueryVariable, string>>;

/** Escapes text for the inside of a double-quoted PromQL string literal, such as a label matcher's value. */
export function escapePromQLString(value: string): string {
  return value.replace(/[\\"\n\r\t]/g, (c) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c]!);
}

/**
 * Replaces every `{{name}}` with its escaped value. An unknown placeholder, or one whose value
 * the caller does not have (a `{{namespace}}` for a region without a `namespace` label), is an error naming it.
 */
export function renderTemplate(template: string, values: TemplateValues, escape: (value: string) => string): string {
  return template.replace(PLACEHOLDER, (_, key: string) => {
    if (!(QUERY_VARIABLES as readonly string[]).includes(key)) {
      throw new Error(`unknown placeholder {{${key}}} in "${template}" (known: ${QUERY_VARIABLES.join(', ')})`);
    }
    const value = values[key as QueryVariable];
    if (value === undefined) {
      const hint = key === 'namespace' ? ' (give the region a "namespace" label)' : '';
      throw new Error(`placeholder {{${key}}} in "${template}" has no value here${hint}`);
    }
    return escape(value);
  });
}

/** The placeholder values of one query; `namespace` only where the caller knows it. */
export function templateValues(ctx: MetricContext): TemplateValues {
  return { region: ctx.region, service: ctx.owner ?? ctx.service, version: (ctx.owner && ctx.ownerVersion) || ctx.version, role: ctx.role, namespace: ctx.namespace };
}
