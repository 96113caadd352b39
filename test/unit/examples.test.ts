import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadSpec, validateSpecText } from '../../client/spec-file';
import type { RolloutPlan } from '../../domain/plan';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLES = readdirSync(join(ROOT, 'examples'))
  .filter((f) => f.endsWith('.yaml'))
  .sort();

/** `meridian validate`, run as a user runs it: the bin script, from the repository root. */
function validate(file: string) {
  const run = spawnSync(process.execPath, ['bin/meridian.js', 'validate', file], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

async function planOf(file: string): Promise<RolloutPlan> {
  const loaded = await loadSpec(join(ROOT, file));
  if (!loaded.ok) throw new Error(`${file}: ${JSON.stringify(loaded.problems)}`);
  return loaded.plan;
}

const regions = (plan: RolloutPlan) => Object.values(plan.regions);
const stepKinds = (plan: RolloutPlan) => new Set(regions(plan).flatMap((r) => r.steps.map((s) => s.kind)));

/** What each example is there to show; an example that stops showing it fails here. */
const SHOWS: Record<string, (plan: RolloutPlan) => void> = {
  'release.yaml': (plan) => {
    expect(plan.release!.services.map((s) => [s.name, s.dependsOn])).toEqual([
      ['orders', []],
      ['checkout', [{ service: 'orders', until: 'promoted' }]],
    ]);
    const provided = plan.release!.services[0]!.contracts.provides[0]!;
    expect(Object.keys(provided.files)).toEqual(['orders/v1/orders.proto']);
    expect(provided.files['orders/v1/orders.proto']).toContain('string currency = 3;');
    expect(provided.running!.files['orders/v1/orders.proto']).not.toContain('currency');
    expect(plan.release!.services[1]!.plan.simulation!.faults).toEqual(['us-east-1: checkout_errors 0.09 when weight >= 50']);
    expect(plan.release!.services[0]!.plan.metrics.checkout_errors).toMatchObject({ service: 'checkout', serviceVersion: '5.2.0' });
    expect(plan.release!.services[1]!.plan.metrics.orders_errors).toMatchObject({ service: 'orders', serviceVersion: '3.1.0' });
  },
  'demo.yaml': (plan) => {
    expect(plan.waves.map((w) => w.name)).toEqual(['canary', 'early', 'rest']);
    expect(regions(plan).every((r) => r.target.kind === 'simulated')).toBe(true);
    expect(plan.simulation?.faults).toContain('us-east-1: error_rate 0.08 when weight >= 25');
  },
  'edges.yaml': (plan) => {
    expect(plan.waves.map((w) => w.regions)).toEqual([['eu-west-1'], ['us-east-1', 'eu-central-1'], ['us-west-2']]);
    expect(plan.edges!.residency).toEqual({ 'eu-west-1': 'eu', 'eu-central-1': 'eu', 'us-east-1': 'us', 'us-west-2': 'us' });
    expect(plan.edges!.edges.map((e) => [e.name, e.provider.type, e.residency, e.routes.map((r) => [r.region, r.share])])).toEqual([
      ['eu', 'envoy', 'eu', [['eu-west-1', 50], ['eu-central-1', 50]]],
      ['us', 'envoy', 'us', [['us-east-1', 50], ['us-west-2', 50]]],
    ]);
    // The healthy us-west-2 alone carries minHealthyShare, so us-east-1's drain goes ahead instead of holding.
    expect(plan.edges!.edges.find((e) => e.name === 'us')!.minHealthyShare).toBe(50);
    expect(plan.edges!.steering.policies.map((p) => p.name)).toEqual(['mirror-at-most-half']);
    expect(plan.regions['us-east-1']!.steps[0]).toMatchObject({ kind: 'mirror', percent: 50 });
    expect(plan.edges!.edges.flatMap((e) => e.routes.filter((r) => r.canaryAddress).map((r) => r.region))).toEqual(['us-east-1']);
    expect(plan.simulation?.faults).toContain('us-east-1: error_rate 0.08 when weight >= 25');
  },
  'flags.yaml': (plan) => {
    expect(regions(plan).every((r) => r.target.kind === 'simulated')).toBe(true);
    expect(plan.flags!.flags).toEqual([{ key: 'checkout-new-path', variants: { on: true, off: false }, killSwitch: 'off', defaultVariant: 'off', safeWhenOff: true }]);
    expect(plan.flags!.onFailure).toBe('rollback');
    expect(plan.failurePolicy).toBe('rollback-all');
    // The rollout-wide flagd provider, one file per region, and eu-west-1's cap.
    expect(plan.flags!.regions).toEqual({
      'eu-west-1': { provider: { type: 'flagd', file: 'checkout-eu-west-1' }, maxFraction: 20 },
      'us-east-1': { provider: { type: 'flagd', file: 'checkout-us-east-1' } },
      'ap-south-1': { provider: { type: 'flagd', file: 'checkout-ap-south-1' } },
    });
    for (const r of regions(plan)) {
      const kinds = r.steps.map((s) => s.kind);
      // A flag step right after a traffic step, and one right before another.
      expect(kinds.slice(0, 2), r.name).toEqual(['setWeight', 'flag']);
      expect(kinds[kinds.lastIndexOf('flag') + 1], r.name).toBe('setWeight');
      // The first analysis comes after the first flag step, so the fault is behind the flag.
      expect(kinds.indexOf('flag'), r.name).toBeLessThan(kinds.indexOf('analysis'));
    }
    expect(plan.simulation?.faults).toEqual(['us-east-1: error_rate 0.5 always']);
  },
  'kubernetes.yaml': (plan) => {
    const strategies = regions(plan).map((r) => (r.target.kind === 'kubernetes' ? r.target.traffic.strategy : r.target.kind));
    expect(new Set(strategies)).toEqual(new Set(['replicas', 'gatewayAPI']));
    // The regional mirror pins the rollout's digest, as preflight demands.
    const digest = plan.image.split('@')[1];
    for (const r of regions(plan)) if (r.target.kind === 'kubernetes' && r.target.image) expect(r.target.image.endsWith(`@${digest}`)).toBe(true);
  },
  'prometheus-analysis.yaml': (plan) => {
    const metrics = Object.values(plan.metrics);
    expect(metrics.every((m) => m.provider.type === 'prometheus')).toBe(true);
    expect(metrics.filter((m) => m.kind === 'compare').map((m) => m.name)).toEqual(['latency_vs_stable']);
    expect(metrics.some((m) => typeof m.max === 'object')).toBe(true); // a baseline-relative bound
    const analysed = new Set(regions(plan).flatMap((r) => r.steps.flatMap((s) => (s.kind === 'analysis' ? s.metrics : []))));
    expect([...analysed].sort()).toEqual(Object.keys(plan.metrics).sort());
  },
  'stateful-postgres.yaml': (plan) => {
    expect(plan.migrations?.map((m) => [m.id, m.phase])).toEqual([
      ['001-add-discount', 'expand'],
      ['002-orders-customer-created-idx', 'expand'],
      ['003-drop-legacy-note', 'contract'],
    ]);
    // File sources are read at load time: the plan carries the reviewed SQL, not a path.
    const contract = plan.migrations!.find((m) => m.phase === 'contract')!;
    expect(contract.up).toBe(readFileSync(join(ROOT, 'examples/sql/003-drop-legacy-note.up.sql'), 'utf8'));
    expect(contract.down).toBe(readFileSync(join(ROOT, 'examples/sql/003-drop-legacy-note.down.sql'), 'utf8'));
    expect(plan.reconciliations?.map((r) => r.name)).toEqual(['orders-v2-to-v1']);
    expect(regions(plan).every((r) => r.database)).toBe(true);
  },
  'approvals-windows.yaml': (plan) => {
    expect(stepKinds(plan)).toContain('approval');
    expect(regions(plan).every((r) => r.windows.length > 0)).toBe(true);
    const gates = regions(plan).flatMap((r) => r.steps.flatMap((s) => (s.kind === 'approval' ? [s] : [])));
    expect(new Set(gates.map((g) => g.onTimeout ?? 'none'))).toEqual(new Set(['abort', 'proceed', 'none']));
    expect(gates).toContainEqual(expect.objectContaining({ name: 'first-look', groups: ['payments-oncall'], approvals: 2 }));
    expect(plan.approval?.signedByDefault).toBe(true);
    expect(plan.approval?.approvers.map((a) => a.name)).toEqual(['alice', 'bob', 'chen', 'dana']);
  },
};

describe('examples/', () => {
  it('has an entry in this test for every example, and an example for every entry', () => {
    expect(EXAMPLES).toEqual(Object.keys(SHOWS).sort());
  });

  it.each(EXAMPLES)('meridian validate accepts examples/%s', async (name) => {
    const file = `examples/${name}`;
    const r = validate(file);
    // No warnings either: every example pins its image by digest.
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const plan = await planOf(file);
    const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
    expect(r.stdout).toBe(`${file}: valid (${count(plan.waves.length, 'wave')}, ${count(regions(plan).length, 'region')})\n`);
    SHOWS[name]!(plan);
  });

  it('every example pins its image by digest and shifts traffic in steps in every region', async () => {
    for (const name of EXAMPLES) {
      const top = await planOf(`examples/${name}`);
      for (const plan of top.release ? top.release.services.map((s) => s.plan) : [top]) {
        expect(plan.image, name).toMatch(/@sha256:[0-9a-f]{64}$/);
        for (const r of regions(plan)) expect(r.steps.some((s) => s.kind === 'setWeight'), `${name} ${r.name}`).toBe(true);
      }
    }
  });
});

describe('the README', () => {
  it('has a spec example that validates', () => {
    const blocks = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThan(0);
    for (const text of blocks) {
      const result = validateSpecText(text, join(ROOT, 'README.md'));
      expect(result.ok ? [] : result.problems).toEqual([]);
    }
  });
});

// ---------- links between the documents ----------

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to "-", repeats numbered. */
function headingAnchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of withoutCode(markdown).split('\n')) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = m[1]!
      .replace(/`/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Fenced blocks and inline code spans removed; lines kept so headings stay at line starts. */
function withoutCode(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```$/gm, (block) => block.replace(/[^\n]/g, '')).replace(/`[^`\n]*`/g, '');
}

/** Every relative link in `file` that points at no file, or at a heading its target does not have. */
function brokenLinks(file: string, markdown: string, read: (path: string) => string | undefined): string[] {
  const out: string[] = [];
  for (const [, target] of withoutCode(markdown).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target!)) continue; // http:, https:, mailto:
    const [path, anchor] = target!.split('#', 2) as [string, string | undefined];
    const full = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
    const text = read(full);
    if (text === undefined) {
      out.push(`${target}: no such file`);
      continue;
    }
    if (anchor !== undefined && full.endsWith('.md') && !headingAnchors(text).has(anchor)) out.push(`${target}: no heading #${anchor}`);
  }
  return out;
}

