import { celEnv, celFunc, CelScalar, isCelError, isCelList, listType, parse, plan } from '@bufbuild/cel';
import type { CelInput, CelResult, CelType } from '@bufbuild/cel';
import type { EdgePolicy, EdgeShares, EdgeSpec } from './edges';

/*
 * Guardrails on a planned edge configuration, as CEL rules: the built-in ones below and the
 * users' own (`EdgePolicy`). The evaluator, @bufbuild/cel, is pure ECMAScript with no I/O.
 *
 * What a rule sees (whole percents are CEL `int`):
 *
 *   edge     {name: string, residency: string, minHealthyShare: int,
 *             normalShares: map<string, int>,      the shares the edge's routes declare
 *             crossResidency: list<string>}        regions of another residency it may route to
 *   planned  {shares: map<string, int>,            region -> percent of the edge's traffic
 *             mirrors: map<string, int>}           region -> percent of its stable traffic mirrored to its canary
 *   regions  map<string, {residency: string, healthy: bool}>
 *             every region the edge or the plan names; residency "" when it is not known
 *
 * Besides CEL's standard functions and macros (all, exists, exists_one, filter, map, has) there is
 * `sum(list) -> int|double`, since CEL cannot add up a list on its own:
 *   sum(planned.shares.filter(r, regions[r].healthy).map(r, planned.shares[r])) >= 80
 *
 * A rule must yield a bool; true passes. Rules are parsed and checked against the shape above
 * when they are loaded (unknown names and fields, calls no function accepts, a result that is not
 * a bool); a rule that fails at evaluation (a missing map key, say) counts as failing.
 */

export interface PolicyInput {
  edge: {
    name: string;
    residency: string;
    minHealthyShare: number;
    normalShares: Record<string, number>;
    crossResidency: string[];
  };
  planned: { shares: Record<string, number>; mirrors: Record<string, number> };
  regions: Record<string, { residency: string; healthy: boolean }>;
}

/** The input for rules about `planned` on `edge`, with every region either names. */
export function policyInput(
  edge: EdgeSpec,
  planned: EdgeShares,
  residencyOf: Record<string, string>,
  unhealthy: ReadonlySet<string>,
): PolicyInput {
  const cross = (edge.crossResidency ?? []).map((c) => c.region);
  const named = new Set([
    ...edge.routes.map((r) => r.region),
    ...cross,
    ...Object.keys(planned.shares),
    ...Object.keys(planned.mirrors ?? {}),
  ]);
  const regions = Object.fromEntries(
    [...named].sort().map((r) => [r, { residency: residencyOf[r] ?? '', healthy: !unhealthy.has(r) }]),
  );
  return {
    edge: {
      name: edge.name,
      residency: edge.residency,
      minHealthyShare: edge.minHealthyShare,
      normalShares: Object.fromEntries(edge.routes.map((r) => [r.region, r.share])),
      crossResidency: cross,
    },
    planned: { shares: { ...planned.shares }, mirrors: { ...(planned.mirrors ?? {}) } },
    regions,
  };
}

const allowedThere = (m: string) =>
  `${m}.all(r, ${m}[r] == 0 || r in edge.crossResidency || (r in regions && regions[r].residency == edge.residency))`;
const inRange = (m: string) => `${m}.all(r, ${m}[r] >= 0 && ${m}[r] <= 100)`;

/** The guardrails every edge plan passes, whatever the spec says. */
export const BUILT_IN_POLICIES: readonly EdgePolicy[] = [
  {
    name: 'residency',
    rule: `${allowedThere('planned.shares')} && ${allowedThere('planned.mirrors')}`,
    message: 'the plan sends or mirrors traffic to a region of another residency that crossResidency does not allow',
  },
  {
    name: 'min-healthy-share',
    rule:
      'sum(planned.shares.filter(r, planned.shares[r] > 0 && r in regions && regions[r].healthy)' +
      '.map(r, r in edge.normalShares ? edge.normalShares[r] : 0)) >= edge.minHealthyShare',
    message: 'the healthy regions the plan sends traffic to normally carry less than minHealthyShare of the edge',
  },
  {
    name: 'shares',
    rule: `${inRange('planned.shares')} && ${inRange('planned.mirrors')} && sum(planned.shares.map(r, planned.shares[r])) == 100`,
    message: 'shares must add up to 100, and every share and mirror must be within 0..100',
  },
];

// ---- evaluation ------------------------------------------------------------------------------

/** `sum(list)`: ints add up to an int (an empty list to 0), doubles to a double. */
const SUM = celFunc('sum', [listType(CelScalar.DYN)], CelScalar.DYN, (list) => {
  const items = [...(isCelList(list) ? list : [])];
  if (items.every((v) => typeof v === 'bigint')) return items.reduce<bigint>((s, v) => s + (v as bigint), 0n);
  if (items.every((v) => typeof v === 'number')) return items.reduce<number>((s, v) => s + (v as number), 0);
  throw new Error('sum() takes a list of ints or a list of doubles');
});

