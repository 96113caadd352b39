import { z } from 'zod';
import { formatDuration, parseDuration } from './duration';
import { formatPath, type PathSegment, type Problem } from './parse';
import { compilePlan, type RolloutPlan } from './plan';
import { PROVIDER_TYPES, rolloutSpec, STEP_KINDS, TARGET_KINDS, type RolloutSpec } from './spec';
import { isDuration } from './spec-values';
import { didYouMean } from './suggest';
import { parseFault } from './faults';
import { checkUnique, isRec, list, text, type Add, type Rec } from './raw-input';
import { CLOCK, DEFAULT_ANALYSIS_INTERVAL_MS, DEFAULT_MIN_SAMPLES, MAX_DURATION_MS } from './spec-defaults';
import { statefulProblems } from './validate-stateful';
import { EDGE_PROVIDER_TYPES } from './edge-spec';
import { FLAG_PROVIDER_TYPES } from './flag-spec';
import { flagProblems } from './validate-flags';
import { notificationProblems } from './validate-notifications';
import { approverProblems } from './validate-approvals';
import { edgeProblems } from './validate-edges';
import { oneServiceProblems, releaseProblems } from './validate-release';
import { faultWithoutService } from './release';

interface Found {
  path: PathSegment[];
  message: string;
  /** For an unknown field: the field, so the problem sorts where the field is written. */
  key?: string;
}

export type Validation = { ok: true; spec: RolloutSpec; plan: RolloutPlan } | { ok: false; problems: Problem[] };

/**
 * Checks a parsed spec and compiles its plan. Reports every problem at once: schema problems from
 * zod and the semantic checks below, which run on the raw input even when the schema failed
 * elsewhere. Problems come in the order their paths appear in the document.
 */
export function validateSpec(input: unknown): Validation {
  const parsed = rolloutSpec.safeParse(input);
  const found = [...(parsed.success ? [] : parsed.error.issues.flatMap((i) => fromIssue(i, input))), ...semanticProblems(input)];
  if (parsed.success && found.length === 0) return { ok: true, spec: parsed.data, plan: compilePlan(parsed.data) };
  return { ok: false, problems: inDocumentOrder(dedupe(found), input) };
}

export function formatProblem(p: Problem): string {
  return p.path === '' ? p.message : `${p.path}: ${p.message}`;
}

// ---------- reading raw input ----------

function valueAt(input: unknown, path: readonly PathSegment[]): unknown {
  let v = input;
  for (const seg of path) {
    if (Array.isArray(v) && typeof seg === 'number') v = v[seg];
    else if (isRec(v) && typeof seg === 'string' && Object.hasOwn(v, seg)) v = v[seg];
    else return undefined;
  }
  return v;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the text ${JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}...` : v)}`;
  if (typeof v === 'number') return `the number ${v}`;
  return String(v);
}

const knownList = (names: readonly string[]) => `(known: ${names.join(', ')})`;

/** ` (did you mean x?)` when a name is close, else the known names; or `none` when there are none. */
function hint(word: string, known: readonly string[], none: string): string {
  if (known.length === 0) return ` (${none})`;
  return didYouMean(word, known) || ` ${knownList(known)}`;
}

// ---------- zod issues ----------

/** The schema that validates `path`, choosing union members by the input's discriminator. */
function schemaAt(path: readonly PathSegment[], input: unknown): z.ZodType | undefined {
  let s: z.ZodType | undefined = rolloutSpec;
  for (let i = 0; i <= path.length && s; i++) {
    s = unwrap(s, valueAt(input, path.slice(0, i)));
    if (i === path.length) break;
    const seg = path[i]!;
    if (s instanceof z.ZodObject && typeof seg === 'string') s = (s.shape as Record<string, z.ZodType>)[seg];
    else if (s instanceof z.ZodArray && typeof seg === 'number') s = s.element as z.ZodType;
    else if (s instanceof z.ZodRecord && typeof seg === 'string') s = s.valueType as z.ZodType;
    else return undefined;
  }
  return s;
}

function unwrap(s: z.ZodType, value: unknown): z.ZodType | undefined {
  for (;;) {
    if (isDuration(s)) return s;
    if (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodPrefault) s = s.unwrap() as z.ZodType;
    else if (s instanceof z.ZodDiscriminatedUnion) {
      const key = s._zod.def.discriminator;
      const tag = isRec(value) ? value[key] : undefined;
      const options = s.options as z.ZodObject[];
      const hit = options.find((o) => (o.shape[key] as z.ZodLiteral).values.has(tag as never));
      if (!hit) return undefined;
      s = hit;
    } else return s;
  }
}

