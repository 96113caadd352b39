import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compilePlan } from '../../domain/plan';
import { rolloutSpec } from '../../domain/spec';
import { migrationChecksum } from '../../domain/stateful';
import { formatProblem, validateSpec } from '../../domain/validate';
import { renderStatus } from '../../cli/render';
import type { RolloutStatus } from '../../domain/status';
import { loadSpec } from '../../client/spec-file';
import { specInput, wavePerRegion } from '../support/spec';
import { tempDir } from '../support/temp-dir';

const DATABASES: Record<string, string> = { 'eu-west-1': 'orders-eu', 'us-east-1': 'orders-us' };

const base = (): any =>
  specInput(
    {
      service: 'orders',
      image: 'shop/orders:2.4.0',
      steps: [{ kind: 'setWeight', weight: 10 }],
      metrics: undefined,
      bake: undefined,
      simulation: undefined,
      migrations: [
        { id: '001-add-discount', phase: 'expand', up: 'ALTER TABLE orders ADD COLUMN discount numeric', down: 'ALTER TABLE orders DROP COLUMN discount' },
        { id: '002-drop-note', phase: 'contract', up: 'ALTER TABLE orders DROP COLUMN note', down: 'ALTER TABLE orders ADD COLUMN note text' },
      ],
      database: { lockTimeout: '3s' },
      reconciliations: [{ name: 'v2-format', find: 'SELECT id AS key FROM orders', fix: 'UPDATE orders SET f = 1 WHERE id = ANY($1)', verify: 'SELECT 0' }],
    },
    { waves: wavePerRegion(Object.keys(DATABASES)), region: (name) => ({ target: { kind: 'simulated' }, database: DATABASES[name] }) },
  );

const problems = (input: unknown) => {
  const r = validateSpec(input);
  return r.ok ? [] : r.problems.map(formatProblem);
};

describe('stateful spec', () => {
  it('compiles migrations, settings, recipes and each region database into the plan', () => {
    const plan = compilePlan(rolloutSpec.parse(base()));
    expect(plan.migrations!.map((m) => [m.id, m.phase, m.transactional])).toEqual([
      ['001-add-discount', 'expand', true],
      ['002-drop-note', 'contract', true],
    ]);
    expect(plan.database).toEqual({ lockTimeout: 3_000, statementTimeout: 300_000 });
    expect(plan.reconciliations![0]!.batchSize).toBe(1000);
    expect(plan.regions['us-east-1']!.database).toBe('orders-us');
  });

  it('leaves a stateless plan exactly as before', () => {
    const { migrations, database, reconciliations, ...rest } = base();
    rest.regions = rest.regions.map(({ database: _, ...r }: any) => r);
    const plan = compilePlan(rolloutSpec.parse(rest));
    expect(Object.keys(plan)).not.toContain('migrations');
    expect(Object.keys(plan)).not.toContain('reconciliations');
    expect(Object.keys(plan.regions['eu-west-1']!)).not.toContain('database');
  });

  it('reports every stateful problem at once, with its path', () => {
    const spec = base();
    spec.migrations.push({ ...spec.migrations[0], phase: 'contract' });
    spec.reconciliations.push({ ...spec.reconciliations[0] });
    delete spec.regions[1].database;
    spec.regions[0].database = 'postgres://user:secret@db/orders';
    expect(problems(spec)).toEqual([
      'regions[0].database: must be letters, digits, "_", "-" or "." (a name, not a URL), got the text "postgres://user:secret@db/orders"',
      'regions[1]: region "us-east-1" has no database, but the rollout has migrations and reconciliations; add database: <name> (the worker resolves it from MERIDIAN_DATABASE_<NAME>)',
      'migrations[2].id: duplicate migration id "001-add-discount" (also migrations[0])',
      'reconciliations[1].name: duplicate reconciliation name "v2-format" (also reconciliations[0])',
    ]);
  });

  it('accepts a sql metric provider and names it among the known ones', () => {
    const spec = base();
    spec.metrics = [{ name: 'unreadable', provider: { type: 'sql', database: 'orders-eu', query: `SELECT count(*) FROM orders WHERE region = '{{region}}'` }, max: 0 }];
    expect(problems(spec)).toEqual([]);
    spec.metrics[0].provider.type = 'mysql';
    expect(problems(spec)).toEqual(['metrics[0].provider.type: unknown provider type "mysql" (known: simulated, prometheus, web, sql)']);
  });
});

