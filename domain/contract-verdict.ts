/**
 * One version of a contract as the release carries it: the text of every file, read when the spec
 * is loaded, keyed by its path inside the contract (`orders/v1/orders.proto`). Imports between the
 * files resolve against those paths.
 */
export interface ContractVersion {
  contract: string;
  kind: 'protobuf';
  files: Record<string, string>;
}

/** One finding of `buf breaking`, as buf printed it with `--error-format json`. */
export interface BufAnnotation {
  /** buf's rule id (`FIELD_NO_DELETE`), or `COMPILE` when a file did not compile. */
  type: string;
  message: string;
  /** As buf printed it: relative to the directory buf ran in. Absent for package-wide findings. */
  path?: string;
  line?: number;
  column?: number;
}

/** The annotation type buf gives a file that does not parse or whose imports are missing. */
export const BUF_COMPILE = 'COMPILE';

/** A change in a contract that a consumer of the previous version may not survive. */
export interface BreakingChange {
  contract: string;
  /** What changed, named for people: `field Order.currency (#3)`, `rpc Orders.GetOrder`, `service orders.v1.Admin`. */
  element: string;
  /** buf's rule id, e.g. `FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED`. */
  rule: string;
  message: string;
  /** The file inside the contract, in the new version. */
  path?: string;
  line?: number;
  column?: number;
}

/** A path a contract's file may have: relative, `/`-separated, no `.` or `..` step, ending in `.proto`. */
export function protobufPathProblem(path: string): string | undefined {
  const rule = 'write a relative path inside the contract, like orders/v1/orders.proto';
  if (!path.endsWith('.proto')) return `"${path}" is not a .proto file; ${rule}`;
  if (path.startsWith('/') || path.includes('\\') || /^[A-Za-z]:/.test(path)) return `"${path}" is not a relative /-separated path; ${rule}`;
  if (path.split('/').some((step) => step === '' || step === '.' || step === '..')) return `"${path}" has an empty, "." or ".." step; ${rule}`;
  return undefined;
}

/** Every problem of a contract version's file list at once. */
export function contractVersionProblems(version: ContractVersion): string[] {
  const paths = Object.keys(version.files);
  if (paths.length === 0) return [`contract "${version.contract}" has no files`];
  return paths.flatMap((p) => {
    const problem = protobufPathProblem(p);
    return problem === undefined ? [] : [`contract "${version.contract}": ${problem}`];
  });
}

/** buf's `--error-format json` output: one JSON object a line. Throws on a line that is not one. */
export function parseBufAnnotations(output: string): BufAnnotation[] {
  return output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((line) => {
      let raw: unknown;
      try {
        raw = JSON.parse(line);
      } catch {
        throw new Error(`buf printed a line that is not JSON: ${line.slice(0, 200)}`);
      }
      const o = (raw ?? {}) as Record<string, unknown>;
      if (typeof o.type !== 'string' || typeof o.message !== 'string') throw new Error(`buf printed an annotation without type and message: ${line.slice(0, 200)}`);
      const a: BufAnnotation = { type: o.type, message: o.message };
      if (typeof o.path === 'string' && o.path !== '') a.path = o.path;
      if (typeof o.start_line === 'number' && o.start_line > 0) a.line = o.start_line;
      if (typeof o.start_column === 'number' && o.start_column > 0) a.column = o.start_column;
      return a;
    });
}

const q = '"([^"]+)"';

/** A field or an enum value: buf names it by number, with its name in some messages and not in others. */
interface Numbered {
  kind: 'field' | 'enum value';
  scope: string;
  number: string;
  name?: string;
  /** The name the previous version gave it, when the change is a rename: the one old consumers know. */
  renamedFrom?: string;
}

const NUMBERED: { pattern: RegExp; read: (m: RegExpMatchArray) => Numbered }[] = [
  { pattern: new RegExp(`field "(\\d+)"(?: with name ${q})? on message ${q}`, 'i'), read: (m) => ({ kind: 'field', scope: m[3]!, number: m[1]!, name: m[2] }) },
  { pattern: new RegExp(`message ${q} had required field "(\\d+)"`, 'i'), read: (m) => ({ kind: 'field', scope: m[1]!, number: m[2]! }) },
  { pattern: new RegExp(`enum value "(-?\\d+)" on enum ${q}(?:.*reserving the name ${q})?`, 'i'), read: (m) => ({ kind: 'enum value', scope: m[2]!, number: m[1]!, name: m[3] }) },
];

function numbered(message: string): Numbered | undefined {
  for (const { pattern, read } of NUMBERED) {
    const m = message.match(pattern);
    if (!m) continue;
    const element = read(m);
    const renamed = message.match(new RegExp(`changed name from ${q}`));
    return renamed ? { ...element, renamedFrom: renamed[1] } : element;
  }
  return undefined;
}

const render = (e: Numbered, name = e.renamedFrom ?? e.name) => `${e.kind} ${e.scope}${name === undefined ? '' : `.${name}`} (#${e.number})`;

/** How buf's messages name the other elements, tried in order. */
const NAMED: { pattern: RegExp; name: (m: RegExpMatchArray) => string }[] = [
  { pattern: new RegExp(`RPC ${q} on service ${q}`), name: (m) => `rpc ${m[2]}.${m[1]}` },
  { pattern: new RegExp(`service ${q} was deleted from package ${q}`, 'i'), name: (m) => `service ${m[2]}.${m[1]}` },
  { pattern: new RegExp(`reserved (name|range) ${q} on (message|enum) ${q}`, 'i'), name: (m) => `reserved ${m[1]} ${m[2]} of ${m[3]!.toLowerCase()} ${m[4]}` },
  { pattern: new RegExp(`package ${q} was deleted`, 'i'), name: (m) => `package ${m[1]}` },
  { pattern: new RegExp(`^(message|enum|oneof|service) ${q}`, 'i'), name: (m) => `${m[1]!.toLowerCase()} ${m[2]}` },
];

