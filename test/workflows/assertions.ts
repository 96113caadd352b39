import { expect } from 'vitest';
import type { SimulatedFleet } from '../../activities/fleet';
import type { RolloutPlan } from '../../domain/plan';
import { targetTraits } from '../../domain/targets';

/**
 * What a region of the simulated fleet should run: `new` is the rollout's image at 100% with no
 * canary left, `old` is its known-good image back at 0% (it was changed, then rolled back), and
 * `untouched` means nothing but a snapshot ever reached it. Or exactly this image and weight.
 */
export type FleetExpectation = 'new' | 'old' | 'untouched' | { image: string; weight: number; canary?: string | null };

/**
 * The fleet as the rollout left it. Every region of the plan that `expected` does not name must be
 * untouched, so a test names only the regions its rollout was meant to change.
 */
export function expectFleet(fleet: SimulatedFleet, plan: RolloutPlan, expected: Record<string, FleetExpectation> = {}): void {
  for (const name of Object.keys(expected)) expect(Object.keys(plan.regions), `${name} is a region of the plan`).toContain(name);
  for (const [name, region] of Object.entries(plan.regions)) {
    const want = expected[name] ?? 'untouched';
    const initial = targetTraits(region.target).initial?.image;
    const now = fleet.region(plan.service, name);
    const seen = now && { image: now.stable.image, canary: now.canary?.image ?? null, weight: now.weight };
    if (want === 'untouched') {
      expect(fleet.journal(plan.service, name).filter((j) => j.op !== 'snapshot'), `${name} was never changed`).toEqual([]);
      if (seen) expect(seen, `${name} runs what it was seeded with`).toEqual({ image: initial, canary: null, weight: 0 });
      continue;
    }
    expect(seen, `${name} is in the fleet`).toBeDefined();
    if (want === 'new') expect(seen, name).toEqual({ image: plan.image, canary: null, weight: 100 });
    else if (want === 'old') expect(seen, name).toEqual({ image: initial, canary: null, weight: 0 });
    else expect(seen, name).toEqual({ canary: null, ...want });
  }
}

/** `want` for every region of the plan. */
export function everyRegion(plan: RolloutPlan, want: FleetExpectation): Record<string, FleetExpectation> {
  return Object.fromEntries(Object.keys(plan.regions).map((name) => [name, want]));
}

/** An update the workflow's validator refused; the refusal's message is on the failure's cause. */
export async function expectRejected(p: Promise<unknown>, message: RegExp) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e as { message?: string; cause?: { message?: string } },
  );
  expect(err, 'the update was refused').toBeDefined();
  expect(err!.cause?.message ?? err!.message).toMatch(message);
}
