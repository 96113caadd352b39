import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { FlagdProvider, FlagSpec } from '../../domain/flags';
import { FAILURE } from '../../domain/vocabulary';
import { checkChange, checkFlag } from './checks';
import type { FlagChange, FlagDrift, FlagDriver, FlagSnapshot, FlagWrite, JsonValue } from './types';

/**
 * flagd's flag definition file, the one a service's in-process flagd provider watches. Meridian owns
 * one flag at a time in it and leaves everything else in the file as it was.
 *
 * A rollout writes the flag as
 *
 *   "checkout-new-path": {
 *     "state": "ENABLED",
 *     "variants": { "off": false, "on": true },
 *     "defaultVariant": "off",
 *     "targeting": { "fractional": [["on", 1000], ["off", 9000]] },
 *     "metadata": { "meridianKey": "<key of this change>" }
 *   }
 *
 * `fractional` buckets each user by a hash of flag key + targeting key into one of WEIGHT_TOTAL
 * slots and hands out slots in the order the variants are listed. The total stays WEIGHT_TOTAL and
 * the rolled-out variant comes first, so growing its weight only adds slots: a user on it stays on
 * it. A targeting rule the flag had before Meridian's first change (say, internal users get "on")
 * keeps precedence: the targeting becomes `{"or": [<that rule>, {"fractional": …}]}`, and the rule is
 * kept in `metadata.meridianBase` (as JSON text, since flagd metadata values are scalars) so later
 * changes and the kill switch, which drops targeting, can compose it again.
 */
export interface FlagdDriverOptions {
  /** The path of a region's flag file from the name the spec gives it (`FlagdProvider.file`). */
  resolveFile(name: string): string;
}

/** Slots `fractional` splits users into: fractions are exact to 0.01%. */
export const WEIGHT_TOTAL = 10_000;
/** Flag metadata: the key of Meridian's last change to the flag. */
export const KEY_METADATA = 'meridianKey';
/** Flag metadata: the flag's own targeting before Meridian's first change, as JSON text. */
export const BASE_METADATA = 'meridianBase';

type JsonObject = { [key: string]: JsonValue };
interface FlagFile {
  doc: JsonObject;
  flags: JsonObject;
  /** How the file was laid out, so a rewrite changes only the flag's own lines. */
  indent: string;
  trailingNewline: boolean;
}

export function flagdDriver(options: FlagdDriverOptions): FlagDriver<FlagdProvider> {
  const path = (provider: FlagdProvider) => options.resolveFile(provider.file);
  // Changes to one file from this worker go one at a time: each is a read-modify-write of the whole file.
  const locks = new Map<string, Promise<unknown>>();
  const serial = <T>(file: string, work: () => Promise<T>): Promise<T> => {
    const run = (locks.get(file) ?? Promise.resolve()).then(work, work);
    const settled = run.catch(() => undefined);
    locks.set(file, settled);
    void settled.then(() => locks.get(file) === settled && locks.delete(file));
    return run;
  };

  /** Replaces (or with `undefined`, removes) one flag; writes nothing when that leaves the file as it is. */
  const change = (file: string, flagKey: string, next: (current: JsonObject | undefined) => JsonObject | undefined | 'unchanged') =>
    serial(file, async () => {
      const parsed = await readFlagFile(file);
      const current = asObject(parsed.flags[flagKey]);
      const wanted = next(current);
      if (wanted === 'unchanged') return;
      if (wanted === undefined) {
        if (!(flagKey in parsed.flags)) return;
        delete parsed.flags[flagKey];
      } else {
        if (current !== undefined && canonical(current) === canonical(wanted)) return;
        parsed.flags[flagKey] = wanted;
      }
      await writeAtomically(file, serialize(parsed));
    });

  return {
    kind: 'flagd',

    async snapshot(provider, flagKey) {
      const { flags } = await readFlagFile(path(provider));
      const definition = flagKey in flags ? structuredClone(flags[flagKey]!) : null;
      return { kind: 'flagd', flagKey, definition };
    },

    async apply(provider, rollout, key) {
      checkChange(rollout);
      await change(path(provider), rollout.flag.key, (current) =>
        current && metadataOf(current)[KEY_METADATA] === key ? 'unchanged' : rolloutDefinition(rollout, current, key),
      );
    },

    async killSwitch(provider, flag, key) {
      checkFlag(flag);
      await change(path(provider), flag.key, (current) =>
        current && metadataOf(current)[KEY_METADATA] === key ? 'unchanged' : killSwitchDefinition(flag, current, key),
      );
    },

    async restore(provider, snapshot, _key) {
      if (snapshot.kind !== 'flagd') {
        throw ApplicationFailure.nonRetryable(`a ${snapshot.kind} snapshot cannot be restored into a flagd flag file`, FAILURE.invalidFlagSnapshot);
      }
      // Restoring is idempotent by content: a flag already as snapshotted is not written again.
      const definition = snapshot.definition;
      if (definition !== null && asObject(definition) === undefined) {
        throw ApplicationFailure.nonRetryable(`the snapshot of flag "${snapshot.flagKey}" is not a flag definition`, FAILURE.invalidFlagSnapshot);
      }
      await change(path(provider), snapshot.flagKey, () => (definition === null ? undefined : structuredClone(asObject(definition)!)));
    },

    async drift(provider, expected) {
      const { flags } = await readFlagFile(path(provider));
      return driftOf(asObject(flags[expected.flag.key]), expected);
    },
  };
}

