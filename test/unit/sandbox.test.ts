import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The wall around the workflow sandbox (DESIGN.md, habit 1), enforced like a lint rule: workflow
 * code reaches only @temporalio/workflow, @temporalio/common, workflows/ and domain/ at run
 * time, transitively; activities, Node built-ins and other packages only through `import type`.
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
/** The pure Ed25519 and SHA-2 the update validator verifies signed approvals with. */
const ALLOWED_PACKAGES = new Set(['@temporalio/workflow', '@temporalio/common', '@noble/curves/ed25519.js', '@noble/hashes/sha2.js']);
const IMPORT = /^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm;

function runtimeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(IMPORT)].filter((m) => !m[2]).map((m) => m[3]!);
}

function violations(): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  const queue = readdirSync(join(ROOT, 'workflows'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(ROOT, 'workflows', f));
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of runtimeImports(file)) {
      const where = relative(ROOT, file);
      if (!spec.startsWith('.')) {
        if (!ALLOWED_PACKAGES.has(spec)) problems.push(`${where} imports "${spec}"`);
        continue;
      }
      const target = resolve(dirname(file), spec) + '.ts';
      const rel = relative(ROOT, target);
      if (!rel.startsWith('workflows/') && !rel.startsWith('domain/')) {
        problems.push(`${where} imports ${rel}; use \`import type\` for activities`);
        continue;
      }
      queue.push(target);
    }
  }
  return problems;
}

describe('workflow sandbox', () => {
  it('workflow code and everything it imports at run time stay inside the sandbox', () => {
    expect(violations()).toEqual([]);
  });

  it('the check catches an import from outside', () => {
    const text = "import { z } from 'zod';\nimport type { X } from '../activities/types';\nimport { a } from './b';";
    expect([...text.matchAll(IMPORT)].filter((m) => !m[2]).map((m) => m[3])).toEqual(['zod', './b']);
  });
});