const ENV = celEnv({ funcs: [SUM] });

type Expr = ReturnType<typeof parse>['expr'];
type Evaluate = (bindings: Record<string, CelInput>) => CelResult;

export interface CompiledPolicy {
  name: string;
  rule: string;
  message: string;
  evaluate: Evaluate;
  /** The parts of the input the rule reads (`edge.minHealthyShare`, `planned.shares`), for its report. */
  reads: string[][];
}

/** A rule that cannot be loaded: `index` is its place in the list given to `compilePolicies`. */
export interface PolicyProblem {
  index: number;
  name: string;
  rule: string;
  error: string;
}

export interface PolicyFailure {
  name: string;
  message: string;
  rule: string;
  /** What the rule read, by path: `{ "edge.minHealthyShare": 60, "planned.shares": {...} }`. */
  saw: Record<string, unknown>;
  /** Set when the rule could not be evaluated, or did not yield a bool. */
  error?: string;
}

/** Parses and checks each rule against the input shape; the ones that fail come back as problems. */
export function compilePolicies(policies: readonly EdgePolicy[]): { compiled: CompiledPolicy[]; problems: PolicyProblem[] } {
  const compiled: CompiledPolicy[] = [];
  const problems: PolicyProblem[] = [];
  policies.forEach((p, index) => {
    try {
      const parsed = parse(p.rule);
      const type = checkExpr(parsed.expr, new Map());
      if (!assignable(type, BOOL)) throw new Error(`the rule yields ${show(type)}, not bool`);
      const evaluate: Evaluate = plan(ENV, parsed);
      const message = p.message ?? `edge policy ${p.name} failed`;
      compiled.push({ name: p.name, rule: p.rule, message, evaluate, reads: reads(parsed.expr, new Set()) });
    } catch (err) {
      problems.push({ index, name: p.name, rule: p.rule, error: err instanceof Error ? err.message : String(err) });
    }
  });
  return { compiled, problems };
}

/** The rules that do not pass on `input`, each with what it read. */
export function evaluatePolicies(compiled: readonly CompiledPolicy[], input: PolicyInput): PolicyFailure[] {
  const bindings = toCel(input) as Record<string, CelInput>;
  const failures: PolicyFailure[] = [];
  for (const p of compiled) {
    const result = p.evaluate(bindings);
    if (result === true) continue;
    const failure: PolicyFailure = { name: p.name, message: p.message, rule: p.rule, saw: saw(p.reads, input) };
    if (isCelError(result)) failure.error = result.message;
    else if (typeof result !== 'boolean') failure.error = `the rule yielded ${String(result)}, not a bool`;
    failures.push(failure);
  }
  return failures;
}

let builtIns: CompiledPolicy[] | undefined;

/** The built-in guardrails, compiled on first use. */
export function builtInPolicies(): readonly CompiledPolicy[] {
  if (!builtIns) {
    const { compiled, problems } = compilePolicies(BUILT_IN_POLICIES);
    if (problems.length > 0) throw new Error(`a built-in edge policy does not compile: ${JSON.stringify(problems)}`);
    builtIns = compiled;
  }
  return builtIns;
}

/** The built-in guardrails and then the users' compiled rules, on one planned configuration. */
export function checkEdgePlan(input: PolicyInput, user: readonly CompiledPolicy[] = []): PolicyFailure[] {
  return evaluatePolicies([...builtInPolicies(), ...user], input);
}

/** Whole numbers become CEL ints, other numbers doubles; objects become maps. */
function toCel(value: unknown): CelInput {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCel);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toCel(v)]));
  }
  return value as CelInput;
}

function saw(paths: string[][], input: PolicyInput): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const path of paths) {
    let v: unknown = input;
    for (const key of path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
    out[path.join('.')] = v;
  }
  return out;
}

/** The longest field paths from a top-level variable that `e` reads, each once, in order of appearance. */
function reads(e: Expr, bound: ReadonlySet<string>, found: string[][] = []): string[][] {
  const path = fieldPath(e, bound);
  if (path) {
    if (!found.some((f) => f.join('.') === path.join('.'))) found.push(path);
    return found;
  }
  const k = e.exprKind;
  if (k.case === 'selectExpr' && k.value.operand) reads(k.value.operand, bound, found);
  if (k.case === 'callExpr') [k.value.target, ...k.value.args].forEach((a) => a && reads(a, bound, found));
  if (k.case === 'listExpr') k.value.elements.forEach((a) => reads(a, bound, found));
  if (k.case === 'structExpr') k.value.entries.forEach((en) => en.value && reads(en.value, bound, found));
  if (k.case === 'comprehensionExpr') {
    const c = k.value;
    const inner = new Set([...bound, c.iterVar, c.iterVar2, c.accuVar]);
    if (c.iterRange) reads(c.iterRange, bound, found);
    for (const part of [c.loopCondition, c.loopStep, c.result]) if (part) reads(part, inner, found);
  }
  return found;
}