function unionNoun(path: readonly PathSegment[], key: string): { noun: string; known: readonly string[] } {
  const parent = path[path.length - 2];
  if (parent === 'target') return { noun: `target ${key}`, known: TARGET_KINDS };
  if (parent === 'provider' || parent === 'flagProvider') return { noun: `provider ${key}`, known: path[0] === 'edges' ? EDGE_PROVIDER_TYPES : path.includes('flags') || parent === 'flagProvider' ? FLAG_PROVIDER_TYPES : PROVIDER_TYPES };
  return { noun: `step ${key}`, known: STEP_KINDS };
}

const EXPECTED: Record<string, string> = {
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
};

function fromIssue(issue: z.core.$ZodIssue, input: unknown): Found[] {
  const path = issue.path as PathSegment[];
  const value = valueAt(input, path);
  const at = (message: string): Found[] => [{ path, message }];
  switch (issue.code) {
    case 'invalid_union': {
      const key = (issue as { discriminator?: string }).discriminator;
      if (key === undefined) return at(issue.message);
      const { noun, known } = unionNoun(path, key);
      if (value === undefined) return at(`missing ${noun} ${knownList(known)}`);
      return at(`unknown ${noun} ${JSON.stringify(value)} ${knownList(known)}`);
    }
    case 'unrecognized_keys': {
      const schema = schemaAt(path, input);
      const known = schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
      return issue.keys.map((key) => ({ path, key, message: `unknown field ${JSON.stringify(key)}${hint(key, known, 'no fields allowed here')}` }));
    }
    case 'invalid_type': {
      if (value === undefined) return at('required field is missing');
      const schema = schemaAt(path, input);
      if (schema && isDuration(schema)) return at(`expected a duration such as 30s, 5m or 1h30m, got ${describe(value)}`);
      return at(`expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${describe(value)}`);
    }
    case 'too_small': {
      const min = Number(issue.minimum);
      if (issue.origin === 'array') return at(min <= 1 ? 'must not be empty' : `needs at least ${min} entries`);
      if (issue.origin === 'string') return at(min <= 1 ? 'must not be empty' : `needs at least ${min} characters`);
      return at(`must be at least ${min}, got ${describe(value)}`);
    }
    case 'too_big': {
      const max = Number(issue.maximum);
      if (issue.origin === 'array') return at(`allows at most ${max} entries`);
      if (issue.origin === 'string') return at(`allows at most ${max} characters`);
      return at(`must be at most ${max}, got ${describe(value)}`);
    }
    case 'invalid_value': {
      const known = issue.values.map(String);
      if (typeof value !== 'string') return at(`expected one of ${known.join(', ')}, got ${describe(value)}`);
      return at(`unknown value ${JSON.stringify(value)}${hint(value, known, '')}`);
    }
    case 'invalid_format':
      return at(`${issue.message}, got ${describe(value)}`);
    default:
      return at(issue.message);
  }
}

// ---------- semantic checks ----------

function semanticProblems(input: unknown): Found[] {
  if (!isRec(input)) return [];
  const out: Found[] = [];
  const add = (path: PathSegment[], message: string) => out.push({ path, message });

  const regionNames = checkUnique(list(input.regions), 'regions', 'name', 'region name', add);
  checkWaves(input, regionNames, add);
  const release = input.services !== undefined;
  if (!release) oneServiceProblems(input, add);
  const releaseMetrics = release ? releaseProblems(input, regionNames, add) : undefined;
  const metricNames = releaseMetrics ?? checkUnique(list(input.metrics), 'metrics', 'name', 'metric name', add);
  // When `metrics` is present but malformed, the schema reports it and metric references go unchecked.
  const definedMetrics = input.metrics === undefined || Array.isArray(input.metrics) ? metricNames : undefined;
  list(input.services).forEach((svc, i) => isRec(svc) && checkSteps(svc.steps, ['services', i, 'steps'], definedMetrics, add));
  checkSteps(input.steps, ['steps'], definedMetrics, add);
  list(input.waves).forEach((w, i) => isRec(w) && checkSteps(w.steps, ['waves', i, 'steps'], definedMetrics, add));
  list(input.regions).forEach((r, i) => {
    if (!isRec(r)) return;
    checkSteps(r.steps, ['regions', i, 'steps'], definedMetrics, add);
    list(r.windows).forEach((w, k) => isRec(w) && checkWindow(w, ['regions', i, 'windows', k], add));
  });
  if (isRec(input.simulation)) checkFaults(list(input.simulation.faults).map((f) => (release && typeof f === 'string' ? faultWithoutService(f) : f)), regionNames, add);
  statefulProblems(input, add);
  edgeProblems(input, regionNames, add);
  flagProblems(input, add);
  notificationProblems(input, add);
  approverProblems(input, add);
  return out;
}