/** The element an annotation is about, from buf's message; the file, or the rule, when it names none. */
export function elementOf(a: Pick<BufAnnotation, 'type' | 'message' | 'path'>): string {
  const n = numbered(a.message);
  if (n) return render(n);
  for (const { pattern, name } of NAMED) {
    const m = a.message.match(pattern);
    if (m) return name(m);
  }
  if (/^File package changed/i.test(a.message) && a.path !== undefined) return `package of file ${a.path}`;
  return a.path === undefined ? a.type : `file ${a.path}`;
}

/**
 * The breaking changes among buf's annotations (compile errors are not: see BUF_COMPILE), with
 * paths made relative to `moduleDir`, the directory of the new version as buf was given it.
 * Findings about one field or enum value name it alike, by the name old consumers know.
 */
export function breakingChanges(contract: string, annotations: readonly BufAnnotation[], moduleDir = ''): BreakingChange[] {
  const prefix = moduleDir === '' || moduleDir.endsWith('/') ? moduleDir : `${moduleDir}/`;
  const found = annotations
    .filter((a) => a.type !== BUF_COMPILE)
    .map((a) => ({ a, path: a.path !== undefined && a.path.startsWith(prefix) ? a.path.slice(prefix.length) : a.path, n: numbered(a.message) }));
  const keyOf = (path: string | undefined, n: Numbered) => `${path ?? ''}|${n.kind}|${n.scope}|${n.number}`;
  const names = new Map<string, string>();
  for (const { path, n } of found) {
    if (n === undefined) continue;
    const key = keyOf(path, n);
    if (n.renamedFrom !== undefined) names.set(key, n.renamedFrom);
    else if (n.name !== undefined && !names.has(key)) names.set(key, n.name);
  }
  return found.map(({ a, path, n }) => {
    const element = n === undefined ? elementOf({ ...a, path }) : render(n, names.get(keyOf(path, n)));
    const c: BreakingChange = { contract, element, rule: a.type, message: a.message };
    if (path !== undefined) c.path = path;
    if (a.line !== undefined) c.line = a.line;
    if (a.column !== undefined) c.column = a.column;
    return c;
  });
}

/** `file:line:column`, as far as it is known. */
export function location(at: { path?: string; line?: number; column?: number }): string | undefined {
  if (at.path === undefined) return undefined;
  return [at.path, at.line, at.line === undefined ? undefined : at.column].filter((x) => x !== undefined).join(':');
}

/** Consumers of a contract that run one version of theirs, in the regions they run it in. */
export interface ConsumerVersion {
  service: string;
  version: string;
  regions: string[];
}

/** What a contract check compared: the provider going from the version a region runs to the new one, and who reads it there. */
export interface ContractContext {
  contract: string;
  provider: { service: string; from: string; to: string };
  /** Consumers built against the provider's current version that still run during the release. */
  consumers: readonly ConsumerVersion[];
}

export type ContractVerdict =
  | { allow: true }
  | { allow: false; message: string; contract: string; elements: string[]; changes: BreakingChange[]; consumers: ConsumerVersion[] };

/**
 * Whether the new provider may meet the consumers still running: refused when buf found a breaking
 * change and some consumer of the old contract runs in a region during the release.
 */
export function verdict(changes: readonly BreakingChange[], ctx: ContractContext): ContractVerdict {
  const consumers = ctx.consumers.filter((c) => c.regions.length > 0);
  const relevant = changes.filter((c) => c.contract === ctx.contract);
  if (relevant.length === 0 || consumers.length === 0) return { allow: true };
  const byElement = new Map<string, BreakingChange[]>();
  for (const c of relevant) byElement.set(c.element, [...(byElement.get(c.element) ?? []), c]);
  const elements = [...byElement.keys()];
  const { service, from, to } = ctx.provider;
  const who = consumers.map((c) => `${c.service} ${c.version} (${c.regions.join(', ')})`);
  const lines = [...byElement].map(([element, found]) => {
    const at = location(found[0]!);
    return `  - ${element}${at === undefined ? '' : ` at ${at}`}: ${found.map((f) => f.message).join(' ')} [${found.map((f) => f.rule).join(', ')}]`;
  });
  const message = [
    `contract "${ctx.contract}": ${service} ${to} breaks ${list(elements)} of the version ${from} provides, while ${list(who)} still consume${consumers.length === 1 ? 's' : ''} that version:`,
    ...lines,
    `Keep ${elements.length === 1 ? 'this element' : 'these elements'} in ${service} until no consumer of ${from} runs, or roll the consumers to a version that no longer needs ${elements.length === 1 ? 'it' : 'them'} first.`,
  ].join('\n');
  return { allow: false, message, contract: ctx.contract, elements, changes: [...relevant], consumers: [...consumers] };
}

function list(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** Failure types (ApplicationFailure.type) of the contract checks. */
export const CONTRACT_FAILURE = {
  /** A contract version that cannot be checked as written: bad paths, or a file that does not compile. */
  invalid: 'ContractInvalid',
  /** The checker itself failed: not found, timed out, or exited with an error of its own. */
  checkFailed: 'ContractCheckFailed',
} as const;
