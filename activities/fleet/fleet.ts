import { ApplicationFailure } from '@temporalio/common';
import type { Fault, FaultCall, FaultOp } from '../../domain/faults';
import { faultHits, metricFaultApplies } from '../../domain/faults';
import {
  invalidRecordMessage,
  RECORDED_CONTRACTS_FAILURE,
  recordedContractsProblemsFor,
  type RecordedContracts,
} from '../../domain/recorded-contracts';
import type { Target } from '../../domain/spec';
import type { KnownGood } from '../../domain/status';
import { targetTraits } from '../../domain/targets';
import type { DeployInput, RegionRef } from '../types';
import { JsonFileStore } from './store';
import {
  faultCall,
  imageRepo,
  regionKey,
  type FleetOp,
  type FleetState,
  type JournalEntry,
  type RegionState,
  type RegionView,
  type RolloutSimulation,
} from './state';

/** Oldest entries beyond this are dropped, so a long-lived demo file stays small. */
const JOURNAL_LIMIT = 1000;

/**
 * A file-backed simulation of regions for demos and rollback rehearsals. State survives worker
 * restarts; every operation is idempotent by key and journalled, and scripted faults registered
 * per rollout make operations fail or metrics degrade.
 */
export class SimulatedFleet {
  private readonly store: JsonFileStore<FleetState>;

  readonly file: string;

  constructor(file: string) {
    this.file = file;
    this.store = new JsonFileStore<FleetState>(file, () => ({ regions: {}, rollouts: {} }));
  }

  /** Records a rollout's faults and baseline; `keepExisting` leaves an earlier registration (and its counts) alone. */
  registerRollout(rolloutId: string, simulation: RolloutSimulation, options: { keepExisting?: boolean } = {}): void {
    if (options.keepExisting && this.store.read().rollouts[rolloutId]) return;
    this.store.update((state) => {
      state.rollouts[rolloutId] = structuredClone(simulation);
    });
  }

  /** Brings a region into the fleet at its initial state, unless it is already known. */
  seedRegion(service: string, region: string, target: Target, image?: string): void {
    if (this.store.read().regions[regionKey(service, region)]) return;
    this.store.update((state) => {
      ensureRegion(state, { service, region, target }, image);
    });
  }

  faults(rolloutId: string): Fault[] {
    return structuredClone(this.store.read().rollouts[rolloutId]?.faults ?? []);
  }

  /** Removes a rollout's scripted faults, in one region or all; returns how many were removed. */
  clearFaults(rolloutId: string, region?: string): number {
    return this.store.update((state) => {
      const sim = state.rollouts[rolloutId];
      if (!sim) return 0;
      const before = sim.faults.length;
      sim.faults = region === undefined ? [] : sim.faults.filter((f) => f.region !== region);
      return before - sim.faults.length;
    });
  }

  snapshot(ref: RegionRef): KnownGood {
    return this.apply(ref, 'snapshot', (r, done) => {
      if (done) return done.snapshot!;
      return { ...structuredClone(r.stable), weight: r.weight, capturedAt: new Date().toISOString() };
    });
  }

  deployCanary(input: DeployInput): void {
    this.apply(input, 'deployCanary', (r, done) => {
      if (!done) r.canary = { image: input.image, config: { ...input.config } };
    });
  }

  setWeight(input: RegionRef & { weight: number }): void {
    this.apply(input, 'setWeight', (r, done) => {
      if (!done) r.weight = input.weight;
    });
  }

  /** The new version becomes stable and takes all traffic. */
  promote(input: DeployInput): void {
    this.apply(input, 'promote', (r, done) => {
      if (done) return;
      r.stable = { image: input.image, config: { ...input.config } };
      r.canary = null;
      r.weight = 100;
    });
  }

  restoreTraffic(input: RegionRef & { weight: number }): void {
    this.apply(input, 'restoreTraffic', (r, done) => {
      if (!done) r.weight = input.weight;
    });
  }

  restoreWorkload(input: RegionRef & { snapshot: KnownGood }): void {
    this.apply(input, 'restoreWorkload', (r, done) => {
      if (done) return;
      r.stable = { image: input.snapshot.image, config: { ...input.snapshot.config } };
      r.canary = null;
      r.weight = input.snapshot.weight;
    });
  }

  /** The contracts recorded at the region's last promotion; a stored entry that is not a record fails non-retryable. */
  readContracts(ref: Pick<RegionRef, 'service' | 'region'>): RecordedContracts | undefined {
    const entry = this.store.read().contracts?.[regionKey(ref.service, ref.region)];
    if (entry === undefined) return undefined;
    const problems = recordedContractsProblemsFor(entry.record, ref.service, ref.region);
    if (problems.length > 0) {
      throw ApplicationFailure.nonRetryable(
        `${ref.service} in ${ref.region}: the recorded contracts in fleet state ${this.file} are malformed: ${problems.join('; ')}`,
        RECORDED_CONTRACTS_FAILURE.malformed,
      );
    }
    return structuredClone(entry.record);
  }

  /** Keeps `record` under `key`: the key the region's record has already changes nothing, any other replaces it. */
  recordContracts(input: RegionRef & { record: RecordedContracts }): void {
    const problems = recordedContractsProblemsFor(input.record, input.service, input.region);
    if (problems.length > 0) {
      throw ApplicationFailure.nonRetryable(invalidRecordMessage(input.service, input.region, problems), RECORDED_CONTRACTS_FAILURE.invalid);
    }
    const key = regionKey(input.service, input.region);
    if (this.store.read().contracts?.[key]?.key === input.key) return;
    this.store.update((state) => {
      state.contracts = { ...state.contracts, [key]: { key: input.key, at: new Date().toISOString(), record: structuredClone(input.record) } };
    });
  }

