import { FAILURE } from './vocabulary';
/** The kinds of contract a release may carry: protobuf files checked with buf, OpenAPI documents checked with oasdiff. */
export const CONTRACT_KINDS = ['protobuf', 'openapi'] as const;
export type ContractKind = (typeof CONTRACT_KINDS)[number];

/**
 * One version of a contract as the release carries it: the text of every file, read when the spec
 * is loaded, keyed by its path inside the contract (`orders/v1/orders.proto`, `schemas/order.yaml`).
 * Imports and relative `$ref`s between the files resolve against those paths.
 */
export interface ContractVersion {
  contract: string;
  kind: ContractKind;
  files: Record<string, string>;
  /** The OpenAPI root document, one of `files`; required for openapi. Protobuf has no root file. */
  entry?: string;
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
  /**
   * What changed, named for people: `field Order.currency (#3)`, `rpc Orders.GetOrder`,
   * `service orders.v1.Admin`; `response field total of GET /orders/{id}`, `path POST /orders/{id}/cancel`.
   */
  element: string;
  /** The checker's rule id: buf's (`FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED`) or oasdiff's (`response-required-property-removed`). */
  rule: string;
  message: string;
  /**
   * The file inside the contract, in the new version; for an OpenAPI element the new version no
   * longer has, where the previous version had it.
   */
  path?: string;
  line?: number;
  column?: number;
}

const PATH_RULES: Record<ContractKind, { extensions: readonly string[]; example: string }> = {
  protobuf: { extensions: ['.proto'], example: 'orders/v1/orders.proto' },
  openapi: { extensions: ['.yaml', '.yml', '.json'], example: 'schemas/order.yaml' },
};

/**
 * A path a contract's file may have: relative, `/`-separated, no empty, `.` or `..` step, ending in
 * one of the kind's extensions. An OpenAPI path holds no `:` either, which oasdiff reads as a git revision.
 */
export function contractPathProblem(kind: ContractKind, path: string): string | undefined {
  const { extensions, example } = PATH_RULES[kind];
  const rule = `write a relative path inside the contract, like ${example}`;
  if (!extensions.some((ext) => path.endsWith(ext))) return `"${path}" is not a ${extensions.join(' or ')} file; ${rule}`;
  if (path.startsWith('/') || path.includes('\\') || /^[A-Za-z]:/.test(path)) return `"${path}" is not a relative /-separated path; ${rule}`;
  if (path.split('/').some((step) => step === '' || step === '.' || step === '..')) return `"${path}" has an empty, "." or ".." step; ${rule}`;
  if (kind === 'openapi' && path.includes(':')) return `"${path}" holds a ":"; ${rule}`;
  return undefined;
}

/** A path a protobuf contract's file may have: see contractPathProblem. */
export function protobufPathProblem(path: string): string | undefined {
  return contractPathProblem('protobuf', path);
}

/** Every problem of a contract version's kind, file list and entry at once. */
export function contractVersionProblems(version: ContractVersion): string[] {
  const named = `contract "${version.contract}"`;
  if (!(CONTRACT_KINDS as readonly string[]).includes(version.kind)) return [`${named} is of kind "${String(version.kind)}"; write one of ${CONTRACT_KINDS.join(', ')}`];
  const paths = Object.keys(version.files);
  const files =
    paths.length === 0
      ? [`${named} has no files`]
      : paths.flatMap((p) => {
          const problem = contractPathProblem(version.kind, p);
          return problem === undefined ? [] : [`${named}: ${problem}`];
        });
  return [...files, ...entryProblems(version, named, paths)];
}

