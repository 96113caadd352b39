import { describe, expect, it } from 'vitest';
import type { EdgeShares, EdgeSpec } from '../../domain/edges';
import { apportion, normalShares, sameShares, steerAway, stepsBack, type SteerPlan } from '../../domain/steering';

function edge(routes: Record<string, number>, opts: Partial<EdgeSpec> = {}): EdgeSpec {
  return {
    name: 'edge-eu',
    provider: { type: 'envoy', admin: 'http://127.0.0.1:9901', configDir: 'envoy' },
    residency: 'eu',
    routes: Object.entries(routes).map(([region, share]) => ({ region, share, address: `${region}:8080` })),
    minHealthyShare: 0,
    ...opts,
  };
}

const EU = { a: 'eu', b: 'eu', c: 'eu', d: 'eu', u: 'us' };

interface SteerCase {
  name: string;
  edge: EdgeSpec;
  current?: Record<string, number>;
  region: string;
  unhealthy?: string[];
  residencyOf?: Record<string, string>;
  after: Record<string, number>;
}

const steers: SteerCase[] = [
  { name: 'two regions: all of it to the other', edge: edge({ a: 50, b: 50 }), region: 'a', after: { a: 0, b: 100 } },
  {
    name: 'three regions, uneven: in proportion to normal shares (30:20)',
    edge: edge({ a: 50, b: 30, c: 20 }),
    region: 'a',
    after: { a: 0, b: 60, c: 40 },
  },
  {
    name: 'rounding: 40 over 35:25 is 23.33 + 16.67; the larger remainder gets the spare percent',
    edge: edge({ a: 40, b: 35, c: 25 }),
    region: 'a',
    after: { a: 0, b: 58, c: 42 },
  },
  {
    name: 'rounding tie: 25 over three equal shares is 8.33 each; the spare percent goes by region name',
    edge: edge({ a: 25, b: 25, c: 25, d: 25 }),
    region: 'a',
    after: { a: 0, b: 34, c: 33, d: 33 },
  },
  {
    name: 'a region already unhealthy receives nothing (c was drained before)',
    edge: edge({ a: 50, b: 25, c: 25 }, { minHealthyShare: 50 }),
    current: { a: 67, b: 33, c: 0 },
    region: 'b',
    unhealthy: ['c'],
    after: { a: 100, b: 0, c: 0 },
  },
  {
    name: 'a region of another residency receives nothing and keeps what it had',
    edge: edge({ a: 50, b: 30, u: 20 }),
    region: 'a',
    after: { a: 0, b: 80, u: 20 },
  },
  {
    name: 'cross-residency exception: the allowed region shares the drain',
    edge: edge({ a: 50, b: 30, u: 20 }, { crossResidency: [{ region: 'u', reason: 'failover agreed with legal' }] }),
    region: 'a',
    after: { a: 0, b: 60, u: 40 },
  },
  {
    name: 'a region whose residency is unknown receives nothing',
    edge: edge({ a: 50, b: 30, x: 20 }),
    region: 'a',
    after: { a: 0, b: 80, x: 20 },
  },
  {
    name: 'a region with no normal share receives nothing',
    edge: edge({ a: 50, b: 50, c: 0 }),
    region: 'a',
    after: { a: 0, b: 100, c: 0 },
  },
];

describe('steerAway', () => {
  it.each(steers)('$name', (c) => {
    const before: EdgeShares = { shares: c.current ?? normalShares(c.edge).shares };
    const plan = steerAway(c.edge, before, c.region, c.residencyOf ?? EU, new Set(c.unhealthy ?? []));
    expect(plan).toEqual({ kind: 'steer', before, after: { shares: c.after } });
  });

  it('every steer keeps the total at 100', () => {
    for (const c of steers) {
      const plan = steerAway(c.edge, { shares: c.current ?? normalShares(c.edge).shares }, c.region, EU, new Set(c.unhealthy));
      if (plan.kind !== 'steer') throw new Error(c.name);
      expect(Object.values(plan.after.shares).reduce((s, v) => s + v, 0), c.name).toBe(100);
    }
  });

  it('holds with the figures when the healthy regions normally carry less than minHealthyShare', () => {
    const e = edge({ a: 50, b: 30, c: 20 }, { minHealthyShare: 60 });
    expect(steerAway(e, normalShares(e), 'a', EU, new Set())).toEqual<SteerPlan>({
      kind: 'hold',
      reason: 'below-min-healthy-share',
      numbers: {
        region: 'a',
        healthyShare: 50,
        minHealthyShare: 60,
        healthyRegions: ['b', 'c'],
        excludedRegions: [{ region: 'a', why: 'unhealthy' }],
      },
    });
  });

  it('holds when no healthy region of the residency is left, saying why each is excluded', () => {
    const e = edge({ a: 50, b: 30, u: 20 });
    expect(steerAway(e, normalShares(e), 'a', EU, new Set(['b']))).toEqual<SteerPlan>({
      kind: 'hold',
      reason: 'no-healthy-region',
      numbers: {
        region: 'a',
        healthyShare: 0,
        minHealthyShare: 0,
        healthyRegions: [],
        excludedRegions: [
          { region: 'a', why: 'unhealthy' },
          { region: 'b', why: 'unhealthy' },
          { region: 'u', why: 'other-residency' },
        ],
      },
    });
  });

  it('a region the edge does not serve: nothing to do', () => {
    const e = edge({ a: 50, b: 50 });
    expect(steerAway(e, normalShares(e), 'z', EU, new Set())).toEqual({ kind: 'none' });
  });

  it('a mirror to the drained region stops; other mirrors stay', () => {
    const e = edge({ a: 50, b: 50 });
    const plan = steerAway(e, { shares: { a: 50, b: 50 }, mirrors: { a: 10, b: 5 } }, 'a', EU, new Set());
    expect(plan).toMatchObject({ kind: 'steer', after: { shares: { a: 0, b: 100 }, mirrors: { b: 5 } } });
  });
});

