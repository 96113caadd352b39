import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layers of DESIGN.md, enforced like a lint rule: each folder imports only the folders listed
 * for it. `import type` of a higher layer is allowed where a layer names another's types
 * (workflows name their activities, the client names its workflow).
 */
const ROOT = resolve(import.meta.dirname, '..', '..');

type Rule = { runtime: string[]; types?: string[] };
const RULES: Record<string, Rule> = {
  lib: { runtime: ['lib'] },
  domain: { runtime: ['domain'] },
  activities: { runtime: ['activities', 'domain', 'lib'] },
  workflows: { runtime: ['workflows', 'domain'], types: ['activities'] },
  client: { runtime: ['client', 'workflows/definitions.ts', 'domain', 'lib'], types: ['workflows'] },
  worker: { runtime: ['worker', 'client', 'workflows', 'activities', 'domain', 'lib'] },
  cli: { runtime: ['cli', 'worker', 'client', 'workflows', 'activities', 'domain', 'lib', 'testbed', 'cluster', 'demo-service'] },
  testbed: { runtime: ['testbed', 'lib'] },
  peers: { runtime: ['peers', 'testbed', 'lib'] },
  cluster: { runtime: ['cluster', 'worker', 'workflows/definitions.ts', 'lib'] },
  'demo-service': { runtime: ['demo-service', 'lib'] },
};

const IMPORT = /^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm;

function* sources(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (/\.ts$/.test(entry.name)) yield path;
  }
}

const within = (rel: string, allowed: string) => rel === allowed || rel.startsWith(`${allowed}/`);

/** Every import of `file` (a path under ROOT) that its layer's rule does not allow. */
export function crossings(file: string, text: string): string[] {
  const layer = file.split('/')[0]!;
  const rule = RULES[layer];
  if (!rule) return [];
  const problems: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[3]!;
    if (!spec.startsWith('.')) continue;
    const target = relative(ROOT, resolve(ROOT, dirname(file), spec));
    const rel = /\.[cm]?[jt]s$/.test(target) ? target : `${target}.ts`;
    const allowed = m[2] ? [...rule.runtime, ...(rule.types ?? [])] : rule.runtime;
    if (!allowed.some((a) => within(rel, a) || within(target, a))) {
      problems.push(`${file} imports ${rel}${m[2] ? ' (type)' : ''}: ${layer}/ may import only ${allowed.join(', ')}`);
    }
  }
  return problems;
}

describe('layers', () => {
  it('every folder imports only the layers below it', () => {
    const problems: string[] = [];
    for (const layer of Object.keys(RULES)) {
      for (const file of sources(join(ROOT, layer))) {
        const rel = relative(ROOT, file);
        problems.push(...crossings(rel, readFileSync(file, 'utf8')));
      }
    }
    expect(problems).toEqual([]);
  });

  it('the check catches an import that runs up a layer, and allows a type-only one where listed', () => {
    expect(crossings('domain/plan.ts', "import { createWorker } from '../worker/index';")).toHaveLength(1);
    expect(crossings('activities/health.ts', "import { rolloutWorkflow } from '../workflows/rollout';")).toHaveLength(1);
    expect(crossings('client/rollout-client.ts', "import { rolloutWorkflow } from '../workflows/rollout';")).toHaveLength(1);
    expect(crossings('client/rollout-client.ts', "import type { rolloutWorkflow } from '../workflows/index';")).toEqual([]);
    expect(crossings('client/rollout-client.ts', "import { TASK_QUEUE } from '../workflows/definitions';")).toEqual([]);
    expect(crossings('workflows/region.ts', "import type { RolloutActivities } from '../activities/types';")).toEqual([]);
    expect(crossings('testbed/main.ts', "import { plan } from '../domain/plan';")).toHaveLength(1);
  });
});
