import type { RolloutPlan } from '../../domain/plan';
import type { RolloutSpecInput } from '../../domain/spec';
import type { RolloutPhase } from '../../domain/status';
import { formatProblem, validateSpec } from '../../domain/validate';
import type { RegionEnd } from '../scenarios';

/**
 * R3's stateful rollouts: an orders table that an expand adds a column and an index to and a
 * contract drops a column from, and a reconciliation of the rows the canary wrote. Every
 * transactional migration also writes a row to `chaos_effects` in its own transaction, so the
 * table counts how often each one took effect, and holds its transaction open a moment, so a
 * crash can land inside it.
 */

export const OLD_IMAGE = 'registry.chaos/shop/orders:2.3.1';
export const NEW_IMAGE = `registry.chaos/shop/orders@sha256:${'d3'.repeat(32)}`;
export const NEW_VERSION = '2.4.0';
export const REGIONS = ['eu-west-1', 'us-east-1'] as const;
/** The region whose canary the gated scenarios stop, and where their reconciliation runs. */
export const GATED_REGION = REGIONS[0];
export const GATE = 'rows-written';

/** Seconds each transactional migration holds its transaction open after its change. */
const HOLD_S = 1.5;

export const BASE_SCHEMA = `
CREATE TABLE orders (
  id bigserial PRIMARY KEY,
  written_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  format text NOT NULL DEFAULT 'v1',
  fix_count integer NOT NULL DEFAULT 0,
  legacy_note text
);
CREATE TABLE chaos_effects (
  n bigserial PRIMARY KEY,
  migration text NOT NULL,
  direction text NOT NULL,
  at timestamptz NOT NULL DEFAULT clock_timestamp()
)`;

export type Direction = 'up' | 'down';

/** The comment a migration's SQL starts with, which pg_stat_activity shows while it runs. */
export const marker = (id: string, direction: Direction) => `/* chaos ${id} ${direction} */`;

const held = (id: string, direction: Direction, change: string) =>
  `${marker(id, direction)} INSERT INTO chaos_effects (migration, direction) VALUES ('${id}', '${direction}'); ${change}; SELECT pg_sleep(${HOLD_S})`;

export const EXPAND = '001-add-discount';
export const INDEX = '002-written-by-index';
export const CONTRACT = '003-drop-legacy-note';

const MIGRATIONS: NonNullable<RolloutSpecInput['migrations']> = [
  {
    id: EXPAND,
    phase: 'expand',
    up: held(EXPAND, 'up', 'ALTER TABLE orders ADD COLUMN discount numeric(10,2) NOT NULL DEFAULT 0'),
    down: held(EXPAND, 'down', 'ALTER TABLE orders DROP COLUMN discount'),
  },
  {
    id: INDEX,
    phase: 'expand',
    transactional: false,
    up: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_written_by_idx ON orders (written_by)',
    down: 'DROP INDEX CONCURRENTLY IF EXISTS orders_written_by_idx',
  },
  {
    id: CONTRACT,
    phase: 'contract',
    up: held(CONTRACT, 'up', 'ALTER TABLE orders DROP COLUMN legacy_note'),
    down: held(CONTRACT, 'down', 'ALTER TABLE orders ADD COLUMN legacy_note text'),
  },
];

/** Transactional migrations: what chaos_effects counts. */
export const COUNTED = [EXPAND, CONTRACT];

/** Rows the canary wrote become old-format rows again, in slow batches of 10 so a crash lands part-way. */
export const RECIPE = {
  name: 'orders-v2-format',
  find: `SELECT id AS key FROM orders WHERE written_by = '${NEW_VERSION}' AND created_at >= $1 AND created_at < $2`,
  fix: `WITH pause AS (SELECT pg_sleep(0.1)) UPDATE orders SET format = 'v1', fix_count = fix_count + 1 FROM pause WHERE id = ANY($1)`,
  verify: `SELECT count(*) FROM orders WHERE written_by = '${NEW_VERSION}' AND created_at >= $1 AND created_at < $2 AND format <> 'v1'`,
  batchSize: 10,
};

/** Where the crash lands. */
export type FaultPoint = 'expand' | 'contract' | 'reconcile' | 'revert';

export interface StatefulScenario {
  name: string;
  fault: FaultPoint;
  /** The canary stops at a gate in GATED_REGION, the row writes canary rows there and aborts: a rollback with data to reconcile. */
  gated: boolean;
  phase: RolloutPhase;
  regions: Record<string, RegionEnd>;
  /**
   * A rollback that stops for a person may be retried once. An undo tries three times within about
   * 3 s (workflows/presets.ts `revert`), which a crash recovery can outlast.
   */
  operatorRetry?: boolean;
}

const promoted = { 'eu-west-1': 'new', 'us-east-1': 'new' } as const;
const abortedInFirst = { 'eu-west-1': 'old', 'us-east-1': 'untouched' } as const;

export const SCENARIOS: Record<FaultPoint, StatefulScenario> = {
  expand: { name: 'crash in the expand migration', fault: 'expand', gated: false, phase: 'Succeeded', regions: promoted },
  contract: { name: 'crash in the contract migration', fault: 'contract', gated: false, phase: 'Succeeded', regions: promoted },
  reconcile: { name: 'crash in the reconciliation', fault: 'reconcile', gated: true, phase: 'RolledBack', regions: abortedInFirst },
  revert: { name: 'crash in the down migration', fault: 'revert', gated: true, phase: 'RolledBack', regions: abortedInFirst, operatorRetry: true },
};

/** The database name a region of `service` uses; the worker resolves it from MERIDIAN_DATABASE_<NAME>. */
export const databaseOf = (service: string, region: string) => `${service}-${region}`;

type StepInput = RolloutSpecInput['steps'][number];
const analysis: StepInput = { kind: 'analysis', metrics: ['error_rate'], interval: '300ms', sustainedFor: '1s', minSamples: 3 };

/** The plan of one rollout of `scenario`, validated as `meridian start` would. */
export function statefulPlan(scenario: StatefulScenario, service: string): RolloutPlan {
  const gate: StepInput[] = scenario.gated ? [{ kind: 'approval', name: GATE }] : [];
  const input: RolloutSpecInput = {
    service,
    version: NEW_VERSION,
    image: NEW_IMAGE,
    regions: REGIONS.map((name) => ({ name, target: { kind: 'simulated' as const, initial: { image: OLD_IMAGE } }, database: databaseOf(service, name) })),
    waves: REGIONS.map((name, i) => ({ name: `wave-${i + 1}`, regions: [name] })),
    metrics: [{ name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 }],
    steps: [{ kind: 'setWeight', weight: 10 }, ...gate, analysis, { kind: 'setWeight', weight: 50 }],
    bake: '1s',
    simulation: { baseline: { error_rate: 0.004 }, faults: [] },
    migrations: MIGRATIONS,
    database: { lockTimeout: '5s', statementTimeout: '1m' },
    reconciliations: [RECIPE],
  };
  const v = validateSpec(input);
  if (!v.ok) throw new Error(`R3's spec for "${scenario.name}" (${service}) is invalid: ${v.problems.map(formatProblem).join('; ')}`);
  return v.plan;
}