/** The flag with `change.variant` on `change.fraction` percent of users; `current` supplies the flag's own targeting and metadata. */
export function rolloutDefinition(change: FlagChange, current: JsonObject | undefined, key: string): JsonObject {
  const { flag, variant } = change;
  const weight = Math.round(change.fraction * (WEIGHT_TOTAL / 100));
  const buckets: JsonValue[] = variant === flag.defaultVariant ? [[variant, WEIGHT_TOTAL]] : [[variant, weight], [flag.defaultVariant, WEIGHT_TOTAL - weight]];
  const fractional: JsonObject = { fractional: buckets };
  const base = baseTargeting(current);
  return definition(flag, flag.defaultVariant, base === undefined ? fractional : { or: [base, fractional] }, current, base, key);
}

/** The flag with every user on the kill-switch variant. */
export function killSwitchDefinition(flag: FlagSpec, current: JsonObject | undefined, key: string): JsonObject {
  return definition(flag, flag.killSwitch, undefined, current, baseTargeting(current), key);
}

function definition(
  flag: FlagSpec,
  defaultVariant: string,
  targeting: JsonObject | undefined,
  current: JsonObject | undefined,
  base: JsonValue | undefined,
  key: string,
): JsonObject {
  const metadata: JsonObject = { ...metadataOf(current) };
  delete metadata[BASE_METADATA];
  if (base !== undefined) metadata[BASE_METADATA] = JSON.stringify(base);
  metadata[KEY_METADATA] = key;
  return {
    state: 'ENABLED',
    variants: { ...flag.variants },
    defaultVariant,
    ...(targeting !== undefined && { targeting }),
    metadata,
  };
}

/** The flag's own targeting rule: kept in metadata once Meridian has written the flag, its targeting before that. */
function baseTargeting(current: JsonObject | undefined): JsonValue | undefined {
  if (current === undefined) return undefined;
  const metadata = metadataOf(current);
  if (KEY_METADATA in metadata) {
    const kept = metadata[BASE_METADATA];
    return typeof kept === 'string' ? (JSON.parse(kept) as JsonValue) : undefined;
  }
  const targeting = current.targeting;
  const rule = asObject(targeting);
  return rule !== undefined && Object.keys(rule).length > 0 ? rule : undefined;
}

function driftOf(found: JsonObject | undefined, expected: FlagWrite): FlagDrift {
  if (found === undefined) return { drifted: true, differences: [`flag "${expected.flag.key}" is gone from the file`] };
  const key = metadataOf(found)[KEY_METADATA];
  if (typeof key !== 'string') return { drifted: true, differences: [`metadata.${KEY_METADATA}: gone, the flag was rewritten by someone else`] };
  const wanted = expected.action === 'apply' ? rolloutDefinition(expected, found, key) : killSwitchDefinition(expected.flag, found, key);
  const differences: string[] = [];
  for (const field of ['state', 'variants', 'defaultVariant', 'targeting'] as const) differ(field, wanted[field], found[field], differences);
  return { drifted: differences.length > 0, differences: differences.slice(0, MAX_DIFFERENCES) };
}


async function readFlagFile(file: string): Promise<FlagFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw ApplicationFailure.nonRetryable(`flag file ${basename(file)} does not exist (the service's flagd provider needs it too)`, FAILURE.flagFileMissing);
    }
    throw err;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    // Retryable: a hand edit that is not saved atomically reads as half a file for a moment.
    throw new Error(`flag file ${basename(file)} is not JSON: ${(err as Error).message}`);
  }
  const root = asObject(doc as JsonValue);
  const flags = root && asObject(root.flags);
  if (!root || !flags) throw new Error(`flag file ${basename(file)} has no "flags" object`);
  return { doc: root, flags, indent: /\n([ \t]+)\S/.exec(text)?.[1] ?? '  ', trailingNewline: text.endsWith('\n') };
}

function serialize(file: FlagFile): string {
  return JSON.stringify(file.doc, null, file.indent) + (file.trailingNewline ? '\n' : '');
}

/** A temporary file beside the flag file, then a rename: a watcher reads either the old file or the new one, never half. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(temp, text, { flush: true });
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

function asObject(value: JsonValue | undefined): JsonObject | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : undefined;
}

function metadataOf(flag: JsonObject | undefined): JsonObject {
  return asObject(flag?.metadata) ?? {};
}

/** JSON with object keys sorted, so equal flags compare equal whatever order their keys were written in. */
function canonical(value: JsonValue | undefined): string {
  const sort = (v: JsonValue): JsonValue =>
    Array.isArray(v) ? v.map(sort) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort(v[k]!)])) : v;
  return value === undefined ? 'undefined' : JSON.stringify(sort(value));
}

const MAX_DIFFERENCES = 5;

/** Where `a` and `b` differ, down to the innermost object (or array of objects) that still differs. */
function differ(path: string, a: JsonValue | undefined, b: JsonValue | undefined, out: string[]): void {
  if (canonical(a) === canonical(b)) return;
  const objectA = asObject(a);
  const objectB = asObject(b);
  if (objectA && objectB) {
    for (const key of new Set([...Object.keys(objectA), ...Object.keys(objectB)])) differ(`${path}.${key}`, objectA[key], objectB[key], out);
    return;
  }
  const hasObjects = (v: JsonValue[]) => v.some((item) => item !== null && typeof item === 'object' && !Array.isArray(item));
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length && (hasObjects(a) || hasObjects(b))) {
    a.forEach((item, i) => differ(`${path}[${i}]`, item, b[i], out));
    return;
  }
  out.push(`${path}: expected ${short(a)}, found ${short(b)}`);
}

function short(value: JsonValue | undefined): string {
  const text = value === undefined ? 'nothing' : JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
