import { describe, expect, it } from 'vitest';
import {
  BUILT_IN_POLICIES,
  builtInPolicies,
  checkEdgePlan,
  compilePolicies,
  evaluatePolicies,
  policyInput,
} from '../../domain/edge-policy';
import type { EdgeShares, EdgeSpec } from '../../domain/edges';
import { normalShares, steerAway } from '../../domain/steering';

function edge(routes: Record<string, number>, opts: Partial<EdgeSpec> = {}): EdgeSpec {
  return {
    name: 'edge-eu',
    provider: { type: 'envoy', admin: 'http://127.0.0.1:9901', configDir: 'envoy' },
    residency: 'eu',
    routes: Object.entries(routes).map(([region, share]) => ({ region, share, address: `${region}:8080` })),
    minHealthyShare: 50,
    ...opts,
  };
}

const RESIDENCY = { a: 'eu', b: 'eu', c: 'eu', u: 'us' };
const EDGE = edge({ a: 50, b: 30, c: 20 });

function failing(e: EdgeSpec, planned: EdgeShares, unhealthy: string[] = []): string[] {
  return checkEdgePlan(policyInput(e, planned, RESIDENCY, new Set(unhealthy))).map((f) => f.name);
}

describe('built-in edge policies', () => {
  it('compile', () => {
    expect(compilePolicies(BUILT_IN_POLICIES).problems).toEqual([]);
    expect(builtInPolicies().map((p) => p.name)).toEqual(['residency', 'min-healthy-share', 'shares']);
  });

  it.each<[string, EdgeSpec, EdgeShares, string[], string[]]>([
    ['the normal shares pass', EDGE, { shares: { a: 50, b: 30, c: 20 } }, [], []],
    ['a drained plan within the residency passes', EDGE, { shares: { a: 0, b: 60, c: 40 } }, ['a'], []],
    ['residency: a share to a region of another residency', EDGE, { shares: { a: 50, b: 30, u: 20 } }, [], ['residency']],
    ['residency: a share of 0 there is no route', EDGE, { shares: { a: 50, b: 30, c: 20, u: 0 } }, [], []],
    ['residency: a mirror to a region of another residency', EDGE, { shares: { a: 50, b: 30, c: 20 }, mirrors: { u: 5 } }, [], ['residency']],
    ['residency: a region of unknown residency', EDGE, { shares: { a: 50, b: 30, x: 20 } }, [], ['residency']],
    [
      'residency: the crossResidency exception passes',
      edge({ a: 50, b: 30, u: 20 }, { crossResidency: [{ region: 'u', reason: 'failover agreed with legal' }] }),
      { shares: { a: 50, b: 30, u: 20 } },
      [],
      [],
    ],
    ['min-healthy-share: healthy regions normally carrying 50 of 50 pass', EDGE, { shares: { a: 0, b: 60, c: 40 } }, ['a'], []],
    ['min-healthy-share: healthy regions normally carrying 30 of 50', EDGE, { shares: { a: 0, b: 100, c: 0 } }, ['a', 'c'], ['min-healthy-share']],
    ['min-healthy-share: traffic on an unhealthy region does not count', EDGE, { shares: { a: 50, b: 30, c: 20 } }, ['a', 'b'], ['min-healthy-share']],
    ['shares: adding to 90', EDGE, { shares: { a: 50, b: 20, c: 20 } }, [], ['shares']],
    ['shares: out of 0..100 though adding to 100', EDGE, { shares: { a: 120, b: -20, c: 0 } }, [], ['shares']],
    ['shares: a mirror over 100', EDGE, { shares: { a: 50, b: 30, c: 20 }, mirrors: { a: 101 } }, [], ['shares']],
  ])('%s', (_, e, planned, unhealthy, expected) => {
    expect(failing(e, planned, unhealthy)).toEqual(expected);
  });

  it('a failing built-in rule shows what it read', () => {
    const [failure] = checkEdgePlan(policyInput(EDGE, { shares: { a: 0, b: 100, c: 0 } }, RESIDENCY, new Set(['a', 'c'])));
    expect(failure).toMatchObject({
      name: 'min-healthy-share',
      saw: {
        'planned.shares': { a: 0, b: 100, c: 0 },
        'edge.normalShares': { a: 50, b: 30, c: 20 },
        'edge.minHealthyShare': 50,
        regions: {
          a: { residency: 'eu', healthy: false },
          b: { residency: 'eu', healthy: true },
          c: { residency: 'eu', healthy: false },
        },
      },
    });
    expect(failure!.error).toBeUndefined();
  });

  it('what steerAway plans passes them', () => {
    const e = edge({ a: 40, b: 35, c: 25, u: 0 }, { minHealthyShare: 40 });
    const plan = steerAway(e, normalShares(e), 'a', RESIDENCY, new Set());
    if (plan.kind !== 'steer') throw new Error('expected a steer');
    expect(failing(e, plan.after, ['a'])).toEqual([]);
  });
});

