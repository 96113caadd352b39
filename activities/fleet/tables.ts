import type { Fault } from '../../domain/faults';
import type { RecordedContracts } from '../../domain/recorded-contracts';
import type { ContractsEntry, JournalEntry, RegionView, RolloutSimulation, Workload } from './state';
import type { Schema, SqliteStore } from './store';

/**
 * The fleet's tables, each row found by its key, so an operation costs the same in a fleet of any
 * size: a row per region; per journal entry, numbered from 1 per region in the order written
 * (`regions.seq` is the newest), with an index on (service, region, key) that finds an earlier
 * application of a key; per rollout (its faults with their remaining counts, its baseline); per
 * region on another target whose canary weight simulated metrics follow; and per region's
 * contracts recorded at its last promotion, kept apart from the journal, which drops old entries.
 */
export const FLEET_SCHEMA: Schema = {
  applicationId: 0x4d524446,
  version: 1,
  ddl: `
    CREATE TABLE regions (
      service TEXT NOT NULL, name TEXT NOT NULL,
      stable TEXT NOT NULL, canary TEXT, weight REAL NOT NULL, seq INTEGER NOT NULL,
      PRIMARY KEY (service, name)
    ) STRICT;
    CREATE TABLE journal (
      service TEXT NOT NULL, region TEXT NOT NULL, seq INTEGER NOT NULL,
      key TEXT NOT NULL, op TEXT NOT NULL, effect TEXT NOT NULL, at TEXT NOT NULL, weight REAL NOT NULL,
      snapshot TEXT, error TEXT,
      PRIMARY KEY (service, region, seq)
    ) STRICT;
    CREATE INDEX journal_key ON journal (service, region, key, seq);
    CREATE TABLE rollouts (id TEXT PRIMARY KEY, faults TEXT NOT NULL, baseline TEXT NOT NULL, image TEXT) STRICT;
    CREATE TABLE observed_weights (service TEXT NOT NULL, region TEXT NOT NULL, weight REAL NOT NULL, PRIMARY KEY (service, region)) STRICT;
    CREATE TABLE contracts (
      service TEXT NOT NULL, region TEXT NOT NULL, key TEXT NOT NULL, at TEXT NOT NULL, record TEXT NOT NULL,
      PRIMARY KEY (service, region)
    ) STRICT;`,
};

/** A region's state without its journal, and the number of its newest journal entry. */
export interface RegionRow {
  stable: Workload;
  canary: Workload | null;
  weight: number;
  seq: number;
}

interface RegionRecord {
  service: string;
  name: string;
  stable: string;
  canary: string | null;
  weight: number;
  seq: number;
}

interface JournalRecord {
  service: string;
  region: string;
  key: string;
  op: JournalEntry['op'];
  effect: JournalEntry['effect'];
  at: string;
  weight: number;
  snapshot: string | null;
  error: string | null;
}

const JOURNAL_COLUMNS = 'service, region, key, op, effect, at, weight, snapshot, error';

/** Reads and writes rows; the caller holds the transaction. */
export class FleetTables {
  private readonly store: SqliteStore;

  constructor(store: SqliteStore) {
    this.store = store;
  }

  region(service: string, name: string): RegionRow | undefined {
    const r = this.store.get<RegionRecord>('SELECT * FROM regions WHERE service = ? AND name = ?', service, name);
    return r && regionRow(r);
  }

  insertRegion(service: string, name: string, r: RegionRow): void {
    this.store.run(
      'INSERT INTO regions (service, name, stable, canary, weight, seq) VALUES (?, ?, ?, ?, ?, ?)',
      service, name, JSON.stringify(r.stable), r.canary && JSON.stringify(r.canary), r.weight, r.seq,
    );
  }

  updateRegion(service: string, name: string, r: RegionRow): void {
    this.store.run(
      'UPDATE regions SET stable = ?, canary = ?, weight = ?, seq = ? WHERE service = ? AND name = ?',
      JSON.stringify(r.stable), r.canary && JSON.stringify(r.canary), r.weight, r.seq, service, name,
    );
  }

  /** The region with its journal. */
  regionView(service: string, name: string): RegionView | undefined {
    const r = this.store.get<RegionRecord>('SELECT * FROM regions WHERE service = ? AND name = ?', service, name);
    return r && regionView(r, this.journal(service, name));
  }

  /** Every region with its journal, of one service or of all. */
  regions(service?: string): RegionView[] {
    const where = service === undefined ? '' : ' WHERE service = ?';
    const params = service === undefined ? [] : [service];
    const journals = new Map<string, JournalEntry[]>();
    for (const e of this.store.all<JournalRecord>(`SELECT ${JOURNAL_COLUMNS} FROM journal${where} ORDER BY service, region, seq`, ...params)) {
      const id = JSON.stringify([e.service, e.region]);
      const journal = journals.get(id) ?? journals.set(id, []).get(id)!;
      journal.push(journalEntry(e));
    }
    return this.store
      .all<RegionRecord>(`SELECT * FROM regions${where}`, ...params)
      .map((r) => regionView(r, journals.get(JSON.stringify([r.service, r.name])) ?? []));
  }

