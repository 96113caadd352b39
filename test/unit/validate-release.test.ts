import { describe, expect, it } from 'vitest';
import { validateSpec } from '../../domain/validate';

const digest = (c: string) => `registry.test/${c}@sha256:${'a'.repeat(64)}`;

function release(services: Record<string, unknown>[], over: Record<string, unknown> = {}) {
  return {
    service: 'shop',
    version: '1.0.0',
    regions: [{ name: 'eu-west-1', target: { kind: 'simulated' } }, { name: 'us-east-1' }],
    waves: [{ regions: ['eu-west-1'] }, { regions: ['us-east-1'] }],
    steps: [{ kind: 'setWeight', weight: 50 }],
    services,
    ...over,
  };
}

const problems = (input: unknown) => {
  const v = validateSpec(input);
  return v.ok ? [] : v.problems.map((p) => `${p.path}: ${p.message}`);
};

describe('validating a release', () => {
  it('reports every problem at once, each at its path', () => {
    const found = problems(
      release([
        { name: 'orders', image: digest('orders'), dependsOn: [{ service: 'checkout' }], targets: { 'us-east-1': { kind: 'simulated' } } },
        { name: 'checkout', image: 'registry.test/checkout:5', dependsOn: [{ service: 'ordrs' }, { service: 'orders' }], consumes: [{ contract: 'payments.v1' }] },
        { name: 'ledger', image: digest('ledger'), targets: { 'eu-wst-1': { kind: 'simulated' } }, migrations: [{ id: '001', phase: 'contract', up: 'SELECT 1', down: 'SELECT 1' }] },
      ]),
    );
    expect(found).toEqual(
      expect.arrayContaining([
        'services[1].image: "registry.test/checkout:5" is not pinned by digest; a release checks contracts between exact builds, so give image@sha256:...',
        expect.stringMatching(/^services\[1\]\.dependsOn\[0\]\.service: "checkout" depends on unknown service "ordrs" \(did you mean orders\?\)/),
        expect.stringMatching(/^services\[\d\]\.dependsOn: .*cycle.*orders.*checkout|^services\[\d\]\.dependsOn: .*cycle.*checkout.*orders/),
        expect.stringMatching(/^services\[1\]\.consumes\[0\]: .*payments\.v1/),
        expect.stringMatching(/^services\[1\]\.targets: "checkout" has no target in region us-east-1/),
        expect.stringMatching(/^services\[2\]\.targets\.eu-wst-1: unknown region "eu-wst-1" \(did you mean eu-west-1\?\)/),
        'services[2].migrations[0].phase: contract migrations are not run in a release yet: ship this one in a one-service rollout of this service after the release',
      ]),
    );
  });

  it('accepts a consumed contract declared external, and a one-service spec still needs its image and targets', () => {
    expect(problems(release([{ name: 'orders', image: digest('orders'), targets: { 'us-east-1': { kind: 'simulated' } }, consumes: [{ contract: 'payments.v1' }] }], { externalContracts: ['payments.v1'] }))).toEqual([]);
    const one = release([]);
    delete (one as Record<string, unknown>).services;
    expect(problems(one)).toEqual(['regions[1].target: required field is missing', 'image: required field is missing']);
  });
});
