import { compilePlan, type RolloutPlan } from '../../domain/plan';
import { rolloutSpec, type RolloutSpecInput } from '../../domain/spec';

export const OLD_IMAGE = 'registry.test/shop/checkout:2.3.1';
export const NEW_IMAGE = 'registry.test/shop/checkout@sha256:' + 'ab'.repeat(32);

const fast = { kind: 'analysis' as const, metrics: ['error_rate'], interval: '100ms', sustainedFor: '300ms', minSamples: 3 };

/** Three waves over five simulated regions with analysis fast enough for a test. */
export function testPlan(overrides: Partial<RolloutSpecInput> = {}): RolloutPlan {
  const region = (name: string) => ({ name, target: { kind: 'simulated' as const, initial: { image: OLD_IMAGE } } });
  return compilePlan(
    rolloutSpec.parse({
      service: 'checkout',
      version: '2.4.0',
      image: NEW_IMAGE,
      regions: ['eu-west-1', 'us-east-1', 'eu-central-1', 'ap-south-1', 'ap-northeast-1'].map(region),
      waves: [
        { name: 'canary', regions: ['eu-west-1'] },
        { name: 'early', regions: ['us-east-1', 'eu-central-1'] },
        { name: 'rest', regions: ['ap-south-1', 'ap-northeast-1'], maxParallel: 1 },
      ],
      metrics: [{ name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 }],
      steps: [{ kind: 'setWeight', weight: 10 }, fast, { kind: 'setWeight', weight: 25 }, fast, { kind: 'setWeight', weight: 50 }],
      bake: '1s',
      simulation: { baseline: { error_rate: 0.004 }, faults: [] },
      ...overrides,
    }),
  );
}

export const BREACH_IN_WAVE_2 = 'us-east-1: error_rate 0.08 when weight >= 25';
