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
    const query = 'errors{service="{{service}}",version="{{version}}",role="{{role}}"}';
    const orders = { ...ctx, service: 'orders', version: '1.5.0' };
    expect(renderTemplate(query, templateValues({ ...orders, owner: 'checkout', ownerVersion: '2.4.0' }), escapePromQLString)).toBe('errors{service="checkout",version="2.4.0",role="canary"}');
    expect(renderTemplate(query, templateValues(orders), escapePromQLString)).toBe('errors{service="orders",version="1.5.0",role="canary"}');
  });
});
