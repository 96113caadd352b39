import { describe, expect, it } from 'vitest';
import type { RolloutSpecInput } from '../../domain/spec';
import { validateSpec } from '../../domain/validate';

const IMAGE = `registry.test/shop/checkout@sha256:${'4'.repeat(64)}`;
const region = (name: string, residency?: string) => ({ name, target: { kind: 'simulated' as const }, labels: (residency ? { residency } : {}) as Record<string, string> });
const provider = { type: 'envoy' as const, admin: 'http://127.0.0.1:9901', configDir: 'edges/eu' };
const route = (r: string, share: number, canary = false) => ({ region: r, share, address: `${r}.internal:8080`, ...(canary ? { canaryAddress: `${r}-canary.internal:8080` } : {}) });

function spec(over: Partial<RolloutSpecInput> = {}): RolloutSpecInput {
  return {
    service: 'checkout',
    version: '2.4.0',
    image: IMAGE,
    regions: [region('eu-west-1', 'eu'), region('eu-central-1', 'eu'), region('us-east-1', 'us')],
    waves: [{ regions: ['eu-west-1', 'eu-central-1', 'us-east-1'] }],
    steps: [{ kind: 'setWeight', weight: 25 }],
    edges: [{ name: 'eu', provider, residency: 'eu', routes: [route('eu-west-1', 50), route('eu-central-1', 50)] }],
    ...over,
  };
}

const problems = (input: RolloutSpecInput) => {
  const v = validateSpec(input);
  return v.ok ? [] : v.problems.map((p) => `${p.path}: ${p.message}`);
};

describe('edges in a spec', () => {
  it('compile to the plan with each region\'s residency and the steering defaults', () => {
    const v = validateSpec(spec());
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(v.plan.edges).toEqual({
      edges: [{ name: 'eu', provider, residency: 'eu', minHealthyShare: 50, routes: [route('eu-west-1', 50), route('eu-central-1', 50)] }],
      residency: { 'eu-west-1': 'eu', 'eu-central-1': 'eu', 'us-east-1': 'us' },
      steering: { returnSteps: [50], stepAnalysis: { intervalMs: 5_000, sustainedForMs: 15_000 }, driftCheckMs: 30_000, policies: [] },
    });
  });

  it('leave a plan without edges as it was', () => {
    const v = validateSpec(spec({ edges: undefined }));
    expect(v.ok && 'edges' in v.plan).toBe(false);
  });

  it.each<[string, Partial<RolloutSpecInput>, string[]]>([
    [
      'a route to a region of another residency',
      { edges: [{ name: 'eu', provider, residency: 'eu', routes: [route('eu-west-1', 50), route('us-east-1', 50)] }] },
      ['edges[0].routes[1].region: region "us-east-1" is of residency "us" and edge "eu" serves "eu"; remove the route, or allow it under crossResidency with a reason'],
    ],
    [
      'an unknown region, with a close match',
      { edges: [{ name: 'eu', provider, residency: 'eu', routes: [route('eu-west-1', 50), route('eu-centrl-1', 50)] }] },
      ['edges[0].routes[1].region: unknown region "eu-centrl-1" (did you mean eu-central-1?)'],
    ],
    [
      'shares that do not add up to 100',
      { edges: [{ name: 'eu', provider, residency: 'eu', routes: [route('eu-west-1', 60), route('eu-central-1', 50)] }] },
      ["edges[0].routes: shares add up to 110; an edge's normal shares must add up to 100"],
    ],
    [
      'a region without a residency label',
      { regions: [region('eu-west-1', 'eu'), region('eu-central-1'), region('us-east-1', 'us')] },
      ['edges[0].routes[1].region: region "eu-central-1" has no residency label; give it labels.residency so Meridian can keep this edge\'s traffic where it may go'],
    ],
    [
      'crossResidency for a region the edge does not route to',
      { edges: [{ name: 'eu', provider, residency: 'eu', routes: [route('eu-west-1', 50), route('eu-central-1', 50)], crossResidency: [{ region: 'us-east-1', reason: 'failover' }] }] },
      ['edges[0].crossResidency[0].region: region "us-east-1" is not one of this edge\'s routes; crossResidency only allows a route the edge has'],
    ],
    [
      'a policy that does not compile, with its rule',
      { steering: { policies: [{ name: 'cap', rule: 'planned.share["eu-central-1"] <= 80' }] } },
      [expect.stringMatching(/^steering\.policies\[0\]\.rule: policy "cap" does not compile: .*share.*\(rule: planned\.share\["eu-central-1"\] <= 80\)$/) as unknown as string],
    ],
    [
      'a mirror step in a region without a canary behind an edge',
      { steps: [{ kind: 'mirror', percent: 20, duration: '30s' }, { kind: 'setWeight', weight: 25 }] },
      [
        'steps[0]: region "eu-west-1" runs this mirror step but no edge route to it has a canaryAddress; add canaryAddress to its route under edges',
        'steps[0]: region "eu-central-1" runs this mirror step but no edge route to it has a canaryAddress; add canaryAddress to its route under edges',
        'steps[0]: region "us-east-1" runs this mirror step but no edge route to it has a canaryAddress; add canaryAddress to its route under edges',
      ],
    ],
    ['steering without edges', { edges: undefined, steering: { returnSteps: [50] } }, ['steering: steering has no effect without edges; add edges or remove it']],
  ])('refuses %s, naming the path', (_, over, expected) => {
    expect(problems(spec(over))).toEqual(expected);
  });

  it('allows a route across residency that crossResidency names with a reason', () => {
    const edges = [{ name: 'eu', provider, residency: 'eu', routes: [route('eu-west-1', 50), route('us-east-1', 50)], crossResidency: [{ region: 'us-east-1', reason: 'contract with the customer allows US failover' }] }];
    expect(problems(spec({ edges }))).toEqual([]);
  });

  it("refuses a policy the edge's normal shares already fail, with the rule and what it saw", () => {
    const found = problems(spec({ steering: { policies: [{ name: 'west-small', rule: "planned.shares['eu-west-1'] <= 40", message: 'eu-west-1 takes at most 40%' }] } }));
    expect(found).toEqual([
      `edges[0]: the edge's normal shares fail policy "west-small": eu-west-1 takes at most 40%; rule: planned.shares['eu-west-1'] <= 40; it saw {"planned.shares":{"eu-west-1":50,"eu-central-1":50}}`,
    ]);
  });

  it('accepts a mirror step where the region has a canary behind an edge', () => {
    const edges = [{ name: 'eu', provider, residency: 'eu', routes: [route('eu-west-1', 50, true), route('eu-central-1', 50)] }];
    const regions = [{ ...region('eu-west-1', 'eu'), steps: [{ kind: 'mirror' as const, percent: 20, duration: '30s' }, { kind: 'setWeight' as const, weight: 25 }] }, region('eu-central-1', 'eu'), region('us-east-1', 'us')];
    expect(problems(spec({ edges, regions }))).toEqual([]);
  });
});
