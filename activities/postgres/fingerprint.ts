import { createHash } from 'node:crypto';
import type pg from 'pg';
import { withDatabase, type Env } from './connections';
import { MERIDIAN_TABLES } from './tables';

/** `objects` maps `column orders.discount` to `numeric(10,2) not null default 0`, and so on; `hash` covers them all. */
export interface SchemaFingerprint {
  hash: string;
  objects: Record<string, string>;
}

const USER_SCHEMA = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'`;
const NAME = (schema: string, object: string) => `CASE WHEN ${schema} = 'public' THEN ${object} ELSE ${schema} || '.' || ${object} END`;
const NOT_EXTENSION = (oid: string) => `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = ${oid} AND d.deptype = 'e')`;
const KINDS = `CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' WHEN 'S' THEN 'sequence' END`;

/** Every schema object a migration can change, as (key, definition) rows. Meridian's own tables are left out. */
const CATALOG = `
WITH rel AS (
  SELECT c.oid, c.relkind, ${NAME('n.nspname', 'c.relname')} AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE ${USER_SCHEMA} AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
     AND c.relname <> ALL ($1::text[]) AND ${NOT_EXTENSION('c.oid')}
)
SELECT (${KINDS.replaceAll('c.relkind', 'rel.relkind')}) || ' ' || rel.name AS key,
       CASE rel.relkind WHEN 'v' THEN pg_get_viewdef(rel.oid) WHEN 'm' THEN pg_get_viewdef(rel.oid)
         WHEN 'S' THEN (SELECT format('%s start %s increment %s', format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement) FROM pg_sequence s WHERE s.seqrelid = rel.oid)
         ELSE 'exists' END AS value
  FROM rel
UNION ALL
SELECT 'column ' || rel.name || '.' || a.attname,
       format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || CASE WHEN a.attidentity <> '' THEN ' identity' ELSE '' END
       || CASE WHEN a.attgenerated <> '' THEN ' generated as ' || pg_get_expr(ad.adbin, ad.adrelid)
               WHEN ad.adbin IS NOT NULL THEN ' default ' || pg_get_expr(ad.adbin, ad.adrelid) ELSE '' END
  FROM rel JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
 WHERE rel.relkind <> 'S'
UNION ALL
SELECT 'index ' || ${NAME('n.nspname', 'c.relname')},
       pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END
  FROM pg_index i JOIN rel ON rel.oid = i.indrelid
  JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
UNION ALL
SELECT 'constraint ' || rel.name || '.' || co.conname, pg_get_constraintdef(co.oid)
  FROM pg_constraint co JOIN rel ON rel.oid = co.conrelid
UNION ALL
SELECT 'trigger ' || rel.name || '.' || t.tgname, pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN rel ON rel.oid = t.tgrelid WHERE NOT t.tgisinternal
UNION ALL
SELECT 'type ' || ${NAME('n.nspname', 't.typname')},
       CASE t.typtype
         WHEN 'e' THEN 'enum (' || (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) || ')'
         ELSE 'domain over ' || format_type(t.typbasetype, t.typtypmod) || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END
           || COALESCE(' ' || (SELECT string_agg(pg_get_constraintdef(co.oid), ' ' ORDER BY co.conname) FROM pg_constraint co WHERE co.contypid = t.oid), '')
       END
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE ${USER_SCHEMA} AND t.typtype IN ('e', 'd') AND ${NOT_EXTENSION('t.oid')}
UNION ALL
SELECT 'function ' || ${NAME('n.nspname', 'p.proname')} || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       md5(pg_get_functiondef(p.oid))
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE ${USER_SCHEMA} AND p.prokind IN ('f', 'p') AND ${NOT_EXTENSION('p.oid')}`;

/**
 * The schema as the catalog describes it: relations, columns (type, nullability, default),
 * indexes, constraints, triggers, enum and domain types, functions, in every user schema.
 * Taken before an expand and after its revert, equal hashes mean the schema is back.
 */
export async function schemaFingerprint(database: string, options: { env?: Env } = {}): Promise<SchemaFingerprint> {
  return withDatabase(database, { env: options.env, applicationName: 'meridian fingerprint' }, fingerprintOf);
}

export async function fingerprintOf(client: pg.Client): Promise<SchemaFingerprint> {
  const { rows } = await client.query<{ key: string; value: string | null }>(CATALOG, [[...MERIDIAN_TABLES]]);
  const objects: Record<string, string> = {};
  for (const row of rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) objects[row.key] = row.value ?? '';
  const hash = createHash('sha256');
  for (const [key, value] of Object.entries(objects)) hash.update(`${key}\t${value}\n`);
  return { hash: hash.digest('hex'), objects };
}

const SHORT = 120;
const OWNED = /^(column|constraint|trigger) (.+)\.[^.]+$/;
const INDEX_ON = / ON (?:ONLY )?(?:public\.)?(\S+) USING /;

/**
 * What changed between two fingerprints, one line per object, sorted: `column orders.discount added`,
 * `index orders_created_idx dropped`, `column orders.total changed: integer → bigint`. The columns,
 * constraints, triggers and indexes of a table that was itself added or dropped are not repeated.
 */
export function diffFingerprints(before: SchemaFingerprint, after: SchemaFingerprint): string[] {
  const gone = new Set<string>();
  const added = new Set<string>();
  for (const key of Object.keys(before.objects)) if (!(key in after.objects)) gone.add(relationOf(key));
  for (const key of Object.keys(after.objects)) if (!(key in before.objects)) added.add(relationOf(key));
  const lines: string[] = [];
  const keys = [...new Set([...Object.keys(before.objects), ...Object.keys(after.objects)])].sort();
  for (const key of keys) {
    const b = before.objects[key];
    const a = after.objects[key];
    if (b === a) continue;
    const owner = ownerOf(key, a ?? b!);
    if (a === undefined) {
      if (!(owner && gone.has(owner))) lines.push(`${key} dropped`);
    } else if (b === undefined) {
      if (!(owner && added.has(owner))) lines.push(`${key} added`);
    } else {
      lines.push(a.length <= SHORT && b.length <= SHORT ? `${key} changed: ${b} → ${a}` : `${key} changed`);
    }
  }
  return lines;
}

/** `table orders` → `orders`; other keys return a value no owner matches. */
function relationOf(key: string): string {
  const m = /^(?:table|view|materialized view|foreign table) (.+)$/.exec(key);
  return m ? m[1]! : `\0${key}`;
}

function ownerOf(key: string, value: string): string | undefined {
  const owned = OWNED.exec(key);
  if (owned) return owned[2];
  if (key.startsWith('index ')) return INDEX_ON.exec(value)?.[1];
  return undefined;
}
