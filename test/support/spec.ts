import { compilePlan, type RolloutPlan } from '../../domain/plan';
import { rolloutSpec, type RolloutSpecInput } from '../../domain/spec';

/**
 * The one spec builder of the tests: checkout 2.4.0 over simulated regions, with analysis fast
 * enough for the time-skipping server. Tests change what they are about and keep the rest.
 */

export const OLD_IMAGE = 'registry.test/shop/checkout:2.3.1';
export const NEW_IMAGE = 'registry.test/shop/checkout@sha256:' + 'ab'.repeat(32);

export type RegionInput = RolloutSpecInput['regions'][number];
export type StepInput = RolloutSpecInput['steps'][number];

/** error_rate judged on three samples 100 ms apart, healthy for 300 ms. */
export const FAST_ANALYSIS = { kind: 'analysis', metrics: ['error_rate'], interval: '100ms', sustainedFor: '300ms', minSamples: 3 } satisfies StepInput;
export const FAST_STEPS: StepInput[] = [
  { kind: 'setWeight', weight: 10 },
  FAST_ANALYSIS,
  { kind: 'setWeight', weight: 25 },
  FAST_ANALYSIS,
  { kind: 'setWeight', weight: 50 },
];

/** Five regions in three waves: a canary region, two early ones, then the rest one at a time. */
export const REGIONS = ['eu-west-1', 'us-east-1', 'eu-central-1', 'ap-south-1', 'ap-northeast-1'];
const WAVES: RolloutSpecInput['waves'] = [
  { name: 'canary', regions: ['eu-west-1'] },
  { name: 'early', regions: ['us-east-1', 'eu-central-1'] },
  { name: 'rest', regions: ['ap-south-1', 'ap-northeast-1'], maxParallel: 1 },
];

export const BREACH_IN_WAVE_2 = 'us-east-1: error_rate 0.08 when weight >= 25';

export interface Layout {
  /**
   * Regions by wave name, in wave order; the default is the five regions in three waves above. The
   * spec's regions are the regions of its waves (of `over.waves` when the test gives them).
   */
  waves?: Record<string, string[]>;
  /** What a region has beyond (or instead of) a simulated target that ran OLD_IMAGE: a database, another target. */
  region?: (name: string) => Partial<RegionInput>;
}

/**
 * A spec as a user writes it. `over` replaces top-level fields; a field set to undefined is left
 * out. Every call returns fresh data, so a test may change it in place.
 */
export function specInput(over: Partial<RolloutSpecInput> = {}, layout: Layout = {}): RolloutSpecInput {
  const waves = layout.waves ? Object.entries(layout.waves).map(([name, regions]) => ({ name, regions })) : WAVES;
  const names = (over.waves ?? waves).flatMap((w) => w.regions);
  const spec: Record<string, unknown> = {
    service: 'checkout',
    version: '2.4.0',
    image: NEW_IMAGE,
    regions: names.map((name) => ({ name, target: { kind: 'simulated', initial: { image: OLD_IMAGE } }, ...layout.region?.(name) })),
    waves,
    metrics: [{ name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 }],
    steps: FAST_STEPS,
    bake: '1s',
    simulation: { baseline: { error_rate: 0.004 }, faults: [] },
    ...over,
  };
  for (const [key, value] of Object.entries(spec)) if (value === undefined) delete spec[key];
  return structuredClone(spec) as RolloutSpecInput;
}

/** What the client compiles a spec to before it starts a rollout. */
export function planOf(input: RolloutSpecInput): RolloutPlan {
  return compilePlan(rolloutSpec.parse(input));
}

export function testPlan(over: Partial<RolloutSpecInput> = {}, layout: Layout = {}): RolloutPlan {
  return planOf(specInput(over, layout));
}

/** One wave per region, named wave-1, wave-2, ... */
export function wavePerRegion(regions: readonly string[]): Record<string, string[]> {
  return Object.fromEntries(regions.map((r, i) => [`wave-${i + 1}`, [r]]));
}
