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
import { FAILURE } from '../../domain/vocabulary';
import type { DeployInput, RegionRef } from '../types';
import { faultCall, imageRepo, type FleetOp, type JournalEntry, type RegionView, type RolloutSimulation } from './state';
import { SqliteStore } from './store';
import { FLEET_SCHEMA, FleetTables, type RegionRow } from './tables';

/** A region's journal keeps its newest entries, this many. */
export const JOURNAL_LIMIT = 1000;

/**
 * A simulation of regions for demos and rollback rehearsals, in a SQLite file that worker processes
 * may share. State survives worker restarts; every operation is idempotent by key and journalled,
 * and scripted faults registered per rollout make operations fail or metrics degrade. Each change is
 * one transaction, so concurrent processes never lose an update or apply a key twice.
 */
export class SimulatedFleet {
  private readonly store: SqliteStore;
  private readonly tables: FleetTables;

  readonly file: string;

  constructor(file: string) {
    this.file = file;
    this.store = new SqliteStore(file, FLEET_SCHEMA);
    this.tables = new FleetTables(this.store);
  }

  /** Records a rollout's faults and baseline; `keepExisting` leaves an earlier registration (and its counts) alone. */
  registerRollout(rolloutId: string, simulation: RolloutSimulation, options: { keepExisting?: boolean } = {}): void {
    this.store.write(() => this.tables.putRollout(rolloutId, simulation, options.keepExisting ?? false));
  }

  /** Brings a region into the fleet at its initial state, unless it is already known. */
  seedRegion(service: string, region: string, target: Target, image?: string): void {
    this.store.write(() => this.ensureRegion({ service, region, target }, image));
  }

  faults(rolloutId: string): Fault[] {
    return this.store.read(() => this.tables.rollout(rolloutId)?.faults ?? []);
  }