describe('migration files', () => {
  const write = (files: Record<string, string>) => {
    const dir = tempDir('meridian-spec-');
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(join(dir, name, '..'), { recursive: true });
      writeFileSync(join(dir, name), text);
    }
    return dir;
  };

  it('reads { file } sources relative to the spec, so the plan carries the reviewed text', async () => {
    const up = 'ALTER TABLE orders ADD COLUMN discount numeric;\n';
    const dir = write({
      'sql/001.up.sql': up,
      'sql/001.down.sql': 'ALTER TABLE orders DROP COLUMN discount;\n',
      'spec.json': JSON.stringify({ ...base(), migrations: [{ id: '001', phase: 'expand', up: { file: 'sql/001.up.sql' }, down: { file: 'sql/001.down.sql' } }] }),
    });
    const result = await loadSpec(join(dir, 'spec.json'));
    expect(result.ok && result.plan.migrations![0]).toMatchObject({ id: '001', up, down: 'ALTER TABLE orders DROP COLUMN discount;\n' });
    expect(result.ok && migrationChecksum(result.plan.migrations![0]!.up as string)).toBe(migrationChecksum(up));
  });

  it('a missing file is a problem naming the path, alongside the other problems', async () => {
    const dir = write({
      'spec.yaml': `${JSON.stringify({ ...base(), version: '', migrations: [{ id: '001', phase: 'expand', up: { file: 'sql/missing.sql' }, down: 'SELECT 1' }] })}\n`,
    });
    const result = await loadSpec(join(dir, 'spec.yaml'));
    expect(result.ok).toBe(false);
    const messages = result.ok ? [] : result.problems.map(formatProblem);
    expect(messages).toContain(`migrations[0].up.file: cannot read ${join(dir, 'sql/missing.sql')}: file not found (paths are relative to the spec file)`);
    expect(messages).toContain('version: must not be empty');
  });
});

describe('status of a stateful rollout', () => {
  it('shows the migrations each region ran and the reconciliation counts', () => {
    const status: RolloutStatus = {
      id: 'rollout/orders/2.4.0',
      service: 'orders',
      version: '2.4.0',
      image: 'shop/orders:2.4.0',
      phase: 'RolledBack',
      failurePolicy: 'rollback-all',
      wave: { index: 0, total: 1, name: 'wave-1' },
      regions: [
        {
          name: 'eu-west-1',
          wave: 0,
          phase: 'RolledBack',
          weight: 0,
          verdicts: [],
          migrations: [
            { id: '001', phase: 'expand', action: 'applied', at: '2026-01-01T00:00:00Z' },
            { id: '000', phase: 'expand', action: 'skipped', at: '2026-01-01T00:00:00Z' },
          ],
        },
      ],
      pendingApprovals: [],
      compensation: [
        { undo: { kind: 'reconcileData', region: 'eu-west-1', key: 'k1', database: 'orders-eu', recipe: 'v2-format', windowStart: 't' }, wave: 0, outcome: 'done', attempts: 1, counts: { found: 12, fixed: 12, remaining: 0 } },
        { undo: { kind: 'revertMigrations', region: 'eu-west-1', key: 'k2', database: 'orders-eu', migrationIds: ['001'] }, wave: 0, outcome: 'done', attempts: 1 },
      ],
      baselines: {},
      audit: [],
      startedAt: '2026-01-01T00:00:00Z',
      endedAt: '2026-01-01T00:01:00Z',
    };
    const text = renderStatus(status, Date.parse('2026-01-01T00:01:00Z'));
    expect(text).toContain('Database:\n  eu-west-1  migrations: expand 001, 000 (skipped)');
    expect(text).toContain('  eu-west-1  reconcile v2-format: found 12, fixed 12, 0 remaining');
    expect(text).toContain('  eu-west-1  revert 001: done, schema matches its fingerprint');
  });
});
