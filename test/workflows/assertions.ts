import { expect } from 'vitest';
import type { SimulatedFleet } from '../../activities/fleet';
import type { RolloutPlan } from '../../domain/plan';
import type { RolloutStatus } from '../../domain/status';

/** Every region runs exactly its known-good version at weight 0, or the new version at 100. */
export function expectRegions(fleet: SimulatedFleet, plan: RolloutPlan, expected: Record<string, 'new' | 'old' | 'untouched'>) {
  for (const [name, want] of Object.entries(expected)) {
    const r = fleet.region(plan.service, name);
    if (want === 'untouched') {
      expect(fleet.journal(plan.service, name).filter((j) => j.op !== 'snapshot'), `${name} was never changed`).toEqual([]);
      continue;
    }
    expect(r, `${name} exists in the fleet`).toBeDefined();
    if (want === 'new') {
      expect({ image: r!.stable.image, canary: r!.canary, weight: r!.weight }, name).toEqual({ image: plan.image, canary: null, weight: 100 });
    } else {
      const target = plan.regions[name]!.target;
      const initial = target.kind === 'simulated' ? target.initial!.image : undefined;
      expect({ image: r!.stable.image, canary: r!.canary, weight: r!.weight }, name).toEqual({ image: initial, canary: null, weight: 0 });
    }
  }
}

export function auditActions(s: RolloutStatus, action: string): { region?: string; actor: string; reason: string }[] {
  return s.audit.filter((a) => a.action === action);
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