  /** Removes a rollout's scripted faults, in one region or all; returns how many were removed. */
  clearFaults(rolloutId: string, region?: string): number {
    return this.store.write(() => {
      const sim = this.tables.rollout(rolloutId);
      if (!sim) return 0;
      const kept = region === undefined ? [] : sim.faults.filter((f) => f.region !== region);
      this.tables.setFaults(rolloutId, kept);
      return sim.faults.length - kept.length;
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
    const entry = this.store.read(() => this.tables.contracts(ref.service, ref.region));
    if (entry === undefined) return undefined;
    const problems = recordedContractsProblemsFor(entry.record, ref.service, ref.region);
    if (problems.length > 0) {
      throw ApplicationFailure.nonRetryable(
        `${ref.service} in ${ref.region}: the recorded contracts in fleet state ${this.file} are malformed: ${problems.join('; ')}`,
        RECORDED_CONTRACTS_FAILURE.malformed,
      );
    }
    return entry.record;
  }

  /** Keeps `record` under `key`: the key the region's record has already changes nothing, any other replaces it. */
  recordContracts(input: RegionRef & { record: RecordedContracts }): void {
    const problems = recordedContractsProblemsFor(input.record, input.service, input.region);
    if (problems.length > 0) {
      throw ApplicationFailure.nonRetryable(invalidRecordMessage(input.service, input.region, problems), RECORDED_CONTRACTS_FAILURE.invalid);
    }
    this.store.write(() => {
      if (this.tables.contracts(input.service, input.region)?.key === input.key) return;
      this.tables.putContracts(input.service, input.region, { key: input.key, at: new Date().toISOString(), record: input.record });
    });
  }

  /** The baseline value of a metric, or a scripted fault's value when it applies to that role at the current weight. */
  metricValue(service: string, region: string, metric: string, role: 'canary' | 'stable', rolloutId: string): number | undefined {
    const { sim, weight } = this.store.read(() => ({ sim: this.tables.rollout(rolloutId), weight: this.weightSeenNow(service, region) }));
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
    return this.store.read(() => this.weightSeenNow(service, region));
  }

  /** The canary weight a region on another target now has, for simulated metrics that depend on it. */
  observeWeight(service: string, region: string, weight: number): void {
    this.store.write(() => this.tables.observeWeight(service, region, weight));
  }

  /** Scripted extra latency of an operation in a region, in ms. */
  delayMs(rolloutId: string, region: string, call: FaultCall): number {
    const sim = this.store.read(() => this.tables.rollout(rolloutId));
    return (sim?.faults ?? []).reduce((sum, f) => (f.kind === 'delay' && f.region === region && faultHits(f.op, call) ? sum + f.ms : sum), 0);
  }

  regions(service?: string): RegionView[] {
    return this.store
      .read(() => this.tables.regions(service))
      .sort((a, b) => `${a.service}/${a.name}`.localeCompare(`${b.service}/${b.name}`));
  }

  region(service: string, name: string): RegionView | undefined {
    return this.store.read(() => this.tables.regionView(service, name));
  }

  journal(service: string, name: string): JournalEntry[] {
    return this.store.read(() => this.tables.journal(service, name));
  }

  reset(): void {
    this.store.write(() => this.tables.clear());
  }

  /** Closes the file; the fleet cannot be used afterwards. */
  close(): void {
    this.store.close();
  }

  /**
   * One keyed operation, in one transaction: a scripted fault fires first (and its remaining count is
   * saved), then a key applied before is a no-op, else `change` applies. `done` is the earlier
   * application, if any.
   */
  private apply<R>(ref: RegionRef, op: FleetOp, change: (region: RegionRow, done: JournalEntry | undefined) => R): R {
    const outcome = this.store.write((): { failure: ApplicationFailure } | { out: R } => {
      const sim = this.tables.rollout(ref.rolloutId);
      const r = this.ensureRegion(ref, sim?.image);
      const at = new Date().toISOString();
      const fired = sim ? consumeFault(sim, ref.region, faultCall(op, ref.key)) : undefined;
      if (sim && fired) {
        this.tables.setFaults(ref.rolloutId, sim.faults);
        const failure = ApplicationFailure.retryable(`simulated fault: ${fired.op} failed in ${ref.region} (${fired.left})`, FAILURE.simulatedFault);
        this.record(ref, r, { key: ref.key, op, effect: 'failed', at, weight: r.weight, error: failure.message });
        return { failure };
      }
      const done = this.tables.applied(ref.service, ref.region, ref.key, op);
      const out = change(r, done);
      const entry: JournalEntry = { key: ref.key, op, effect: done ? 'noop' : 'applied', at, weight: r.weight };
      if (op === 'snapshot') entry.snapshot = out as KnownGood;
      this.record(ref, r, entry);
      return { out };
    });
    if ('failure' in outcome) throw outcome.failure;
    return outcome.out;
  }

  private weightSeenNow(service: string, region: string): number {
    return this.tables.observedWeight(service, region) ?? this.tables.region(service, region)?.weight ?? 0;
  }

  private ensureRegion(ref: { service: string; region: string; target: Target }, image: string | undefined): RegionRow {
    const existing = this.tables.region(ref.service, ref.region);
    if (existing) return existing;
    const initial = targetTraits(ref.target).initial;
    const stable = initial
      ? { image: initial.image, config: { ...initial.config } }
      : { image: `${imageRepo(image ?? ref.service)}:previous`, config: {} };
    const seeded: RegionRow = { stable, canary: null, weight: 0, seq: 0 };
    this.tables.insertRegion(ref.service, ref.region, seeded);
    return seeded;
  }

  /** Appends `entry` to the region's journal, dropping its oldest beyond JOURNAL_LIMIT, and saves the region. */
  private record(ref: RegionRef, r: RegionRow, entry: JournalEntry): void {
    r.seq += 1;
    this.tables.appendJournal(ref.service, ref.region, r.seq, entry, JOURNAL_LIMIT);
    this.tables.updateRegion(ref.service, ref.region, r);
  }
}

/** Spends one scripted failure of a fault that hits `call` in `region`: the fault's operation and how many remain, in words; undefined when none fires. */
function consumeFault(sim: RolloutSimulation, region: string, call: FaultCall): { op: FaultOp; left: string } | undefined {
  const fault = sim.faults.find(
    (f) => f.kind === 'operation' && f.region === region && faultHits(f.op, call) && (f.times === 'always' || f.times > 0),
  );
  if (!fault || fault.kind !== 'operation') return undefined;
  if (fault.times === 'always') return { op: fault.op, left: 'fails always' };
  fault.times -= 1;
  const left = fault.times === 0 ? 'no more scripted failures' : `${fault.times} more scripted failure${fault.times === 1 ? '' : 's'}`;
  return { op: fault.op, left };
}
