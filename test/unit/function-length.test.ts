import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseSync } from '@swc/core';
import { describe, expect, it } from 'vitest';

/**
 * DESIGN.md, habit 6: the orchestrator reads as a short sequence of named stages, and no function
 * in workflows/ is longer than about 60 lines (no scheduler function like Flagger's advanceCanary).
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
const LIMIT = 60;
const FUNCTION_TYPES = new Set(['FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression', 'ClassMethod', 'PrivateMethod', 'Constructor']);

interface Span {
  start: number;
  end: number;
}

/** Every function of `source` with its first line and length in lines. */
export function functionLengths(source: string): { line: number; lines: number; name: string }[] {
  const bytes = Buffer.from(source);
  // swc spans are 1-based byte offsets into the source.
  const lineAt = (offset: number) => bytes.subarray(0, offset - 1).toString().split('\n').length;
  const found: { line: number; lines: number; name: string }[] = [];
  const visit = (node: unknown, name: string) => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) return node.forEach((n) => visit(n, name));
    const n = node as Record<string, unknown> & { type?: string; span?: Span };
    const named = (n.identifier as { value?: string })?.value ?? (n.key as { value?: string })?.value ?? (n.id as { value?: string })?.value ?? name;
    if (n.type && FUNCTION_TYPES.has(n.type) && n.span) {
      const line = lineAt(n.span.start);
      found.push({ line, lines: lineAt(n.span.end) - line + 1, name: named });
    }
    for (const [k, v] of Object.entries(n)) if (k !== 'span') visit(v, named);
  };
  visit(parseSync(source, { syntax: 'typescript' }).body, '<anonymous>');
  return found;
}

function* sources(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (entry.name.endsWith('.ts')) yield path;
  }
}

describe('function length in workflows/', () => {
  it(`no workflow function is longer than ${LIMIT} lines`, () => {
    const long: string[] = [];
    for (const file of sources(join(ROOT, 'workflows'))) {
      for (const f of functionLengths(readFileSync(file, 'utf8'))) {
        if (f.lines > LIMIT) long.push(`${relative(ROOT, file)}:${f.line} ${f.name} has ${f.lines} lines`);
      }
    }
    expect(long).toEqual([]);
  });

  it('measures functions, methods and arrows from their first line to their last', () => {
    const body = Array.from({ length: 70 }, (_, i) => `  x += ${i};`).join('\n');
    const source = `// é\nclass A {\n  m(): void {\n    let x = 0;\n${body}\n  }\n}\nconst f = () => 1;\nfunction g() {\n  return 2;\n}\n`;
    expect(functionLengths(source)).toEqual([
      { line: 3, lines: 73, name: 'm' },
      { line: 77, lines: 1, name: 'f' },
      { line: 78, lines: 3, name: 'g' },
    ]);
  });
});
