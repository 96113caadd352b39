import { describe, expect, it } from 'vitest';
import { compensationPlan, describeUndo, mergeUndo, type RegionUndo } from '../../domain/compensation';
import type { KnownGood, Undo } from '../../domain/status';

const snap: KnownGood = { image: 'app:1', config: {}, weight: 0, capturedAt: '2026-01-01T00:00:00Z' };
const stack = (region: string): Undo[] => [
  { kind: 'restoreWorkload', region, key: `${region}/w`, snapshot: snap },
  { kind: 'restoreTraffic', region, key: `${region}/t`, weight: 0 },
];
const regions: RegionUndo[] = [
  { region: 'eu-west-1', wave: 0, undo: stack('eu-west-1') },
  { region: 'us-east-1', wave: 1, undo: stack('us-east-1') },
  { region: 'eu-central-1', wave: 1, undo: stack('eu-central-1') },
  { region: 'ap-south-1', wave: 2, undo: [] },
];
const shape = (groups: ReturnType<typeof compensationPlan>) => groups.map((g) => g.map((r) => `${r.undo.region}:${r.undo.kind}`));

describe('compensationPlan', () => {
  it.each([
    {
      name: 'newest wave first, each region newest undo first, untouched regions skipped',
      scope: ['eu-west-1', 'us-east-1', 'eu-central-1', 'ap-south-1'],
      want: [
        ['us-east-1:restoreTraffic', 'us-east-1:restoreWorkload', 'eu-central-1:restoreTraffic', 'eu-central-1:restoreWorkload'],
        ['eu-west-1:restoreTraffic', 'eu-west-1:restoreWorkload'],
      ],
    },
    { name: 'one region only (rollback-region)', scope: ['us-east-1'], want: [['us-east-1:restoreTraffic', 'us-east-1:restoreWorkload']] },
    { name: 'nothing touched', scope: ['ap-south-1'], want: [] },
  ])('$name', ({ scope, want }) => {
    expect(shape(compensationPlan(regions, new Set(scope)))).toEqual(want);
  });

  it("runs every touched region's kill switches first, together, then each region newest first", () => {
    const flag = { key: 'new-path', variants: { on: true, off: false }, killSwitch: 'off', defaultVariant: 'off' };
    const provider = { type: 'flagd' as const, file: 'flags' };
    const snapshot = { kind: 'flagd', flagKey: 'new-path', definition: null };
    const flagged = (region: string): Undo[] => [
      { kind: 'restoreWorkload', region, key: `${region}/w`, snapshot: snap },
      { kind: 'restoreFlag', region, key: `${region}/f`, provider, snapshot },
      { kind: 'killSwitch', region, key: `${region}/k`, flag, provider },
      { kind: 'restoreTraffic', region, key: `${region}/t`, weight: 0 },
    ];
    const plan = compensationPlan(
      [
        { region: 'eu-west-1', wave: 0, undo: flagged('eu-west-1') },
        { region: 'us-east-1', wave: 1, undo: flagged('us-east-1') },
      ],
      new Set(['eu-west-1', 'us-east-1']),
    );
    expect(shape(plan)).toEqual([
      ['eu-west-1:killSwitch', 'us-east-1:killSwitch'],
      ['us-east-1:restoreTraffic', 'us-east-1:restoreFlag', 'us-east-1:restoreWorkload'],
      ['eu-west-1:restoreTraffic', 'eu-west-1:restoreFlag', 'eu-west-1:restoreWorkload'],
    ]);
  });

  it('starts every record pending with no attempts and keeps the recorded snapshot', () => {
    const first = compensationPlan([regions[0]!], new Set(['eu-west-1']))[0]![0];
    expect(first).toMatchObject({ outcome: 'pending', attempts: 0, wave: 0 });
    const workload = compensationPlan([regions[0]!], new Set(['eu-west-1']))[0]![1]!.undo;
    expect(workload).toMatchObject({ kind: 'restoreWorkload', snapshot: snap });
  });
});

describe('mergeUndo', () => {
  it('keeps the first recording of a key and appends new keys in order', () => {
    const first = stack('r');
    const again: Undo[] = [{ ...first[0]!, snapshot: { ...snap, image: 'app:other' } } as Undo, { kind: 'restoreTraffic', region: 'r', key: 'r/t2', weight: 5 }];
    const merged = mergeUndo(first, again);
    expect(merged.map((u) => u.key)).toEqual(['r/w', 'r/t', 'r/t2']);
    expect((merged[0] as Extract<Undo, { kind: 'restoreWorkload' }>).snapshot.image).toBe('app:1');
  });
});

describe('describeUndo', () => {
  it.each([
    [{ kind: 'restoreTraffic', region: 'r', key: 'k', weight: 0 }, 'restore traffic in r to 0%'],
    [{ kind: 'restoreWorkload', region: 'r', key: 'k', snapshot: snap }, 'restore r to app:1'],
    [{ kind: 'revertMigrations', region: 'r', key: 'k', database: 'orders', migrationIds: ['001', '002'] }, 'revert migrations 001, 002 on orders in r'],
    [{ kind: 'reconcileData', region: 'r', key: 'k', database: 'orders', recipe: 'x', windowStart: 't' }, 'reconcile data on orders in r'],
  ] as [Undo, string][])('%j', (u, want) => {
    expect(describeUndo(u)).toBe(want);
  });
});
