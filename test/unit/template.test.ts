import { describe, expect, it } from 'vitest';
import { escapePromQLString, renderTemplate, templateValues } from '../../activities/metrics/template';

describe('query templates', () => {
  const ctx = { rolloutId: 'r', service: 'checkout', version: '2.4.0', region: 'eu-west-1', role: 'canary' as const };

  it('fill {{namespace}} from the region\'s namespace label when it has one', () => {
    const query = 'up{namespace="{{namespace}}",region="{{region}}",role="{{role}}"}';
    expect(renderTemplate(query, templateValues({ ...ctx, namespace: 'shop' }), escapePromQLString)).toBe(
      'up{namespace="shop",region="eu-west-1",role="canary"}',
    );
    expect(() => renderTemplate(query, templateValues(ctx), escapePromQLString)).toThrow(/give the region a "namespace" label/);
  });

  it("name the metric's own service in {{service}} when a provider's stage judges its consumer's metric", () => {
    const query = 'errors{service="{{service}}",role="{{role}}"}';
    expect(renderTemplate(query, templateValues({ ...ctx, service: 'orders', owner: 'checkout' }), escapePromQLString)).toBe('errors{service="checkout",role="canary"}');
    expect(renderTemplate(query, templateValues({ ...ctx, service: 'orders' }), escapePromQLString)).toBe('errors{service="orders",role="canary"}');
  });
});
