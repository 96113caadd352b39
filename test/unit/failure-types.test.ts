import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseSync } from '@swc/core';
import { describe, expect, it } from 'vitest';
import { FAILURE } from '../../domain/vocabulary';

/**
 * Meridian's failure types are defined once, in FAILURE (domain/vocabulary.ts): no ApplicationFailure
 * is made with a type written out as a string, nor is one handed as a string to a helper that makes
 * one. Saved workflow histories hold these values, so each is unique.
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
const FOLDERS = ['activities', 'workflows', 'domain', 'worker', 'lib', 'client', 'cli'];

interface Span {
  start: number;
  end: number;
}
type Node = Record<string, unknown> & { type?: string; span?: Span };

/** The string a node spells when it is a literal (`'X'`, `` `X` ``, `'X' as const`), else undefined. */
function literal(node: unknown): string | undefined {
  const n = node as Node | undefined;
  if (!n) return undefined;
  if (n.type === 'StringLiteral') return n.value as string;
  if (n.type === 'TemplateLiteral' && (n.expressions as unknown[]).length === 0) {
    return (n.quasis as { cooked?: string; raw: string }[]).map((q) => q.cooked ?? q.raw).join('');
  }
  if (n.type === 'TsConstAssertion' || n.type === 'TsAsExpression' || n.type === 'TsSatisfiesExpression' || n.type === 'ParenthesisExpression') {
    return literal(n.expression);
  }
  return undefined;
}

/** The `type` property of an object literal argument, when there is one. */
function typeProperty(arg: unknown): unknown {
  const o = arg as Node | undefined;
  if (o?.type !== 'ObjectExpression') return undefined;
  for (const p of o.properties as Node[]) {
    const key = p.key as Node | undefined;
    if (p.type === 'KeyValueProperty' && key && key.value === 'type' && (key.type === 'Identifier' || key.type === 'StringLiteral')) return p.value;
  }
  return undefined;
}

/**
 * The type argument of an ApplicationFailure call or construction: the second argument of
 * `nonRetryable`, `retryable` and `new ApplicationFailure`, the `type` of `create`'s options and of
 * `fromError`'s second argument. Undefined when `node` is none of these.
 */
function failureTypeArgument(node: Node): unknown {
  if (node.type !== 'CallExpression' && node.type !== 'NewExpression') return undefined;
  const args = ((node.arguments as { expression: unknown }[] | undefined) ?? []).map((a) => a.expression);
  const callee = node.callee as Node | undefined;
  if (node.type === 'NewExpression' && callee?.type === 'Identifier' && callee.value === 'ApplicationFailure') return args[1];
  if (callee?.type !== 'MemberExpression') return undefined;
  const object = callee.object as Node;
  const property = callee.property as Node;
  if (object.type !== 'Identifier' || object.value !== 'ApplicationFailure' || property.type !== 'Identifier') return undefined;
  switch (property.value) {
    case 'nonRetryable':
    case 'retryable':
      return args[1];
    case 'create':
      return typeProperty(args[0]);
    case 'fromError':
      return typeProperty(args[1]);
    default:
      return undefined;
  }
}

/** The value of a `failureType: ...` property (the option of activities/registry.ts), when `node` is one. */
function failureTypeOption(node: Node): unknown {
  const key = node.key as Node | undefined;
  return node.type === 'KeyValueProperty' && key?.value === 'failureType' ? node.value : undefined;
}

/**
 * Where `source` writes a failure type as a string: an ApplicationFailure's type argument, or a
 * `failureType` option handed to a helper that makes one, that is a literal.
 */
export function literalFailureTypes(source: string, file = ''): { line: number; value: string }[] {
  const bytes = Buffer.from(source);
  // swc spans are 1-based byte offsets into the source.
  const lineAt = (offset: number) => bytes.subarray(0, offset - 1).toString().split('\n').length;
  const found: { line: number; value: string }[] = [];
  const visit = (node: unknown) => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) return node.forEach(visit);
    const n = node as Node;
    const arg = failureTypeArgument(n) ?? failureTypeOption(n);
    const value = literal(arg);
    if (value !== undefined) found.push({ line: lineAt((arg as Node).span!.start), value });
    for (const [k, v] of Object.entries(n)) if (k !== 'span') visit(v);
  };
  visit(parseSync(source, { syntax: 'typescript', tsx: file.endsWith('.tsx') }).body);
  return found;
}

function* sources(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') yield* sources(path);
    } else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')) yield path;
  }
}

describe('failure types', () => {
  it('every failure type comes from FAILURE, never a string literal', () => {
    const literals: string[] = [];
    for (const folder of FOLDERS) {
      for (const file of sources(join(ROOT, folder))) {
        const rel = relative(ROOT, file);
        for (const f of literalFailureTypes(readFileSync(file, 'utf8'), rel)) literals.push(`${rel}:${f.line} '${f.value}'`);
      }
    }
    expect(literals).toEqual([]);
  });

  it("FAILURE's values are unique", () => {
    const values = Object.values(FAILURE);
    const repeated = values.filter((v, i) => values.indexOf(v) !== i);
    expect(repeated).toEqual([]);
  });

  it('the check catches literals in every call form, across lines, and leaves FAILURE and other strings alone', () => {
    const source = [
      "throw ApplicationFailure.nonRetryable('bad', 'A');",
      'throw ApplicationFailure.retryable(',
      '  `bad`,',
      '  `B`,',
      ');',
      'throw ApplicationFailure.create({',
      "  message: 'bad',",
      "  type: 'C',",
      '});',
      "throw ApplicationFailure.fromError(err, { type: 'D' as const });",
      "throw new ApplicationFailure('bad', 'E');",
      "createRegistry(drivers, (d) => d.kind, { noun: 'x', failureType: 'F' });",
      'throw ApplicationFailure.nonRetryable(`${x}`, FAILURE.drift);',
      "throw ApplicationFailure.create({ message: 'm', type: `${KUBE_FAILURE_PREFIX}${status}` });",
      "const service = { type: 'ClusterIP', message: 'Drift happened' };",
    ].join('\n');
    expect(literalFailureTypes(source, 'activities/x.ts')).toEqual([
      { line: 1, value: 'A' },
      { line: 4, value: 'B' },
      { line: 8, value: 'C' },
      { line: 10, value: 'D' },
      { line: 11, value: 'E' },
      { line: 12, value: 'F' },
    ]);
  });
});