/** Scripted faults parse, and name a region of the spec. */
function checkFaults(lines: unknown[], regionNames: string[], add: Add): void {
  lines.forEach((line, i) => {
    if (typeof line !== 'string') return;
    const parsed = parseFault(line);
    const at: PathSegment[] = ['simulation', 'faults', i];
    if ('error' in parsed) add(at, parsed.error);
    else if (!regionNames.includes(parsed.region)) add(at, `unknown region ${JSON.stringify(parsed.region)}${didYouMean(parsed.region, regionNames)}`);
  });
}

function checkWaves(input: Rec, regionNames: string[], add: Add): void {
  if (!Array.isArray(input.waves)) return;
  const waveOf = new Map<string, number>();
  const label = (i: number) => {
    const w = input.waves as unknown[];
    const name = isRec(w[i]) ? text(w[i].name) : undefined;
    return `"${name ?? `wave-${i + 1}`}" (waves[${i}])`;
  };
  const waveNames = new Map<string, number>();
  input.waves.forEach((w, i) => {
    if (!isRec(w)) return;
    const effective = text(w.name) ?? `wave-${i + 1}`;
    const seen = waveNames.get(effective);
    if (seen === undefined) waveNames.set(effective, i);
    else add(text(w.name) ? ['waves', i, 'name'] : ['waves', i], `duplicate wave name ${JSON.stringify(effective)} (also waves[${seen}])`);

    list(w.regions).forEach((r, k) => {
      if (typeof r !== 'string') return;
      const path = ['waves', i, 'regions', k];
      if (!regionNames.includes(r)) return add(path, `unknown region ${JSON.stringify(r)}${hint(r, regionNames, 'no regions are defined')}`);
      const other = waveOf.get(r);
      if (other === undefined) waveOf.set(r, i);
      else if (other === i) add(path, `region ${JSON.stringify(r)} is listed twice in this wave`);
      else add(path, `region ${JSON.stringify(r)} is in two waves: ${label(other)} and ${label(i)}; a region belongs to one wave`);
    });
  });
  list(input.regions).forEach((r, i) => {
    const name = isRec(r) ? text(r.name) : undefined;
    if (name !== undefined && !waveOf.has(name)) add(['regions', i], `region ${JSON.stringify(name)} is in no wave; add it to one of the waves`);
  });
}

function checkSteps(steps: unknown, base: PathSegment[], metrics: string[] | undefined, add: Add): void {
  const items = list(steps);
  let previous: { weight: number; index: number } | undefined;
  items.forEach((s, i) => {
    if (!isRec(s)) return;
    const at = (...rest: PathSegment[]) => [...base, i, ...rest];
    if (s.kind === 'setWeight' && Number.isInteger(s.weight) && (s.weight as number) >= 0 && (s.weight as number) <= 100) {
      const weight = s.weight as number;
      if (previous && weight <= previous.weight) {
        add(at('weight'), `weight ${weight} does not rise above ${previous.weight} set at ${formatPath([...base, previous.index])}; each setWeight must raise the weight`);
      }
      if (weight === 100 && i !== items.length - 1) {
        add(at('weight'), 'setWeight 100 may only be the last step (the rollout promotes to 100% after its steps on its own)');
      }
      previous = { weight, index: i };
    }
    if (s.kind === 'approval') checkApproval(s, at, add);
    if (s.kind === 'analysis') checkAnalysis(s, at, metrics, add);
  });
}

