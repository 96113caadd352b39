import { describe, expect, it } from 'vitest';
import { compilePlan } from '../../domain/plan';
import { rolloutSpec } from '../../domain/spec';
import { describeStep, effectKey, gateName } from '../../domain/steps';
import { specWarnings } from '../../domain/warnings';
import { specInput } from '../support/spec';

const spec = rolloutSpec.parse(
  specInput(
    {
      waves: [{ regions: ['a', 'b'], steps: [{ kind: 'setWeight', weight: 50 }], bake: '2m', maxParallel: 1 }, { name: 'last', regions: ['c'] }],
      steps: [{ kind: 'setWeight', weight: 25 }],
      bake: '3m',
    },
    { region: (name) => (name === 'a' ? { steps: [{ kind: 'setWeight', weight: 5 }], bake: '1m' } : {}) },
  ),
);

describe('compilePlan', () => {
  it('resolves steps and bake with region over wave over rollout', () => {
    const plan = compilePlan(spec);
    expect(plan.regions.a!.steps).toEqual([{ kind: 'setWeight', weight: 5 }]);
    expect(plan.regions.a!.bakeMs).toBe(60_000);
    expect(plan.regions.b!.steps).toEqual([{ kind: 'setWeight', weight: 50 }]);
    expect(plan.regions.b!.bakeMs).toBe(120_000);
    expect(plan.regions.c!.steps).toEqual([{ kind: 'setWeight', weight: 25 }]);
    expect(plan.regions.c!.bakeMs).toBe(180_000);
  });

  it('names waves, keeps their order and defaults maxParallel to the wave size', () => {
    const plan = compilePlan(spec);
    expect(plan.waves.map((w) => [w.name, w.regions, w.maxParallel])).toEqual([
      ['wave-1', ['a', 'b'], 1],
      ['last', ['c'], 1],
    ]);
    expect(plan.regions.c!.wave).toBe(1);
  });
});

describe('steps', () => {
  it.each([
    [{ kind: 'setWeight', weight: 25 }, 'setWeight 25%'],
    [{ kind: 'pause', duration: 90_000 }, 'pause 1m30s'],
    [{ kind: 'approval', name: 'go-live', timeout: 3_600_000, onTimeout: 'proceed' }, 'approval go-live (timeout 1h, then proceed)'],
    [{ kind: 'analysis', metrics: ['error_rate', 'p99'], interval: 30_000, sustainedFor: 600_000 }, 'analysis error_rate, p99 sustained 10m'],
  ] as const)('describes %j', (step, want) => {
    expect(describeStep(step as never)).toBe(want);
  });

  it('names a gate by its name or position, and keys effects by rollout, region and step', () => {
    expect(gateName({ kind: 'approval', name: 'go' }, 3)).toBe('go');
    expect(gateName({ kind: 'approval' }, 3)).toBe('step-4');
    expect(effectKey('rollout/svc/1', 'a', 'weight-25')).toBe('rollout/svc/1/a/weight-25');
  });
});

describe('specWarnings', () => {
  it('warns about an analysis right after a flag step, and not with a pause between', () => {
    const analysis = { kind: 'analysis' as const, metrics: ['error_rate'], interval: 1000, sustainedFor: 5000, failureLimit: 0, inconclusiveLimit: 0, consecutiveErrorLimit: 4, minSamples: 1 };
    const flag = { kind: 'flag' as const, flag: 'new-path', variant: 'on', fraction: 10 };
    expect(specWarnings({ ...spec, steps: [flag, analysis] })).toEqual([
      "steps[1]: this analysis comes right after a flag step, before services may have picked the change up; put a pause between them as long as the flag provider's refresh (flagd in process: 5s by default)",
    ]);
    expect(specWarnings({ ...spec, steps: [flag, { kind: 'pause', duration: 5000 }, analysis] })).toEqual([]);
  });

  it('warns about an image that is not pinned by digest, and only then', () => {
    expect(specWarnings(spec)).toEqual([]);
    expect(specWarnings({ ...spec, image: 'registry.example.com/app:1.2' })).toEqual([
      'image: "registry.example.com/app:1.2" is not pinned by digest; a tag can point at different builds in different regions (use image@sha256:...)',
    ]);
  });
});