function fieldPath(e: Expr, bound: ReadonlySet<string>): string[] | undefined {
  const k = e.exprKind;
  if (k.case === 'identExpr') return !bound.has(k.value.name) && k.value.name in DECLARED ? [k.value.name] : undefined;
  if (k.case !== 'selectExpr' || k.value.testOnly || !k.value.operand) return undefined;
  const base = fieldPath(k.value.operand, bound);
  return base && [...base, k.value.field];
}

// ---- checking --------------------------------------------------------------------------------
// @bufbuild/cel parses and evaluates but does not yet type-check in its public API, so rules are
// checked here against the declared input shape and the signatures of the functions in ENV.

type Ty =
  | { k: 'scalar'; name: string }
  | { k: 'list'; of: Ty }
  | { k: 'map'; key: Ty; value: Ty }
  | { k: 'record'; name: string; fields: Record<string, Ty> };

const scalar = (name: string): Ty => ({ k: 'scalar', name });
const DYN = scalar('dyn');
const BOOL = scalar('bool');
const INT = scalar('int');
const STRING = scalar('string');
const list = (of: Ty): Ty => ({ k: 'list', of });
const map = (key: Ty, value: Ty): Ty => ({ k: 'map', key, value });
const record = (name: string, fields: Record<string, Ty>): Ty => ({ k: 'record', name, fields });

const DECLARED: Record<string, Ty> = {
  edge: record('edge', {
    name: STRING,
    residency: STRING,
    minHealthyShare: INT,
    normalShares: map(STRING, INT),
    crossResidency: list(STRING),
  }),
  planned: record('planned', { shares: map(STRING, INT), mirrors: map(STRING, INT) }),
  regions: map(STRING, record('region', { residency: STRING, healthy: BOOL })),
};

function show(t: Ty): string {
  if (t.k === 'scalar' || t.k === 'record') return t.name;
  return t.k === 'list' ? `list(${show(t.of)})` : `map(${show(t.key)}, ${show(t.value)})`;
}

function fromCel(t: CelType): Ty {
  if (t.kind === 'list') return list(fromCel(t.element));
  if (t.kind === 'map') return map(fromCel(t.key), fromCel(t.value));
  return scalar(t.name);
}

/** Whether a value of type `actual` may stand where `declared` is expected; dyn goes either way. */
function assignable(actual: Ty, declared: Ty): boolean {
  if (show(actual) === 'dyn' || show(declared) === 'dyn') return true;
  if (actual.k === 'record') return declared.k === 'map' && assignable(STRING, declared.key);
  if (actual.k === 'scalar' || declared.k === 'scalar' || declared.k === 'record') return show(actual) === show(declared);
  if (actual.k === 'list') return declared.k === 'list' && assignable(actual.of, declared.of);
  return declared.k === 'map' && assignable(actual.key, declared.key) && assignable(actual.value, declared.value);
}

const join = (types: Ty[]): Ty => (types.length > 0 && types.every((t) => show(t) === show(types[0]!)) ? types[0]! : DYN);

const CONSTANT: Record<string, string> = {
  boolValue: 'bool',
  int64Value: 'int',
  uint64Value: 'uint',
  doubleValue: 'double',
  stringValue: 'string',
  bytesValue: 'bytes',
  nullValue: 'null_type',
};

function checkExpr(e: Expr, scope: ReadonlyMap<string, Ty>): Ty {
  const k = e.exprKind;
  switch (k.case) {
    case 'constExpr':
      return scalar(CONSTANT[k.value.constantKind.case ?? ''] ?? 'dyn');
    case 'identExpr': {
      const t = scope.get(k.value.name) ?? DECLARED[k.value.name];
      if (!t) throw new Error(`undeclared reference to '${k.value.name}'; a rule sees ${Object.keys(DECLARED).join(', ')}`);
      return t;
    }
    case 'selectExpr': {
      const field = selectField(checkExpr(k.value.operand!, scope), k.value.field);
      return k.value.testOnly ? BOOL : field;
    }
    case 'callExpr': {
      const target = k.value.target && checkExpr(k.value.target, scope);
      return checkCall(k.value.function, target, k.value.args, scope);
    }
    case 'listExpr':
      return list(join(k.value.elements.map((x) => checkExpr(x, scope))));
    case 'structExpr': {
      if (k.value.messageName) throw new Error(`a rule cannot build a ${k.value.messageName} message`);
      const keys = k.value.entries.map((en) => (en.keyKind.case === 'mapKey' ? checkExpr(en.keyKind.value, scope) : DYN));
      return map(join(keys), join(k.value.entries.map((en) => checkExpr(en.value!, scope))));
    }
    case 'comprehensionExpr':
      return checkComprehension(k.value, scope);
    default:
      throw new Error(`unsupported expression: ${k.case}`);
  }
}

