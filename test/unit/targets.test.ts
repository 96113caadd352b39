import { describe, expect, it } from 'vitest';
import { compilePlan } from '../../domain/plan';
import { rolloutSpec, target, type Target } from '../../domain/spec';
import { targetTraits } from '../../domain/targets';

const cluster = (extra: Record<string, unknown> = {}) =>
  target.parse({ kind: 'kubernetes', context: 'kind-eu', namespace: 'shop', deployment: 'checkout', ...extra });

describe('targetTraits', () => {
  it('a Kubernetes region waits on its progress deadline, carries the snapshot to promote and names its namespace and image', () => {
    expect(targetTraits(cluster({ image: 'mirror.eu/shop/checkout@sha256:abc', progressDeadline: '2m' }))).toEqual({
      progressDeadlineMs: 120_000,
      promoteNeedsSnapshot: true,
      namespace: 'shop',
      image: 'mirror.eu/shop/checkout@sha256:abc',
      simulated: false,
    });
    expect(targetTraits(cluster()).progressDeadlineMs).toBe(600_000);
    expect(targetTraits(cluster()).image).toBeUndefined();
  });

  it('a simulated region is the fleet itself and states what it runs first', () => {
    expect(targetTraits(target.parse({ kind: 'simulated' }))).toEqual({ promoteNeedsSnapshot: false, simulated: true });
    expect(targetTraits(target.parse({ kind: 'simulated', initial: { image: 'shop/checkout:2.3.1' } }))).toEqual({
      promoteNeedsSnapshot: false,
      simulated: true,
      initial: { image: 'shop/checkout:2.3.1', config: {} },
    });
  });

  it('names the known kinds for a kind this build does not know', () => {
    expect(() => targetTraits({ kind: 'nomad' } as unknown as Target)).toThrow('target kind "nomad" has no traits (known: simulated, kubernetes)');
  });
});

describe("a region's namespace label", () => {
  const plan = compilePlan(
    rolloutSpec.parse({
      service: 'checkout',
      version: '2.4.0',
      image: 'shop/checkout@sha256:' + '0'.repeat(64),
      regions: [
        { name: 'eu', target: { kind: 'kubernetes', context: 'kind-eu', namespace: 'shop', deployment: 'checkout' } },
        { name: 'us', target: { kind: 'kubernetes', context: 'kind-us', namespace: 'shop', deployment: 'checkout' }, labels: { namespace: 'edge', tier: '1' } },
        { name: 'ap', target: { kind: 'simulated' }, labels: { tier: '2' } },
      ],
      waves: [{ regions: ['eu', 'us', 'ap'] }],
      steps: [{ kind: 'setWeight', weight: 25 }],
    }),
  );

  it("comes from the target's namespace unless a label names one", () => {
    expect(plan.regions.eu!.labels).toEqual({ namespace: 'shop' });
    expect(plan.regions.us!.labels).toEqual({ namespace: 'edge', tier: '1' });
    expect(plan.regions.ap!.labels).toEqual({ tier: '2' });
  });
});
