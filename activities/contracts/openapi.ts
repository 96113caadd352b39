import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { requireTool } from '../../lib/tools';

/**
 * OpenAPI contract checks with oasdiff (`lib/tools.ts` provisions it). A document set is the
 * reviewed text of every file of one version of a contract, keyed by its path relative to the set
 * (`openapi.yaml`, `schemas/order.yaml`), so relative `$ref`s between files resolve as they did
 * in the repository. `entry` names the root document: one path for both sets, or one for each
 * when the root was renamed.
 */
export type DocumentSet = Record<string, string>;

/** oasdiff's severities: ERR breaks clients, WARN may, INFO does not. */
export type OpenApiLevel = 'ERR' | 'WARN' | 'INFO';

export type Side = 'previous' | 'next';

export type Entry = string | Record<Side, string>;

/** A place in one document set; `file` is relative to the set. */
export interface SourceRef {
  file: string;
  line: number;
  column: number;
}

/** One change oasdiff found, as its JSON output gives it, with file names relative to their set. */
export interface OpenApiFinding {
  /** oasdiff's rule id, e.g. `response-required-property-removed`; stable across releases and languages. */
  id: string;
  level: OpenApiLevel;
  /** The HTTP method, e.g. `GET`, when the change is in an operation. */
  operation?: string;
  operationId?: string;
  /** The path template, e.g. `/orders/{id}`. */
  path?: string;
  /** The part of the document: `paths`, `components`, … */
  section?: string;
  /** oasdiff's sentence, which names the element (property, parameter, status) in backquotes. */
  message: string;
  /** Where the changed element is in the previous set (absent for an addition) and in the next (absent for a removal). */
  previous?: SourceRef;
  next?: SourceRef;
}

/** A document set oasdiff cannot load or that is not valid OpenAPI; permanent, since the text will not change. */
export class OpenApiDocumentError extends Error {
  readonly side: Side;
  /** The file at fault, relative to its set, when oasdiff names one; else the entry. */
  readonly file: string;
  readonly line: number | undefined;
  /** What is wrong, without the side and the file. */
  readonly detail: string;

  constructor(side: Side, file: string, detail: string, line?: number) {
    super(`${side} OpenAPI document ${file}${line === undefined ? '' : `:${line}`}: ${detail}`);
    this.name = 'OpenApiDocumentError';
    this.side = side;
    this.file = file;
    this.line = line;
    this.detail = detail;
  }
}

export interface OasdiffOptions {
  /** The oasdiff binary; by default the one `lib/tools.ts` finds (OASDIFF_PATH, PATH, the cache). */
  oasdiff?: string;
  timeoutMs?: number;
}

const LEVELS: Record<number, OpenApiLevel> = { 3: 'ERR', 2: 'WARN', 1: 'INFO' };
/** oasdiff's exit code when it could not load a spec. */
const LOAD_FAILED = 102;
const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * The changes from `previous` to `next` that break or may break a client (ERR and WARN), from
 * `oasdiff breaking`. Removing a required response property, a path or an operation, or making a
 * request parameter required are ERR; adding an endpoint or an optional property is nothing.
 */
export function openapiBreaking(previous: DocumentSet, next: DocumentSet, entry: Entry, opts: OasdiffOptions = {}): Promise<OpenApiFinding[]> {
  return compare('breaking', previous, next, entry, opts);
}

/**
 * Every change, INFO included, from `oasdiff changelog`. A removed optional response property is
 * INFO here and absent from `openapiBreaking`, yet it breaks a consumer that reads it; a check that
 * knows what each consumer reads looks for it in this list.
 */
export function openapiChanges(previous: DocumentSet, next: DocumentSet, entry: Entry, opts: OasdiffOptions = {}): Promise<OpenApiFinding[]> {
  return compare('changelog', previous, next, entry, opts);
}