  /** The region's journal, oldest first. */
  journal(service: string, name: string): JournalEntry[] {
    return this.store
      .all<JournalRecord>(`SELECT ${JOURNAL_COLUMNS} FROM journal WHERE service = ? AND region = ? ORDER BY seq`, service, name)
      .map(journalEntry);
  }

  /** The first entry that applied `key` with `op`, while the journal still holds it. */
  applied(service: string, name: string, key: string, op: JournalEntry['op']): JournalEntry | undefined {
    const e = this.store.get<JournalRecord>(
      `SELECT ${JOURNAL_COLUMNS} FROM journal WHERE service = ? AND region = ? AND key = ? AND op = ? AND effect = 'applied' ORDER BY seq LIMIT 1`,
      service, name, key, op,
    );
    return e && journalEntry(e);
  }

  /** Writes entry number `seq` of the region's journal and drops those `limit` or more entries older. */
  appendJournal(service: string, name: string, seq: number, entry: JournalEntry, limit: number): void {
    this.store.run(
      'INSERT INTO journal (service, region, seq, key, op, effect, at, weight, snapshot, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      service, name, seq, entry.key, entry.op, entry.effect, entry.at, entry.weight,
      entry.snapshot === undefined ? null : JSON.stringify(entry.snapshot), entry.error ?? null,
    );
    this.store.run('DELETE FROM journal WHERE service = ? AND region = ? AND seq <= ?', service, name, seq - limit);
  }

  rollout(id: string): RolloutSimulation | undefined {
    const r = this.store.get<{ faults: string; baseline: string; image: string | null }>('SELECT faults, baseline, image FROM rollouts WHERE id = ?', id);
    if (!r) return undefined;
    return { faults: JSON.parse(r.faults) as Fault[], baseline: JSON.parse(r.baseline) as Record<string, number>, ...(r.image === null ? {} : { image: r.image }) };
  }

  /** Stores the rollout's simulation; `keepExisting` leaves a row already there alone. */
  putRollout(id: string, sim: RolloutSimulation, keepExisting: boolean): void {
    const onConflict = keepExisting ? 'DO NOTHING' : 'DO UPDATE SET faults = excluded.faults, baseline = excluded.baseline, image = excluded.image';
    this.store.run(
      `INSERT INTO rollouts (id, faults, baseline, image) VALUES (?, ?, ?, ?) ON CONFLICT (id) ${onConflict}`,
      id, JSON.stringify(sim.faults), JSON.stringify(sim.baseline), sim.image ?? null,
    );
  }

  setFaults(id: string, faults: Fault[]): void {
    this.store.run('UPDATE rollouts SET faults = ? WHERE id = ?', JSON.stringify(faults), id);
  }

  observedWeight(service: string, name: string): number | undefined {
    return this.store.get<{ weight: number }>('SELECT weight FROM observed_weights WHERE service = ? AND region = ?', service, name)?.weight;
  }

  observeWeight(service: string, name: string, weight: number): void {
    this.store.run(
      'INSERT INTO observed_weights (service, region, weight) VALUES (?, ?, ?) ON CONFLICT (service, region) DO UPDATE SET weight = excluded.weight',
      service, name, weight,
    );
  }

  contracts(service: string, name: string): ContractsEntry | undefined {
    const r = this.store.get<{ key: string; at: string; record: string }>('SELECT key, at, record FROM contracts WHERE service = ? AND region = ?', service, name);
    return r && { key: r.key, at: r.at, record: JSON.parse(r.record) as RecordedContracts };
  }

  putContracts(service: string, name: string, entry: ContractsEntry): void {
    this.store.run(
      'INSERT INTO contracts (service, region, key, at, record) VALUES (?, ?, ?, ?, ?) ' +
        'ON CONFLICT (service, region) DO UPDATE SET key = excluded.key, at = excluded.at, record = excluded.record',
      service, name, entry.key, entry.at, JSON.stringify(entry.record),
    );
  }

  clear(): void {
    for (const table of ['regions', 'journal', 'rollouts', 'observed_weights', 'contracts']) this.store.run(`DELETE FROM ${table}`);
  }
}

function regionRow(r: RegionRecord): RegionRow {
  return { stable: JSON.parse(r.stable) as Workload, canary: r.canary === null ? null : (JSON.parse(r.canary) as Workload), weight: r.weight, seq: r.seq };
}

function regionView(r: RegionRecord, journal: JournalEntry[]): RegionView {
  const { stable, canary, weight } = regionRow(r);
  return { service: r.service, name: r.name, stable, canary, weight, journal };
}

function journalEntry(e: JournalRecord): JournalEntry {
  const entry: JournalEntry = { key: e.key, op: e.op, effect: e.effect, at: e.at, weight: e.weight };
  if (e.snapshot !== null) entry.snapshot = JSON.parse(e.snapshot) as JournalEntry['snapshot'];
  if (e.error !== null) entry.error = e.error;
  return entry;
}
