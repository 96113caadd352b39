import { z } from 'zod';
import { DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_RECONCILE_BATCH, DEFAULT_STATEMENT_TIMEOUT_MS, MAX_DURATION_MS as MAX } from './spec-defaults';
import { duration, PLACEHOLDER, QUERY_VARIABLES } from './spec-values';

/** A database is named in the spec and resolved to a connection by the worker; never a URL or a secret. */
export const databaseName = z
  .string()
  .regex(/^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/, 'must be letters, digits, "_", "-" or "." (a name, not a URL)');

/** SQL written inline, or `{ file }` read where the spec is loaded. */
export const sqlSource = z.union([z.string().min(1), z.strictObject({ file: z.string().min(1) })]);

export const MIGRATION_PHASES = ['expand', 'contract'] as const;

export const migration = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be letters, digits, "_", "-" or "."'),
  up: sqlSource,
  down: sqlSource,
  /** `expand` runs in each region before its canary takes traffic; `contract` after every region is promoted and baked. */
  phase: z.enum(MIGRATION_PHASES),
  /** `false` runs each statement on its own, outside a transaction (CREATE INDEX CONCURRENTLY); it must be safe to run again. */
  transactional: z.boolean().default(true),
});

/** Per-rollout session settings for every migration. */
export const databaseSettings = z.strictObject({
  lockTimeout: duration(MAX.lockTimeout).default(DEFAULT_LOCK_TIMEOUT_MS),
  statementTimeout: duration(MAX.statementTimeout).default(DEFAULT_STATEMENT_TIMEOUT_MS),
});

/** Makes the rows a canary wrote right for the old version, in keyed batches. */
export const reconciliation = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be letters, digits, "_", "-" or "."'),
  /** Selects the affected rows with a `key` column; `$1` is the window start, `$2` its end. */
  find: z.string().min(1),
  /** Fixes one batch; `$1` is the array of keys. */
  fix: z.string().min(1),
  /** Counts rows still wrong in the window (`$1`, `$2`); must return 0. */
  verify: z.string().min(1),
  batchSize: z.number().int().min(1).max(100_000).default(DEFAULT_RECONCILE_BATCH),
});

const sqlTemplate = z.string().min(1).superRefine((text, ctx) => {
  for (const [, key] of text.matchAll(PLACEHOLDER)) {
    if (!(QUERY_VARIABLES as readonly string[]).includes(key!)) {
      ctx.addIssue({ code: 'custom', message: `unknown placeholder {{${key}}} (known: ${QUERY_VARIABLES.join(', ')})` });
    }
  }
});

/** An invariant query as a health metric: the first column of the first row; no row is no data. */
export const sqlProvider = z.strictObject({
  type: z.literal('sql'),
  database: databaseName,
  /** Placeholders are rendered as SQL string literal contents: write `'{{region}}'`. */
  query: sqlTemplate,
  timeout: duration(MAX.query).default(10_000),
});

export type SqlSource = z.output<typeof sqlSource>;
export type MigrationSpec = z.output<typeof migration>;
export type MigrationPhase = (typeof MIGRATION_PHASES)[number];
export type DatabaseSettings = z.output<typeof databaseSettings>;
export type ReconciliationSpec = z.output<typeof reconciliation>;
export type SqlProviderSpec = z.output<typeof sqlProvider>;

/**
 * The checksum the ledger keeps: SHA-256 of the `up` text with line endings and surrounding
 * whitespace normalized. `down` is left out so a broken `down` can be corrected after the fact.
 */
export function migrationChecksum(up: string): string {
  return sha256Hex(up.replace(/\r\n?/g, '\n').trim());
}

/**
 * The key of the session advisory lock that serializes migrations on one database: the first
 * 63 bits of SHA-256 of the name, as a decimal string (a non-negative `bigint` for PostgreSQL).
 */
export function advisoryLockKey(databaseName: string): string {
  const hex = sha256Hex(`meridian:migrate:${databaseName}`).slice(0, 16);
  return (BigInt(`0x${hex}`) & 0x7fff_ffff_ffff_ffffn).toString();
}

const K = Uint32Array.from(
  '428a2f98 71374491 b5c0fbcf e9b5dba5 3956c25b 59f111f1 923f82a4 ab1c5ed5 d807aa98 12835b01 243185be 550c7dc3 72be5d74 80deb1fe 9bdc06a7 c19bf174 e49b69c1 efbe4786 0fc19dc6 240ca1cc 2de92c6f 4a7484aa 5cb0a9dc 76f988da 983e5152 a831c66d b00327c8 bf597fc7 c6e00bf3 d5a79147 06ca6351 14292967 27b70a85 2e1b2138 4d2c6dfc 53380d13 650a7354 766a0abb 81c2c92e 92722c85 a2bfe8a1 a81a664b c24b8b70 c76c51a3 d192e819 d6990624 f40e3585 106aa070 19a4c116 1e376c08 2748774c 34b0bcb5 391c0cb3 4ed8aa4a 5b9cca4f 682e6ff3 748f82ee 78a5636f 84c87814 8cc70208 90befffa a4506ceb bef9a3f7 c67178f2'
    .split(' ')
    .map((h) => parseInt(h, 16)),
);

/** SHA-256 without node:crypto, so workflow code may call it too. */
export function sha256Hex(text: string): string {
  const data = new TextEncoder().encode(text);
  const bitLength = data.length * 8;
  const padded = new Uint8Array(Math.ceil((data.length + 9) / 64) * 64);
  padded.set(data);
  padded[data.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bitLength / 2 ** 32));
  view.setUint32(padded.length - 4, bitLength >>> 0);
  const h = Uint32Array.of(0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19);
  const w = new Uint32Array(64);
  const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n));
  for (let offset = 0; offset < padded.length; offset += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(offset + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15]!, 7) ^ rotr(w[i - 15]!, 18) ^ (w[i - 15]! >>> 3);
      const s1 = rotr(w[i - 2]!, 17) ^ rotr(w[i - 2]!, 19) ^ (w[i - 2]! >>> 10);
      w[i] = w[i - 16]! + s0 + w[i - 7]! + s1;
    }
    let [a, b, c, d, e, f, g, hh] = h as unknown as number[];
    for (let i = 0; i < 64; i++) {
      const t1 = (hh! + (rotr(e!, 6) ^ rotr(e!, 11) ^ rotr(e!, 25)) + ((e! & f!) ^ (~e! & g!)) + K[i]! + w[i]!) >>> 0;
      const t2 = ((rotr(a!, 2) ^ rotr(a!, 13) ^ rotr(a!, 22)) + ((a! & b!) ^ (a! & c!) ^ (b! & c!))) >>> 0;
      [hh, g, f, e, d, c, b, a] = [g, f, e, (d! + t1) >>> 0, c, b, a, (t1 + t2) >>> 0];
    }
    [a, b, c, d, e, f, g, hh].forEach((v, i) => (h[i] = h[i]! + v!));
  }
  return Array.from(h, (v) => v.toString(16).padStart(8, '0')).join('');
}