function entryProblems(version: ContractVersion, named: string, paths: readonly string[]): string[] {
  if (version.kind !== 'openapi') return [];
  if (version.entry === undefined || version.entry === '') return [`${named} names no entry: set it to the path of the root OpenAPI document among its files`];
  if (paths.length > 0 && !Object.hasOwn(version.files, version.entry)) return [`${named}: the entry "${version.entry}" is not among its files (${paths.join(', ')})`];
  return [];
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

/** What a naming of an oasdiff finding reads: its rule id, where it is, and its sentence. */
export interface OasdiffFindingText {
  /** oasdiff's rule id, e.g. `response-required-property-removed`. */
  id: string;
  /** The HTTP method, e.g. `GET`. */
  operation?: string;
  /** The path template, e.g. `/orders/{id}`. */
  path?: string;
  /** The part of the document: `paths`, `components`, … */
  section?: string;
  /** oasdiff's English sentence, which puts each name it mentions in backquotes. */
  message: string;
}

/** A backquoted name in an oasdiff sentence, with the prose on either side of it. */
interface Quoted {
  name: string;
  before: string;
  after: string;
}

function quotedNames(message: string): Quoted[] {
  const pieces = message.split('`');
  const out: Quoted[] = [];
  for (let i = 1; i < pieces.length - 1; i += 2) out.push({ name: pieces[i]!, before: pieces[i - 1]!, after: pieces[i + 1]! });
  return out;
}

/** The first name whose prose after it fits `suffix` ("`note` request property"), else the first whose prose before it fits `prefix` ("property `total`"). */
function nameNear(message: string, suffix: RegExp | undefined, prefix: RegExp | undefined): string | undefined {
  const quoted = quotedNames(message);
  return (suffix && quoted.find((q) => suffix.test(q.after))?.name) ?? (prefix && quoted.find((q) => prefix.test(q.before))?.name);
}

/**
 * `limit (query)`, from "the `query` request parameter `limit`" or "added the new path request
 * parameter `id`"; a header's property names the header: "the `x-tenant` request header's property `id`".
 */
function parameterName(message: string): string | undefined {
  const quoted = quotedNames(message);
  const at = quoted.findIndex((q) => /request parameter $/.test(q.before));
  if (at < 0) {
    const header = quoted.find((q) => /^ request header's property/.test(q.after));
    return header && `${header.name} (header)`;
  }
  const { name, before } = quoted[at]!;
  const where = before === ' request parameter ' && at > 0 ? quoted[at - 1]!.name : /\b(path|query|header|cookie) request parameter $/.exec(before)?.[1];
  return where === undefined ? name : `${name} (${where})`;
}

type Namer = (message: string) => string | undefined;

/** "the `note` request property's max", "the `items/id` response's property `type`", "removed the required property `total`". */
const PROPERTY: Namer = (m) => nameNear(m, /^ (request|response)('s)?( [\w-]+)? property/, /property $/);

/**
 * How oasdiff's rule ids name the element a finding is about, tried in order: the kind of element
 * from the id, its name from the sentence. An element of an operation ends in ` of GET /orders`.
 */
const OPENAPI_ELEMENTS: { id: RegExp; kind: string; name?: Namer; ofOperation?: false }[] = [
  { id: /^api-path-/, kind: 'path' },
  { id: /^(api-removed|api-deprecated|api-sunset|api-invalid-stability|api-stability|sunset-deleted)/, kind: 'operation' },
  { id: /^api-security-component-/, kind: 'security scheme', name: (m) => nameNear(m, undefined, /security scheme $/), ofOperation: false },
  { id: /^api-(global-)?security-/, kind: 'security', name: (m) => nameNear(m, undefined, /security (scheme )?$/) },
  { id: /^(new-request-path-parameter|new-required-request-(default-)?parameter|new-required-request-header|request-parameter-|request-header-)/, kind: 'request parameter', name: parameterName },
  { id: /^(new-required-request-property|request-property-|request-(required|optional|read-only)-property-)/, kind: 'request field', name: PROPERTY },
  { id: /^request-body-/, kind: 'request body' },
  { id: /^(response-property-|response-(required|optional|write-only)-(write-only-)?property-)/, kind: 'response field', name: PROPERTY },
  { id: /^(response-header-|(required|optional)-response-header-)/, kind: 'response header', name: (m) => nameNear(m, /^ response header/, /response header $/) },
  { id: /^(response-media-type-|response-mediatype-)/, kind: 'response media type', name: (m) => nameNear(m, undefined, /media type $/) },
  { id: /^response-(success|non-success)-status-/, kind: 'response', name: (m) => nameNear(m, undefined, /status $/) },
  { id: /^response-/, kind: 'response body' },
  { id: /^webhook-/, kind: 'webhook', name: (m) => quotedNames(m)[0]?.name, ofOperation: false },
];

/**
 * The element an oasdiff finding is about, named for people: `response field total of GET /orders/{id}`,
 * `request parameter limit (query) of GET /orders`, `path DELETE /orders/{id}`. A property inside
 * arrays and objects keeps oasdiff's path (`items/total`). A rule not known here names the
 * operation, else the component the sentence names first, else the rule.
 */
export function openapiElementOf(f: OasdiffFindingText): string {
  const operation = f.operation !== undefined && f.path !== undefined ? `${f.operation} ${f.path}` : f.path;
  const known = OPENAPI_ELEMENTS.find((e) => e.id.test(f.id));
  if (known && known.kind !== 'path' && known.kind !== 'operation') {
    const name = known.name?.(f.message);
    const element = name === undefined ? known.kind : `${known.kind} ${name}`;
    return operation === undefined || known.ofOperation === false ? element : `${element} of ${operation}`;
  }
  if (operation !== undefined) return `${known?.kind ?? 'operation'} ${operation}`;
  const first = quotedNames(f.message)[0]?.name;
  return first !== undefined && f.section === 'components' ? `component ${first}` : f.id;
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
 * Whether the new provider may meet the consumers still running: refused when the checker found a
 * breaking change and some consumer of the old contract runs in a region during the release.
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

/** Failure types (ApplicationFailure.type) of the contract checks; defined in FAILURE. */
export const CONTRACT_FAILURE = {
  invalid: FAILURE.contractInvalid,
  checkFailed: FAILURE.contractCheckFailed,
} as const;
