import { describe, expect, it } from 'vitest';
import { dependencyCycles, graphProblems, regionOrder, rollbackOrder, type ServiceNode } from '../../domain/release-graph';

const REGIONS = ['eu-west-1', 'us-east-1', 'ap-south-1'];
const WAVES = [
  { name: 'canary', regions: ['eu-west-1'] },
  { name: 'rest', regions: ['us-east-1', 'ap-south-1'] },
];

function node(name: string, over: Partial<ServiceNode> = {}): ServiceNode {
  return { name, dependsOn: [], provides: [], consumes: [], regions: REGIONS, ...over };
}

/** ledger ← orders ← checkout, with a contract on each edge. */
const CHAIN = [
  node('ledger', { provides: ['ledger.v1'] }),
  node('orders', { dependsOn: [{ service: 'ledger', until: 'promoted' }], provides: ['orders-api'], consumes: ['ledger.v1'] }),
  node('checkout', { dependsOn: [{ service: 'orders', until: 'canary' }], consumes: ['orders-api'] }),
];

describe('graphProblems', () => {
  const ctx = { waves: WAVES, externalContracts: ['payments.v2'] };

  it('accepts the chain and a release of one service', () => {
    expect(graphProblems(CHAIN, ctx)).toEqual([]);
    expect(graphProblems([node('checkout')], ctx)).toEqual([]);
  });

  it.each([
    [
      'a cycle, naming its members in order',
      [node('a', { dependsOn: [{ service: 'b', until: 'canary' }] }), node('b', { dependsOn: [{ service: 'c', until: 'canary' }] }), node('c', { dependsOn: [{ service: 'a', until: 'promoted' }] })],
      [{ path: 'services[0].dependsOn', message: expect.stringContaining('a → b → c → a') }],
    ],
    ['a service that waits for itself', [node('a', { dependsOn: [{ service: 'a', until: 'canary' }] })], [{ path: 'services[0].dependsOn', message: expect.stringContaining('a → a') }]],
    [
      'an unknown service, with a did-you-mean',
      [node('orders'), node('checkout', { dependsOn: [{ service: 'ordres', until: 'canary' }] })],
      [{ path: 'services[1].dependsOn[0].service', message: expect.stringContaining('(did you mean orders?)') }],
    ],
    [
      'a consumed contract nobody provides and not external',
      [node('orders', { provides: ['orders-api'] }), node('checkout', { consumes: ['orders-apj', 'payments.v2'] })],
      [{ path: 'services[1].consumes[0]', message: expect.stringContaining('(did you mean orders-api?)') }],
    ],
    ['a contract with two providers', [node('a', { provides: ['x'] }), node('b', { provides: ['x'] })], [{ path: 'services[1].provides[0]', message: expect.stringContaining('"a" and "b"') }]],
    [
      'a service without a target in a region of a wave, once per region',
      [node('ledger'), node('orders', { regions: ['eu-west-1'] })],
      [
        { path: 'services[1].targets', message: expect.stringContaining('region us-east-1 (wave rest)') },
        { path: 'services[1].targets', message: expect.stringContaining('region ap-south-1 (wave rest)') },
      ],
    ],
    ['a duplicate name', [node('orders'), node('orders')], [{ path: 'services[1].name', message: expect.stringContaining('services[0]') }]],
  ])('reports %s', (_name, services, problems) => {
    expect(graphProblems(services, ctx)).toEqual(problems);
  });

  it('reports every problem at once', () => {
    const services = [
      node('a', { dependsOn: [{ service: 'b', until: 'canary' }, { service: 'zzz', until: 'canary' }], consumes: ['nope'] }),
      node('b', { dependsOn: [{ service: 'a', until: 'canary' }], regions: ['eu-west-1'] }),
    ];
    expect(graphProblems(services, ctx).map((p) => p.path)).toEqual([
      'services[0].dependsOn[1].service',
      'services[0].dependsOn',
      'services[0].consumes[0]',
      'services[1].targets',
      'services[1].targets',
    ]);
  });
});

describe('dependencyCycles', () => {
  it('finds each cycle once and ignores the acyclic rest', () => {
    const services = [
      node('a', { dependsOn: [{ service: 'b', until: 'canary' }] }),
      node('b', { dependsOn: [{ service: 'a', until: 'canary' }] }),
      node('c', { dependsOn: [{ service: 'a', until: 'canary' }] }),
      node('d', { dependsOn: [{ service: 'e', until: 'canary' }] }),
      node('e', { dependsOn: [{ service: 'd', until: 'canary' }] }),
    ];
    expect(dependencyCycles(services).map((c) => [...c].sort())).toEqual([
      ['a', 'b'],
      ['d', 'e'],
    ]);
    expect(dependencyCycles(CHAIN)).toEqual([]);
  });
});

describe('regionOrder and rollbackOrder', () => {
  it('orders the chain provider first, with each service’s wait and its point', () => {
    expect(regionOrder(CHAIN, 'eu-west-1')).toEqual([
      [{ service: 'ledger', waitsFor: [] }],
      [{ service: 'orders', waitsFor: [{ service: 'ledger', until: 'promoted' }] }],
      [{ service: 'checkout', waitsFor: [{ service: 'orders', until: 'canary' }] }],
    ]);
    expect(rollbackOrder(CHAIN, 'eu-west-1')).toEqual(['checkout', 'orders', 'ledger']);
  });

  it('runs independent services in one group, and a diamond in three', () => {
    const diamond = [
      node('web', { dependsOn: [{ service: 'cart', until: 'baked' }, { service: 'search', until: 'canary' }] }),
      node('search', { dependsOn: [{ service: 'db', until: 'promoted' }] }),
      node('cart', { dependsOn: [{ service: 'db', until: 'promoted' }] }),
      node('db'),
      node('metrics'),
    ];
    expect(regionOrder(diamond, 'us-east-1').map((g) => g.map((s) => s.service))).toEqual([['db', 'metrics'], ['cart', 'search'], ['web']]);
    expect(rollbackOrder(diamond, 'us-east-1')).toEqual(['web', 'cart', 'search', 'db', 'metrics']);
  });

  it('leaves out services without a target in the region, and their waits', () => {
    const partial = [node('ledger', { regions: ['eu-west-1'] }), node('orders', { dependsOn: [{ service: 'ledger', until: 'promoted' }] })];
    expect(regionOrder(partial, 'us-east-1')).toEqual([[{ service: 'orders', waitsFor: [] }]]);
  });

  it('refuses a cyclic graph instead of looping', () => {
    const cyclic = [node('a', { dependsOn: [{ service: 'b', until: 'canary' }] }), node('b', { dependsOn: [{ service: 'a', until: 'canary' }] })];
    expect(() => regionOrder(cyclic, 'eu-west-1')).toThrow(/dependency cycle/);
  });
});