  /** The baseline value of a metric, or a scripted fault's value when it applies to that role at the current weight. */
  metricValue(service: string, region: string, metric: string, role: 'canary' | 'stable', rolloutId: string): number | undefined {
    const state = this.store.read();
    const sim = state.rollouts[rolloutId];
    const weight = weightSeen(state, regionKey(service, region));
    for (const fault of sim?.faults ?? []) {
      const applies =
        fault.kind === 'metric' &&
        (fault.role ?? 'canary') === role &&
        fault.region === region &&
        fault.metric === metric &&
        metricFaultApplies(fault, weight);
      if (applies) return fault.value === 'nodata' ? undefined : fault.value;
    }
    return sim?.baseline[metric] ?? 0;
  }

  /** The canary weight simulated metrics see in a region: the one observed on its real target, else the fleet's own. */
  weightSeen(service: string, region: string): number {
    return weightSeen(this.store.read(), regionKey(service, region));
  }

  /** The canary weight a region on another target now has, for simulated metrics that depend on it. */
  observeWeight(service: string, region: string, weight: number): void {
    this.store.update((state) => {
      state.observedWeights = { ...state.observedWeights, [regionKey(service, region)]: weight };
    });
  }

  /** Scripted extra latency of an operation in a region, in ms. */
  delayMs(rolloutId: string, region: string, call: FaultCall): number {
    const sim = this.store.read().rollouts[rolloutId];
    return (sim?.faults ?? []).reduce((sum, f) => (f.kind === 'delay' && f.region === region && faultHits(f.op, call) ? sum + f.ms : sum), 0);
  }

  regions(service?: string): RegionView[] {
    return Object.entries(this.store.read().regions)
      .map(([key, r]) => view(key, r))
      .filter((r) => service === undefined || r.service === service)
      .sort((a, b) => `${a.service}/${a.name}`.localeCompare(`${b.service}/${b.name}`));
  }

  region(service: string, name: string): RegionView | undefined {
    const key = regionKey(service, name);
    const r = this.store.read().regions[key];
    return r && view(key, r);
  }

  journal(service: string, name: string): JournalEntry[] {
    return this.region(service, name)?.journal ?? [];
  }

  reset(): void {
    this.store.update((state) => {
      state.regions = {};
      state.rollouts = {};
      state.observedWeights = {};
      state.contracts = {};
    });
  }

  /**
   * One keyed operation: a scripted fault fires first (and its remaining count is saved), then a
   * key applied before is a no-op, else `change` applies. `done` is the earlier application, if any.
   */
  private apply<R>(ref: RegionRef, op: FleetOp, change: (region: RegionState, done: JournalEntry | undefined) => R): R {
    let failure: ApplicationFailure | undefined;
    const result = this.store.update((state) => {
      const r = ensureRegion(state, ref, state.rollouts[ref.rolloutId]?.image);
      const at = new Date().toISOString();
      const fired = consumeFault(state.rollouts[ref.rolloutId], ref.region, faultCall(op, ref.key));
      if (fired) {
        failure = ApplicationFailure.retryable(
          `simulated fault: ${fired.op} failed in ${ref.region} (${fired.left})`,
          'SimulatedFault',
        );
        record(r, { key: ref.key, op, effect: 'failed', at, weight: r.weight, error: failure.message });
        return undefined;
      }
      const done = r.journal.find((e) => e.key === ref.key && e.op === op && e.effect === 'applied');
      const out = change(r, done);
      const entry: JournalEntry = { key: ref.key, op, effect: done ? 'noop' : 'applied', at, weight: r.weight };
      if (op === 'snapshot') entry.snapshot = out as KnownGood;
      record(r, entry);
      return out;
    });
    if (failure) throw failure;
    return result as R;
  }
}

function weightSeen(state: FleetState, key: string): number {
  return state.observedWeights?.[key] ?? state.regions[key]?.weight ?? 0;
}

function view(key: string, r: RegionState): RegionView {
  const slash = key.indexOf('/');
  return { service: key.slice(0, slash), name: key.slice(slash + 1), ...structuredClone(r) };
}

function ensureRegion(
  state: FleetState,
  ref: { service: string; region: string; target: Target },
  image: string | undefined,
): RegionState {
  const key = regionKey(ref.service, ref.region);
  const existing = state.regions[key];
  if (existing) return existing;
  const initial = targetTraits(ref.target).initial;
  const stable = initial
    ? { image: initial.image, config: { ...initial.config } }
    : { image: `${imageRepo(image ?? ref.service)}:previous`, config: {} };
  const seeded: RegionState = { stable, canary: null, weight: 0, journal: [] };
  state.regions[key] = seeded;
  return seeded;
}

/** Spends one scripted failure of a fault that hits `call` in `region`: the fault's operation and how many remain, in words; undefined when none fires. */
function consumeFault(sim: RolloutSimulation | undefined, region: string, call: FaultCall): { op: FaultOp; left: string } | undefined {
  const fault = sim?.faults.find(
    (f) => f.kind === 'operation' && f.region === region && faultHits(f.op, call) && (f.times === 'always' || f.times > 0),
  );
  if (!fault || fault.kind !== 'operation') return undefined;
  if (fault.times === 'always') return { op: fault.op, left: 'fails always' };
  fault.times -= 1;
  const left = fault.times === 0 ? 'no more scripted failures' : `${fault.times} more scripted failure${fault.times === 1 ? '' : 's'}`;
  return { op: fault.op, left };
}

function record(region: RegionState, entry: JournalEntry): void {
  region.journal.push(entry);
  if (region.journal.length > JOURNAL_LIMIT) region.journal.splice(0, region.journal.length - JOURNAL_LIMIT);
}