function checkApproval(s: Rec, at: (...rest: PathSegment[]) => PathSegment[], add: Add): void {
  const hasTimeout = s.timeout !== undefined;
  if (Array.isArray(s.approvers) && s.approvers.length === 0) {
    if (!hasTimeout) {
      add(at('approvers'), 'nobody can approve (the list is empty) and there is no timeout, so this gate never ends; name approvers, or drop the list to let anyone approve');
    } else if (s.onTimeout !== 'proceed') {
      add(at('approvers'), 'nobody can approve (the list is empty), so this gate always aborts at its timeout; name approvers, or set onTimeout: proceed');
    }
  }
  if (s.onTimeout !== undefined && !hasTimeout) add(at('onTimeout'), 'onTimeout has no effect without a timeout; add a timeout or remove onTimeout');
}

/**
 * An analysis passes only once it has been healthy for `sustainedFor` and taken `minSamples`
 * samples, one every `interval`. Samples start at the beginning of the healthy run, so `minSamples`
 * samples span `interval * (minSamples - 1)`; a shorter `sustainedFor` never governs and would
 * mislead a reader about how long the step takes, so it is reported as an error.
 */
function checkAnalysis(s: Rec, at: (...rest: PathSegment[]) => PathSegment[], metrics: string[] | undefined, add: Add): void {
  if (metrics !== undefined) {
    list(s.metrics).forEach((m, k) => {
      if (typeof m === 'string' && m !== '' && !metrics.includes(m)) {
        add(at('metrics', k), `unknown metric ${JSON.stringify(m)}${hint(m, metrics, 'no metrics are defined; add it under metrics')}`);
      }
    });
  }
  const interval = s.interval === undefined ? DEFAULT_ANALYSIS_INTERVAL_MS : typeof s.interval === 'string' ? parseDuration(s.interval) : undefined;
  const sustained = typeof s.sustainedFor === 'string' ? parseDuration(s.sustainedFor) : undefined;
  const minSamples = s.minSamples === undefined ? DEFAULT_MIN_SAMPLES : Number.isInteger(s.minSamples) ? (s.minSamples as number) : undefined;
  if (interval === 0) add(at('interval'), 'must be longer than 0');
  if (interval === undefined || sustained === undefined || minSamples === undefined || minSamples < 1) return;
  if (interval > MAX_DURATION_MS.sampleInterval || sustained > MAX_DURATION_MS.wait) return;
  const needed = interval * (minSamples - 1);
  if (sustained < needed) {
    add(
      at('sustainedFor'),
      `${s.sustainedFor} is shorter than the ${formatMs(needed)} that minSamples ${minSamples} takes at one sample every ${formatMs(interval)}; raise sustainedFor to at least ${formatMs(needed)} or lower minSamples`,
    );
  }
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? formatDuration(ms) : `${ms}ms`;
}

function checkWindow(w: Rec, base: PathSegment[], add: Add): void {
  const tz = text(w.timezone);
  if (tz !== undefined && tz !== '' && !isTimeZone(tz)) {
    add([...base, 'timezone'], `unknown time zone ${JSON.stringify(tz)}${didYouMean(tz, Intl.supportedValuesOf('timeZone')) || ' (use an IANA name such as Europe/Berlin or UTC)'}`);
  }
  const { start, end } = w;
  if (typeof start === 'string' && CLOCK.test(start) && start === end) {
    add([...base, 'end'], `the window is empty: it starts and ends at ${start}`);
  }
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat(undefined, { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

// ---------- ordering ----------

function dedupe(found: Found[]): Found[] {
  const seen = new Set<string>();
  return found.filter((f) => {
    const key = `${formatPath(f.path)}\u0000${f.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Sorts by where each path sits in the document; missing fields sort after their present siblings. */
function inDocumentOrder(found: Found[], input: unknown): Problem[] {
  const rank = (path: PathSegment[]): number[] => {
    const out: number[] = [];
    let v = input;
    for (const seg of path) {
      if (typeof seg === 'number') out.push(seg);
      else {
        const keys = isRec(v) ? Object.keys(v) : [];
        const at = keys.indexOf(seg);
        out.push(at < 0 ? Number.MAX_SAFE_INTEGER : at);
      }
      v = valueAt(v, [seg]);
    }
    return out;
  };
  const compare = (a: number[], b: number[]) => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
    return a.length - b.length;
  };
  return found
    .map((f) => ({ f, r: rank(f.key === undefined ? f.path : [...f.path, f.key]) }))
    .sort((a, b) => compare(a.r, b.r))
    .map(({ f }) => ({ path: formatPath(f.path), message: f.message, ...(f.key === undefined ? {} : { field: f.key }) }));
}