function selectField(t: Ty, field: string): Ty {
  if (t.k === 'record') {
    const f = t.fields[field];
    if (!f) throw new Error(`${t.name} has no field '${field}'; it has ${Object.keys(t.fields).join(', ')}`);
    return f;
  }
  if (t.k === 'map' && assignable(STRING, t.key)) return t.value;
  if (show(t) === 'dyn') return DYN;
  throw new Error(`cannot select field '${field}' from ${show(t)}`);
}

function checkCall(fn: string, target: Ty | undefined, argExprs: Expr[], scope: ReadonlyMap<string, Ty>): Ty {
  const args = argExprs.map((a) => checkExpr(a, scope));
  const signature = `${target ? `${show(target)}.` : ''}(${args.map(show).join(', ')})`;
  const noOverload = () => new Error(`found no matching overload for '${fn}' applied to '${signature}'`);
  switch (fn) {
    case '_&&_':
    case '_||_':
    case '@not_strictly_false':
      if (!args.every((a) => assignable(a, BOOL))) throw noOverload();
      return BOOL;
    case '_?_:_':
      if (!assignable(args[0]!, BOOL)) throw noOverload();
      return join([args[1]!, args[2]!]);
    case '_[_]':
      return index(args[0]!, args[1]!, argExprs[1]!, noOverload);
    case 'sum':
      if (target || args.length !== 1 || !assignable(args[0]!, list(DYN))) throw noOverload();
      return args[0]!.k === 'list' ? args[0]!.of : DYN;
  }
  const group = ENV.funcs.find(fn);
  if (!group) throw new Error(`undeclared function '${fn}'`);
  const results: Ty[] = [];
  for (const f of group) {
    if ((f.target === undefined) !== (target === undefined) || f.arguments.length !== args.length) continue;
    if (target && f.target && !assignable(target, fromCel(f.target))) continue;
    if (args.every((a, i) => assignable(a, fromCel(f.arguments[i]!)))) results.push(fromCel(f.result));
  }
  if (results.length === 0) throw noOverload();
  return join(results);
}

function index(container: Ty, key: Ty, keyExpr: Expr, noOverload: () => Error): Ty {
  if (container.k === 'list' && assignable(key, INT)) return container.of;
  if (container.k === 'map' && assignable(key, container.key)) return container.value;
  if (container.k === 'record' && assignable(key, STRING)) {
    const k = keyExpr.exprKind;
    const name = k.case === 'constExpr' && k.value.constantKind.case === 'stringValue' ? k.value.constantKind.value : undefined;
    return name === undefined ? DYN : selectField(container, name);
  }
  if (show(container) === 'dyn') return DYN;
  throw noOverload();
}

type Comprehension = Extract<Expr['exprKind'], { case: 'comprehensionExpr' }>['value'];

function checkComprehension(c: Comprehension, scope: ReadonlyMap<string, Ty>): Ty {
  const range = checkExpr(c.iterRange!, scope);
  const vars = iterationVars(range, Boolean(c.iterVar2));
  let accu = checkExpr(c.accuInit!, scope);
  const inner = (a: Ty) => {
    const s = new Map(scope).set(c.iterVar, vars[0]).set(c.accuVar, a);
    return c.iterVar2 ? s.set(c.iterVar2, vars[1]) : s;
  };
  checkExpr(c.loopCondition!, inner(accu));
  const step = checkExpr(c.loopStep!, inner(accu));
  // `map` and `filter` start from an empty list, whose element type only the step tells.
  if (accu.k === 'list' && show(accu.of) === 'dyn' && step.k === 'list') accu = step;
  return checkExpr(c.result!, new Map(scope).set(c.accuVar, accu));
}

/** The types of a comprehension's variables over `range`: a list's element, or index and element; a map's key, or key and value. */
function iterationVars(range: Ty, two: boolean): [Ty, Ty] {
  if (range.k === 'list') return two ? [INT, range.of] : [range.of, DYN];
  if (range.k === 'map') return [range.key, range.value];
  if (range.k === 'record') return [STRING, DYN];
  if (show(range) === 'dyn') return [DYN, DYN];
  throw new Error(`cannot iterate over ${show(range)}`);
}
