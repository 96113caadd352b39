import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RolloutPlan } from '../../domain/plan';
import type { RolloutSpecInput } from '../../domain/spec';
import { validateSpec } from '../../domain/validate';
import { FAST_STEPS, OLD_IMAGE } from './spec';

/** The release of the tests: ledger <- orders <- checkout, over simulated regions. */
export const REGIONS = ['eu-west-1', 'us-east-1', 'ap-south-1'];
export const SERVICES = ['ledger', 'orders', 'checkout'] as const;
export const imageOf = (service: string) => `registry.test/shop/${service}@sha256:${service.slice(0, 1).repeat(64).replace(/[^0-9a-f]/g, 'a')}`;
export const oldImageOf = (service: string) => OLD_IMAGE.replace('checkout', service);

/** A contract version's files from a fixture folder of test/fixtures/contracts. */
export function proto(folder: string): Record<string, string> {
  const dir = join(import.meta.dirname, '..', 'fixtures', 'contracts', folder);
  return Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
}

export interface Contracts {
  /** What orders provides now and what the regions run. */
  next: Record<string, string>;
  running: Record<string, string>;
  /** What checkout is built against. */
  expects: Record<string, string>;
  checkoutWaits?: 'canary' | 'promoted' | 'baked';
}

export const UNCHANGED: Contracts = { next: proto('add-field/previous'), running: proto('add-field/previous'), expects: proto('add-field/previous') };

/** ledger <- orders <- checkout over three waves of one region each, on simulated targets. */
export function releaseSpec(contracts: Contracts = UNCHANGED, faults: string[] = [], waves: string[][] = REGIONS.map((r) => [r])): RolloutSpecInput {
  return {
    service: 'shop',
    version: '2026.12.1',
    regions: REGIONS.map((name) => ({ name })),
    waves: waves.map((regions, i) => ({ name: `wave-${i + 1}`, regions })),
    steps: [{ kind: 'setWeight', weight: 50 }],
    // No bake: the time-skipping test server at times rejects the completion of a stage cancelled
    // during its bake timer ("invalid history builder state for action") and the rollout hangs.
    bake: '0s',
    simulation: { baseline: { error_rate: 0.004, checkout_errors: 0.004 }, faults },
    services: SERVICES.map((name) => ({
      name,
      version: '2.0.0',
      image: imageOf(name),
      targets: Object.fromEntries(REGIONS.map((r) => [r, { kind: 'simulated', initial: { image: oldImageOf(name) } }])),
      metrics: [{ name: name === 'checkout' ? 'checkout_errors' : `${name}_errors`, provider: { type: 'simulated' }, max: 0.02 }],
      steps: FAST_STEPS.map((s) => (s.kind === 'analysis' ? { ...s, metrics: [name === 'checkout' ? 'checkout_errors' : `${name}_errors`] } : s)),
      ...(name === 'orders'
        ? { dependsOn: [{ service: 'ledger', until: 'promoted' }], provides: [{ contract: 'orders.v1', kind: 'protobuf', files: contracts.next, running: { files: contracts.running } }] }
        : {}),
      ...(name === 'checkout' ? { dependsOn: [{ service: 'orders', until: contracts.checkoutWaits ?? 'promoted' }], consumes: [{ contract: 'orders.v1', files: contracts.expects }] } : {}),
    })),
  } as unknown as RolloutSpecInput;
}

export function releasePlan(spec: RolloutSpecInput): RolloutPlan {
  const v = validateSpec(spec);
  if (!v.ok) throw new Error(v.problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return v.plan;
}