/** A file's text, '' for a directory, undefined when it does not exist. */
function readPath(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  return statSync(path).isDirectory() ? '' : readFileSync(path, 'utf8');
}

const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

describe('links in README.md and docs/', () => {
  it.each(DOCS)('every relative link in %s resolves', (name) => {
    const file = join(ROOT, name);
    expect(brokenLinks(file, readFileSync(file, 'utf8'), readPath)).toEqual([]);
  });

  it('README links to every page in docs/', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const page of DOCS.filter((d) => d !== 'README.md')) expect(readme, page).toContain(`](${page})`);
  });

  it('the checker finds a missing file and a missing heading, and ignores code and absolute URLs', () => {
    const file = join(ROOT, 'docs/fake.md');
    const files: Record<string, string> = { [join(ROOT, 'docs/spec.md')]: '# Rollout spec\n\n## Field by field\n' };
    const text = [
      '# Here',
      '[ok](spec.md#field-by-field) [ok](#here) [web](https://example.com/x#y)',
      '[gone](nothing.md) [no heading](spec.md#fields) [self](#nowhere)',
      '`[in code](nothing.md)`',
      '```',
      '[in a block](nothing.md)',
      '```',
    ].join('\n');
    const read = (p: string) => (p === file ? text : files[p]);
    expect(brokenLinks(file, text, read)).toEqual(['nothing.md: no such file', 'spec.md#fields: no heading #fields', '#nowhere: no heading #nowhere']);
  });

  it('anchors follow GitHub: punctuation dropped, repeated headings numbered', () => {
    expect(headingAnchors('# Stateful rollouts: migrations and data reconciliation (PostgreSQL)\n## Safety\n## Safety\n')).toEqual(
      new Set(['stateful-rollouts-migrations-and-data-reconciliation-postgresql', 'safety', 'safety-1']),
    );
  });
});