describe('user edge policies', () => {
  const input = policyInput(EDGE, { shares: { a: 0, b: 60, c: 40 } }, RESIDENCY, new Set(['a']));

  it('a failing rule comes back with its name, message and what it read', () => {
    const { compiled, problems } = compilePolicies([
      { name: 'no-region-over-50', rule: 'planned.shares.all(r, planned.shares[r] <= 50)', message: 'no region may carry more than half' },
      { name: 'named-edge', rule: "edge.name.startsWith('edge-')" },
    ]);
    expect(problems).toEqual([]);
    expect(evaluatePolicies(compiled, input)).toEqual([
      {
        name: 'no-region-over-50',
        message: 'no region may carry more than half',
        rule: 'planned.shares.all(r, planned.shares[r] <= 50)',
        saw: { 'planned.shares': { a: 0, b: 60, c: 40 } },
      },
    ]);
  });

  it('sum() adds up a list; a rule may use it over healthy regions', () => {
    const { compiled } = compilePolicies([
      { name: 'healthy-carry-all', rule: 'sum(planned.shares.filter(r, regions[r].healthy).map(r, planned.shares[r])) == 100' },
      { name: 'doubles', rule: 'sum([0.5, 0.25]) == 0.75 && sum([]) == 0' },
    ]);
    expect(evaluatePolicies(compiled, input)).toEqual([]);
  });

  it('a rule that fails at evaluation counts as failing, with the error', () => {
    const { compiled } = compilePolicies([{ name: 'missing-key', rule: "planned.shares['z'] > 0" }]);
    const [failure] = evaluatePolicies(compiled, input);
    expect(failure).toMatchObject({ name: 'missing-key', message: 'edge policy missing-key failed', saw: { 'planned.shares': { a: 0, b: 60, c: 40 } } });
    expect(failure!.error).toMatch(/z/);
  });

  it.each<[string, string, RegExp]>([
    ['a syntax error', 'planned.shares.all(r, ', /1:\d+/],
    ['an unknown identifier', 'plan.shares.size() > 0', /undeclared reference to 'plan'/],
    ['an unknown field', 'edge.minHealthy > 0', /edge has no field 'minHealthy'/],
    ['an unknown field in has()', 'has(planned.weights)', /planned has no field 'weights'/],
    ['an unknown field of a region', "regions.all(r, regions[r].up)", /region has no field 'up'/],
    ['an unknown function', 'average(planned.shares) > 0', /undeclared function 'average'/],
    ['mixed int and double arithmetic', 'edge.minHealthyShare * 1.5 > 10', /no matching overload for '_\*_' applied to '\(int, double\)'/],
    ['comparing a string to an int', 'edge.residency > 3', /no matching overload for '_>_'/],
    ['a result that is not a bool', 'edge.minHealthyShare + 1', /yields int, not bool/],
  ])('%s is reported when the rules are loaded', (_, rule, error) => {
    const { compiled, problems } = compilePolicies([
      { name: 'fine', rule: 'edge.minHealthyShare >= 0' },
      { name: 'broken', rule },
    ]);
    expect(compiled.map((p) => p.name)).toEqual(['fine']);
    expect(problems).toEqual([{ index: 1, name: 'broken', rule, error: expect.stringMatching(error) }]);
  });

  it('comprehension variables and mixed int/double comparisons check', () => {
    const { problems } = compilePolicies([
      { name: 'exists', rule: 'planned.shares.exists(r, r.startsWith("a") && planned.shares[r] < 0.5)' },
      { name: 'ternary', rule: "(edge.residency == 'eu' ? 1 : 2) == 1" },
      { name: 'in', rule: "'a' in planned.shares && !('u' in edge.crossResidency)" },
      { name: 'size', rule: 'size(planned.shares) == planned.shares.size()' },
    ]);
    expect(problems).toEqual([]);
  });
});