async function compare(command: 'breaking' | 'changelog', previous: DocumentSet, next: DocumentSet, entry: Entry, opts: OasdiffOptions): Promise<OpenApiFinding[]> {
  const sets: Record<Side, DocumentSet> = { previous, next };
  const entries: Record<Side, string> = typeof entry === 'string' ? { previous: entry, next: entry } : entry;
  for (const side of ['previous', 'next'] as const) checkSet(side, sets[side], entries[side]);
  const oasdiff = opts.oasdiff ?? requireTool('oasdiff');
  const root = await mkdtemp(join(tmpdir(), 'meridian-openapi-'));
  try {
    for (const side of ['previous', 'next'] as const) await writeSet(join(root, side), sets[side]);
    const run = (args: string[]) => oasdiffRun(oasdiff, args, root, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    for (const side of ['previous', 'next'] as const) await validate(run, sets, side, entries);
    const r = await run([command, `previous/${entries.previous}`, `next/${entries.next}`, '--format', 'json']);
    if (r.code === LOAD_FAILED) throw loadError(r.stderr, sets, entries);
    if (r.code !== 0) throw new Error(`oasdiff ${command} exited with ${r.code}: ${lastLine(r.stderr)}`);
    return parseFindings(r.stdout);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/**
 * File names stay inside the set (no `..`, no absolute path), and hold no `:`, which oasdiff would
 * read as a git revision. A `$ref` to a URL would make the check fetch at run time what nobody
 * reviewed, so a set must be self-contained.
 */
function checkSet(side: Side, set: DocumentSet, entry: string): void {
  for (const [file, text] of Object.entries(set)) {
    const clean = posix.normalize(file);
    if (!file || clean !== file || file.startsWith('/') || clean.startsWith('../') || file.includes(':') || file.includes('\\')) {
      throw new OpenApiDocumentError(side, file, 'a file name must be a plain relative path inside the set, without "..", ":" or "\\"');
    }
    const url = /\$ref["']?\s*:\s*["']?(https?:\/\/[^\s"']+)/.exec(text);
    if (url) throw new OpenApiDocumentError(side, file, `$ref to ${url[1]}: a contract's documents must be self-contained; add the referenced file to the set`, lineOf(text, url.index));
  }
  if (!(entry in set)) throw new OpenApiDocumentError(side, entry, `the entry document is not in the set (it has ${Object.keys(set).join(', ') || 'no files'})`);
}

const lineOf = (text: string, index: number) => text.slice(0, index).split('\n').length;

async function writeSet(dir: string, set: DocumentSet): Promise<void> {
  for (const [file, text] of Object.entries(set)) {
    const path = join(dir, file);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
  }
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

type Run = (args: string[]) => Promise<Ran>;

/** Run in the temporary folder, which holds no `.oasdiff.*` config, and without OASDIFF_CONFIG, so only the documents decide. */
function oasdiffRun(oasdiff: string, args: string[], cwd: string, timeout: number): Promise<Ran> {
  const { OASDIFF_CONFIG: _, ...env } = process.env;
  return new Promise((resolve, reject) => {
    execFile(oasdiff, args, { cwd, env, timeout, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(new Error(`oasdiff ${args[0]} did not run: ${err.message}`));
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

/** `oasdiff validate` catches what a diff would take in silence: a file that is not OpenAPI, an unknown type. */
async function validate(run: Run, sets: Record<Side, DocumentSet>, side: Side, entries: Record<Side, string>): Promise<void> {
  const r = await run(['validate', `${side}/${entries[side]}`, '--format', 'json', '--fail-on', 'ERR']);
  if (r.code === LOAD_FAILED) throw loadError(r.stderr, sets, entries);
  if (r.code === 0) return;
  if (r.code !== 1) throw new Error(`oasdiff validate exited with ${r.code}: ${lastLine(r.stderr)}`);
  const problems = (JSON.parse(r.stdout) as RawFinding[]).filter((f) => f.level === 3);
  const first = problems[0];
  const at = first?.source && relativeTo(first.source.file);
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more: ${problems.slice(1).map((p) => p.id).join(', ')})` : '';
  throw new OpenApiDocumentError(side, at?.file ?? entries[side], `not valid OpenAPI: ${first ? `${first.text} [${first.id}]` : lastLine(r.stdout)}${more}`, first?.source?.line);
}

/**
 * oasdiff says `failed to load revision spec from "next/openapi.yaml": error resolving reference
 * "./order.yaml#/Order": … open next/order.yaml: no such file or directory`. The error names the
 * file at fault when oasdiff does (a missing one, a referenced one in the set), else the entry.
 */
function loadError(stderr: string, sets: Record<Side, DocumentSet>, entries: Record<Side, string>): OpenApiDocumentError {
  const message = lastLine(stderr).replace(/^Error:\s*/, '');
  const side: Side = /spec from "next\//.test(message) ? 'next' : 'previous';
  const entry = entries[side];
  const opened = /open (?:previous|next)\/(\S+?):/.exec(message)?.[1];
  const ref = /error resolving reference "([^"#]+)/.exec(message)?.[1];
  const referenced = ref && posix.normalize(posix.join(posix.dirname(entry), ref));
  const file = opened ?? (referenced && referenced in sets[side] ? referenced : entry);
  const detail = message.replace(/^failed to load \w+ spec from "[^"]*":\s*/, '').replaceAll(`${side}/`, '');
  return new OpenApiDocumentError(side, file, detail);
}

interface RawSource {
  file: string;
  line: number;
  column: number;
}

interface RawFinding {
  id: string;
  text: string;
  level: number;
  operation?: string;
  operationId?: string;
  path?: string;
  section?: string;
  source?: RawSource;
  baseSource?: RawSource;
  revisionSource?: RawSource;
}

function relativeTo(file: string): { side: Side; file: string } | undefined {
  const m = /^(previous|next)\/(.+)$/.exec(file);
  return m ? { side: m[1] as Side, file: m[2]! } : undefined;
}

const ref = (raw: RawSource | undefined): SourceRef | undefined => {
  const at = raw && relativeTo(raw.file);
  return at && raw ? { file: at.file, line: raw.line, column: raw.column } : undefined;
};

export function parseFindings(json: string): OpenApiFinding[] {
  const raw = JSON.parse(json) as RawFinding[] | null;
  return (raw ?? []).map((f) => {
    const finding: OpenApiFinding = { id: f.id, level: LEVELS[f.level] ?? 'INFO', message: f.text };
    if (f.operation) finding.operation = f.operation;
    if (f.operationId) finding.operationId = f.operationId;
    if (f.path) finding.path = f.path;
    if (f.section) finding.section = f.section;
    const previous = ref(f.baseSource);
    const next = ref(f.revisionSource);
    if (previous) finding.previous = previous;
    if (next) finding.next = next;
    return finding;
  });
}

const lastLine = (text: string) => text.trim().split('\n').filter(Boolean).slice(-1)[0] ?? 'no output';