interface BackCase {
  name: string;
  edge: EdgeSpec;
  current: Record<string, number>;
  region: string;
  steps: number[];
  expected: Record<string, number>[];
}

const backs: BackCase[] = [
  {
    name: 'two regions in 25/50/100: 12.5 rounds up for a (tie, by name)',
    edge: edge({ a: 50, b: 50 }),
    current: { a: 0, b: 100 },
    region: 'a',
    steps: [25, 50, 100],
    expected: [
      { a: 13, b: 87 },
      { a: 25, b: 75 },
      { a: 50, b: 50 },
    ],
  },
  {
    name: 'three regions, c still drained: the last step is the normal shares with c at 0',
    edge: edge({ a: 50, b: 30, c: 20 }),
    current: { a: 0, b: 100, c: 0 },
    region: 'a',
    steps: [50, 100],
    expected: [
      { a: 32, b: 68, c: 0 },
      { a: 63, b: 37, c: 0 },
    ],
  },
  {
    name: 'steps not ending at 100 get a last step at 100',
    edge: edge({ a: 40, b: 60 }),
    current: { a: 0, b: 100 },
    region: 'a',
    steps: [50],
    expected: [
      { a: 20, b: 80 },
      { a: 40, b: 60 },
    ],
  },
  {
    name: 'uneven three regions, nothing else drained: each step a percent of the normal share',
    edge: edge({ a: 20, b: 30, c: 50 }),
    current: { a: 0, b: 38, c: 62 },
    region: 'a',
    steps: [25, 50, 100],
    expected: [
      { a: 5, b: 36, c: 59 },
      { a: 10, b: 34, c: 56 },
      { a: 20, b: 30, c: 50 },
    ],
  },
];

describe('stepsBack', () => {
  it.each(backs)('$name', (c) => {
    const steps = stepsBack(c.edge, { shares: c.current }, c.region, c.steps);
    expect(steps.map((s) => s.shares)).toEqual(c.expected);
  });

  it('after steering away and all the way back, the edge is at its normal shares', () => {
    const e = edge({ a: 40, b: 35, c: 25 });
    const away = steerAway(e, normalShares(e), 'a', EU, new Set());
    if (away.kind !== 'steer') throw new Error('expected a steer');
    const back = stepsBack(e, away.after, 'a', [10, 33, 100]);
    expect(sameShares(back.at(-1)!, normalShares(e))).toBe(true);
    for (const s of back) expect(Object.values(s.shares).reduce((x, y) => x + y, 0)).toBe(100);
  });

  it('mirrors stay as they are', () => {
    const e = edge({ a: 50, b: 50 });
    const steps = stepsBack(e, { shares: { a: 0, b: 100 }, mirrors: { b: 5 } }, 'a', [100]);
    expect(steps).toEqual([{ shares: { a: 50, b: 50 }, mirrors: { b: 5 } }]);
  });

  it('a region the edge does not serve has no steps; a step that is not a whole percent is refused', () => {
    const e = edge({ a: 50, b: 50 });
    expect(stepsBack(e, normalShares(e), 'z', [50, 100])).toEqual([]);
    expect(() => stepsBack(e, { shares: { a: 0, b: 100 } }, 'a', [12.5, 100])).toThrow(RangeError);
  });
});

describe('shares', () => {
  it('normalShares is what the routes declare', () => {
    expect(normalShares(edge({ a: 70, b: 30 }))).toEqual({ shares: { a: 70, b: 30 } });
  });

  it.each<[string, EdgeShares, EdgeShares, boolean]>([
    ['equal', { shares: { a: 50, b: 50 } }, { shares: { b: 50, a: 50 } }, true],
    ['a missing region counts as 0', { shares: { a: 100, b: 0 } }, { shares: { a: 100 } }, true],
    ['different shares', { shares: { a: 60, b: 40 } }, { shares: { a: 50, b: 50 } }, false],
    ['different mirrors', { shares: { a: 100 }, mirrors: { a: 5 } }, { shares: { a: 100 } }, false],
    ['a mirror of 0 is no mirror', { shares: { a: 100 }, mirrors: { a: 0 } }, { shares: { a: 100 } }, true],
  ])('sameShares: %s', (_, a, b, same) => {
    expect(sameShares(a, b)).toBe(same);
  });

  it.each<[Record<string, number>, number, Record<string, number>]>([
    [{ a: 1, b: 1 }, 100, { a: 50, b: 50 }],
    [{ a: 1, b: 1, c: 1 }, 100, { a: 34, b: 33, c: 33 }],
    [{ c: 1, b: 1, a: 1 }, 2, { a: 1, b: 1, c: 0 }],
    [{ a: 2, b: 1 }, 100, { a: 67, b: 33 }],
    [{ a: 0, b: 0 }, 100, { a: 0, b: 0 }],
  ])('apportion %o of %i', (weights, total, expected) => {
    expect(apportion(weights, total)).toEqual(expected);
  });
});
