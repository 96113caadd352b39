import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';

/** One thing wrong with a spec. `path` is like `waves[1].regions[0]`, '' for the whole file. */
export interface Problem {
  path: string;
  message: string;
  /** For an unknown field: the field's name; `path` is the mapping it is written in. */
  field?: string;
  line?: number;
  column?: number;
}

export type PathSegment = string | number;

const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$/;

/** `['waves', 1, 'regions', 0]` -> `waves[1].regions[0]`; keys that are not plain words are quoted: `config["a.b"]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (PLAIN_KEY.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** The inverse of formatPath. */
export function parsePath(path: string): PathSegment[] {
  const out: PathSegment[] = [];
  const token = /\.?([A-Za-z_$][\w$-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/y;
  while (token.lastIndex < path.length) {
    const m = token.exec(path);
    if (!m) break;
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(JSON.parse(m[3]!) as string);
  }
  return out;
}

const EMPTY =
  'the file is empty; a rollout spec needs service, version, image, regions, waves and steps (see examples/demo.yaml)';

function describeKind(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (typeof value === 'string') return `the text ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  return `a ${typeof value}`;
}

/** A spec parsed from its text: the plain value, and where in the text each of its paths is written. */
export interface ParsedSpec {
  ok: true;
  value: unknown;
  /**
   * Adds line and column to problems whose path leads to a node of the document (or, for a missing
   * field, to its closest existing parent), so editors can jump to them. Problems that already have
   * a position are returned unchanged.
   */
  locate(problems: Problem[]): Problem[];
}

/**
 * Parses a spec written as YAML (or JSON, which YAML reads too) into plain data. Every syntax
 * error becomes one problem with its line and column. Problems carry no file name (formatProblems
 * adds it), so `file` is not used yet.
 */
export function parseSpecText(text: string, file: string): ParsedSpec | { ok: false; problems: Problem[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => {
        const { line, col } = lines.linePos(e.pos[0]);
        return { path: '', message: e.message, line, column: col };
      }),
    };
  }
  if (doc.contents === null) return { ok: false, problems: [{ path: '', message: EMPTY }] };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { ok: false, problems: [{ path: '', message: (err as Error).message }] };
  }
  if (value === null || value === undefined) return { ok: false, problems: [{ path: '', message: EMPTY }] };
  if (typeof value !== 'object' || Array.isArray(value)) {
    const { line, col } = lines.linePos(doc.contents.range[0]);
    return {
      ok: false,
      problems: [
        {
          path: '',
          message: `the top level is ${describeKind(value)}, but a rollout spec is a mapping with service, version, image, regions, waves and steps`,
          line,
          column: col,
        },
      ],
    };
  }
  return { ok: true, value, locate: (problems) => locateProblems(doc, lines, problems) };
}

function locateProblems(doc: Document.Parsed, lines: LineCounter, problems: Problem[]): Problem[] {
  return problems.map((p) => {
    if (p.line !== undefined) return p;
    const segments = parsePath(p.path);
    const key = p.field === undefined ? undefined : keyNode(doc, segments, p.field);
    if (key) {
      const { line, col } = lines.linePos(key[0]);
      return { ...p, line, column: col };
    }
    if (p.path === '') return p;
    for (let n = segments.length; n > 0; n--) {
      const node = doc.getIn(segments.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && typeof node === 'object' && node.range) {
        const { line, col } = lines.linePos(node.range[0]);
        return { ...p, line, column: col };
      }
    }
    return p;
  });
}

/** Where the key `field` of the mapping at `path` is written. */
function keyNode(doc: Document.Parsed, path: PathSegment[], field: string): [number, number, number] | undefined {
  const parent = path.length === 0 ? doc.contents : doc.getIn(path, true);
  if (!isMap(parent)) return undefined;
  const pair = parent.items.find((item) => isScalar(item.key) && String(item.key.value) === field);
  return isScalar(pair?.key) ? pair.key.range ?? undefined : undefined;
}
