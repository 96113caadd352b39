import { parseFault, type Fault } from '../domain/faults';
import type { RolloutPlan } from '../domain/plan';
import type { FailurePolicy, RolloutSpecInput } from '../domain/spec';
import type { RolloutPhase } from '../domain/status';
import { formatProblem, validateSpec } from '../domain/validate';

/**
 * The rollouts of the fleet rows: four simulated regions in three waves, short steps, and a
 * scripted fault (or none) per scenario, each with the end it must reach however often its workers
 * or its server die on the way.
 */

export const OLD_IMAGE = 'registry.chaos/shop/app:1.0.0';
export const NEW_IMAGE = `registry.chaos/shop/app@sha256:${'c4'.repeat(32)}`;

export const WAVES = [
  { name: 'wave-1', regions: ['eu-west-1'] },
  { name: 'wave-2', regions: ['us-east-1', 'eu-central-1'] },
  { name: 'wave-3', regions: ['ap-south-1'] },
] as const;

/** The region of wave 2 that the faulty scenarios hit. */
const FAULTY = 'us-east-1';

/**
 * What a region runs at the end: `new` the rollout's image as stable at 100% with no canary; `old` the
 * image it ran before at 0% (rolled back, or never reached); `untouched` like `old`, and nothing but
 * a snapshot ever changed it.
 */
export type RegionEnd = 'new' | 'old' | 'untouched';

export interface Scenario {
  name: string;
  /** Lines of the spec's `simulation.faults` (domain/faults.ts). */
  faults: string[];
  failurePolicy: FailurePolicy;
  phase: RolloutPhase;
  regions: Record<string, RegionEnd>;
}

const everywhere = (end: RegionEnd) => Object.fromEntries(WAVES.flatMap((w) => w.regions.map((r) => [r, end])));

export const SCENARIOS: readonly Scenario[] = [
  { name: 'happy', faults: [], failurePolicy: 'rollback-all', phase: 'Succeeded', regions: everywhere('new') },
  {
    name: 'wave-2 setWeight fails twice',
    faults: [`${FAULTY}: fail setWeight 2 times`],
    failurePolicy: 'rollback-all',
    phase: 'Succeeded',
    regions: everywhere('new'),
  },
  {
    name: 'wave-2 breach, rollback-all',
    faults: [`${FAULTY}: error_rate 0.08 when weight >= 25`],
    failurePolicy: 'rollback-all',
    phase: 'RolledBack',
    regions: { 'eu-west-1': 'old', 'us-east-1': 'old', 'eu-central-1': 'old', 'ap-south-1': 'untouched' },
  },
  {
    name: 'wave-2 breach, rollback-region',
    faults: [`${FAULTY}: error_rate 0.08 when weight >= 25`],
    failurePolicy: 'rollback-region',
    phase: 'Failed',
    regions: { 'eu-west-1': 'new', 'us-east-1': 'old', 'eu-central-1': 'new', 'ap-south-1': 'untouched' },
  },
];

/** The i-th rollout's scenario: the scenarios in turn, so every size runs each of them. */
export const scenarioAt = (i: number): Scenario => SCENARIOS[i % SCENARIOS.length]!;

type StepInput = RolloutSpecInput['steps'][number];

const analysis = (): StepInput => ({ kind: 'analysis', metrics: ['error_rate'], interval: '500ms', sustainedFor: '2s', minSamples: 3 });

/** The spec of one rollout of `scenario` for `service`, validated as `meridian start` would. */
export function scenarioPlan(scenario: Scenario, service: string): RolloutPlan {
  const input: RolloutSpecInput = {
    service,
    version: '1.1.0',
    image: NEW_IMAGE,
    regions: WAVES.flatMap((w) => w.regions.map((name) => ({ name, target: { kind: 'simulated' as const, initial: { image: OLD_IMAGE } } }))),
    waves: WAVES.map((w) => ({ name: w.name, regions: [...w.regions] })),
    metrics: [{ name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 }],
    steps: [{ kind: 'setWeight', weight: 10 }, analysis(), { kind: 'setWeight', weight: 25 }, analysis(), { kind: 'setWeight', weight: 50 }],
    bake: '1s',
    failurePolicy: scenario.failurePolicy,
    simulation: { baseline: { error_rate: 0.004 }, faults: scenario.faults },
  };
  const v = validateSpec(input);
  if (!v.ok) throw new Error(`the chaos spec of scenario "${scenario.name}" (${service}) is invalid: ${v.problems.map(formatProblem).join('; ')}`);
  return v.plan;
}

const FAULT_KINDS: Record<Fault['kind'], string> = { metric: 'metric breach', operation: 'operation failure', delay: 'delay' };

/** Scripted faults of `scenarios`, counted by kind, for a row's fault classes. */
export function scriptedFaults(scenarios: readonly Scenario[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of scenarios.flatMap((s) => s.faults)) {
    const fault = parseFault(line);
    const kind = `scripted ${'error' in fault ? 'unparsed' : FAULT_KINDS[fault.kind]}`;
    out[kind] = (out[kind] ?? 0) + 1;
  }
  return out;
}
