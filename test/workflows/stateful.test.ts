import { ApplicationFailure, defaultFailureConverter, defaultPayloadConverter } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RolloutPlan } from '../../domain/plan';
import type { RolloutSpecInput } from '../../domain/spec';
import { migrationChecksum } from '../../domain/stateful';
import { FAILURE } from '../../domain/vocabulary';
import { abortUpdate, approveUpdate, regionWorkflowId, retryUpdate } from '../../workflows/definitions';
import { startPostgres, type RunningPostgres } from '../support/postgres';
import { BREACH_IN_WAVE_2, FAST_STEPS, testPlan, wavePerRegion, type StepInput } from '../support/spec';
import { fingerprint, freshDatabases, ledger, MIGRATIONS, RECIPE, sql, writeCanaryRows } from '../support/stateful';
import { auditDataOf, auditOf, regionOf } from '../support/status';
import { everyRegion, expectFleet } from './assertions';
import { startTimeSkipping } from './harness';
import { endedHow, withRollout, type RolloutRun } from './support';

let env: TestWorkflowEnvironment;
let server: RunningPostgres;

beforeAll(async () => {
  [env, server] = await Promise.all([startTimeSkipping(), startPostgres({ databases: [] })]);
}, 120_000);
afterAll(async () => {
  await Promise.all([env?.teardown(), server?.stop()]);
});

const REGIONS = ['eu-west-1', 'us-east-1', 'ap-south-1'];
/** The canary holds at 10% until the test approves, so the test can write the canary's rows meanwhile. */
const GATED_STEPS: StepInput[] = [{ kind: 'setWeight', weight: 10 }, { kind: 'approval', name: 'rows-written' }, ...FAST_STEPS.slice(1)];

/** One region per wave, each on its own database named after the region. */
function statefulPlan(databases: Record<string, string>, over: Partial<RolloutSpecInput> = {}, regions = REGIONS): RolloutPlan {
  return testPlan(
    { migrations: MIGRATIONS, database: { lockTimeout: '2s', statementTimeout: '1m' }, reconciliations: [RECIPE], ...over },
    { waves: wavePerRegion(regions), region: (name) => ({ database: databases[name] }) },
  );
}

/** Database names per region for one test; the worker resolves them from this process's environment. */
async function databasesFor(test: string, regions = REGIONS): Promise<{ names: Record<string, string>; urls: Record<string, string> }> {
  const names = Object.fromEntries(regions.map((r) => [r, `${test}-${r}`]));
  const byName = await freshDatabases(server, Object.values(names));
  return { names, urls: Object.fromEntries(regions.map((r) => [r, byName[names[r]!]!])) };
}

/** The failures the activities of workflow `workflowId` ended with, read back from its history. */
async function activityFailures(workflowId: string): Promise<ApplicationFailure[]> {
  const { events } = await env.client.workflow.getHandle(workflowId).fetchHistory();
  return (events ?? []).flatMap((e) => {
    const failure = e.activityTaskFailedEventAttributes?.failure;
    const err = failure ? defaultFailureConverter.failureToError(failure, defaultPayloadConverter) : undefined;
    return err instanceof ApplicationFailure ? [err] : [];
  });
}

/** Waits for the gate in `name`, writes `rows` canary rows into its database just after its canary went live, then approves. */
async function writeRowsThenApprove(run: RolloutRun, name: string, url: string, rows: number): Promise<void> {
  const s = await run.until((st) => st.pendingApprovals.some((p) => p.region === name), `${name} waiting at its gate`);
  const deployed = s.audit.find((a) => a.action === 'deploy-canary' && a.region === name)!;
  await writeCanaryRows(url, deployed.at, rows);
  await run.handle.executeUpdate(approveUpdate, { args: [{ region: name, by: 'reviewer' }] });
}

describe('stateful rollouts on the time-skipping server and a real PostgreSQL', () => {
  it('expands each region before its canary, contracts every region only after all are promoted, and keeps the ledger', async () => {
    const { names, urls } = await databasesFor('happy');
    const plan = statefulPlan(names);
    let id = '';
    await withRollout(env, plan, async (run) => {
      const { status, failure } = await run.end();
      expect(failure, failure?.cause?.message).toBeUndefined();
      expect(status.phase).toBe('Succeeded');
      id = status.id;
      const promoted = Math.max(...auditOf(status, 'region-promoted').map((a) => status.audit.indexOf(a)));
      const contract = status.audit.findIndex((a) => a.action === 'contract');
      expect(contract, 'the contract starts after the last region was promoted').toBeGreaterThan(promoted);
      for (const r of REGIONS) {
        expect(regionOf(status, r).migrations?.map((m) => `${m.phase} ${m.id} ${m.action}`), r).toEqual([
          'expand 001-add-discount applied',
          'expand 002-written-by-index applied',
          'contract 003-drop-legacy-note applied',
        ]);
      }
      expect(status.compensation).toEqual([]);
    });

    const ledgers = await Promise.all(REGIONS.map((r) => ledger(urls[r]!)));
    ledgers.forEach((rows, i) => {
      expect(rows.map((row) => [row.id, row.rollout_id, row.region, row.reverted_at]), REGIONS[i]).toEqual([
        ['001-add-discount', id, REGIONS[i], null],
        ['002-written-by-index', id, REGIONS[i], null],
        ['003-drop-legacy-note', id, REGIONS[i], null],
      ]);
    });
    const lastExpand = Math.max(...ledgers.flatMap((rows) => rows.filter((r) => !r.id.startsWith('003')).map((r) => r.applied_at.getTime())));
    for (const rows of ledgers) {
      expect(rows.find((r) => r.id === '003-drop-legacy-note')!.applied_at.getTime(), 'contract after every expand').toBeGreaterThan(lastExpand);
    }
    // Wave 3's expand came after wave 1 was promoted and baked.
    expect(ledgers[2]![0]!.applied_at.getTime()).toBeGreaterThan(ledgers[0]![1]!.applied_at.getTime());
    const columns = await sql<{ column_name: string }>(urls['ap-south-1']!, `SELECT column_name FROM information_schema.columns WHERE table_name = 'orders' ORDER BY 1`);
    expect(columns.map((c) => c.column_name)).toEqual(['created_at', 'discount', 'fix_count', 'format', 'id', 'written_by']);
  }, 120_000);

  it('a failing contract keeps the new version everywhere, asks for a human, and a retry after the fix applies it', async () => {
    const { names, urls } = await databasesFor('contract');
    // A view over legacy_note in one region makes its contract (DROP COLUMN legacy_note) fail.
    await sql(urls['us-east-1']!, 'CREATE VIEW legacy_notes AS SELECT id, legacy_note FROM orders');
    const plan = statefulPlan(names);
    const fleet = await withRollout(env, plan, async (run) => {
      const stuck = await run.until((st) => st.phase === 'NeedsAttention', 'the failed contract');
      expect(auditOf(stuck, 'contract-failed').map((a) => a.region)).toEqual(['us-east-1']);
      expect(auditOf(stuck, 'needs-attention')).toHaveLength(1);
      const contracted = (st: typeof stuck, r: string) => (regionOf(st, r).migrations ?? []).filter((m) => m.phase === 'contract').map((m) => `${m.id} ${m.action}`);
      expect(REGIONS.map((r) => [r, contracted(stuck, r)])).toEqual([
        ['eu-west-1', ['003-drop-legacy-note applied']],
        ['us-east-1', []],
        ['ap-south-1', ['003-drop-legacy-note applied']],
      ]);
      // The code is not rolled back for a contract: every region keeps the new version.
      expect(stuck.regions.map((r) => r.phase)).toEqual(['Promoted', 'Promoted', 'Promoted']);
      expect(stuck.compensation).toEqual([]);
      expectFleet(run.fleet, plan, everyRegion(plan, 'new'));

      await sql(urls['us-east-1']!, 'DROP VIEW legacy_notes');
      const retried = await run.handle.executeUpdate(retryUpdate, { args: [{ by: 'dba' }] });
      expect(retried.accepted).toBe(true);
      const { status } = await run.end();
      expect(status.phase).toBe('Succeeded');
      expect(auditOf(status, 'retry')).toMatchObject([{ actor: 'dba' }]);
      expect(contracted(status, 'us-east-1')).toEqual(['003-drop-legacy-note applied']);
    });
    expectFleet(fleet, plan, everyRegion(plan, 'new'));
    for (const r of REGIONS) {
      const rows = await ledger(urls[r]!);
      expect(rows.map((row) => row.id), r).toContain('003-drop-legacy-note');
    }
  }, 120_000);

  it('after a breach in wave 2 every touched schema is back to its fingerprint and the canary rows are reconciled once', async () => {
    const { names, urls } = await databasesFor('breach');
    const before = Object.fromEntries(await Promise.all(REGIONS.map(async (r) => [r, await fingerprint(urls[r]!)] as const)));
    // Written by 2.4.0 an hour before any canary: outside every window, so never touched.
    for (const r of REGIONS) await writeCanaryRows(urls[r]!, new Date(Date.now() - 3_600_000).toISOString(), 3);
    const plan = statefulPlan(names, { steps: GATED_STEPS, simulation: { baseline: { error_rate: 0.004 }, faults: [BREACH_IN_WAVE_2] } });
    const fleet = await withRollout(env, plan, async (run) => {
      await writeRowsThenApprove(run, 'eu-west-1', urls['eu-west-1']!, 20);
      await writeRowsThenApprove(run, 'us-east-1', urls['us-east-1']!, 30);
      const { status } = await run.end();
      expect(status.phase).toBe('RolledBack');
      expect(status.compensation.filter((c) => c.undo.region === 'us-east-1').map((c) => c.undo.kind)).toEqual([
        'restoreTraffic',
        'restoreWorkload',
        'reconcileData',
        'revertMigrations',
      ]);
      expect(status.compensation.every((c) => c.outcome === 'done')).toBe(true);
      const counts = (name: string) => status.compensation.find((c) => c.undo.region === name && c.undo.kind === 'reconcileData')!.counts;
      expect(counts('eu-west-1')).toEqual({ found: 20, fixed: 20, remaining: 0 });
      expect(counts('us-east-1')).toEqual({ found: 30, fixed: 30, remaining: 0 });
      for (const r of ['eu-west-1', 'us-east-1']) {
        const reconciled = status.compensation.find((c) => c.undo.region === r && c.undo.kind === 'reconcileData')!.undo;
        expect(reconciled).toMatchObject({ database: names[r], recipe: RECIPE.name });
      }
      const audited = auditOf(status, 'undo').filter((a) => a.data?.undo === 'reconcileData');
      expect(audited.map((a) => a.region).sort()).toEqual(['eu-west-1', 'us-east-1']);
      expect(Object.fromEntries(audited.map((a) => [a.region, a.data!.counts]))).toEqual({
        'eu-west-1': { found: 20, fixed: 20, remaining: 0 },
        'us-east-1': { found: 30, fixed: 30, remaining: 0 },
      });
      expect(regionOf(status, 'ap-south-1').migrations).toBeUndefined();
    });
    expectFleet(fleet, plan, { 'eu-west-1': 'old', 'us-east-1': 'old' });
    for (const r of REGIONS) expect((await fingerprint(urls[r]!)).hash, `${r} schema`).toBe(before[r]!.hash);
    for (const r of ['eu-west-1', 'us-east-1']) {
      const rows = await sql<{ format: string; fix_count: number; n: string }>(
        urls[r]!,
        `SELECT format, fix_count, count(*) AS n FROM orders GROUP BY 1, 2 ORDER BY 1, 2`,
      );
      expect(rows.map((x) => `${x.format} fixed ${x.fix_count}x: ${x.n}`), r).toEqual([`v1 fixed 1x: ${r === 'eu-west-1' ? 20 : 30}`, 'v2 fixed 0x: 3']);
      const ledgerRows = await ledger(urls[r]!);
      expect(ledgerRows.map((l) => [l.id, l.reverted_at !== null]), r).toEqual([
        ['001-add-discount', true],
        ['002-written-by-index', true],
      ]);
    }
    expect(await ledger(urls['ap-south-1']!).catch(() => 'no ledger')).toBe('no ledger');
  }, 120_000);

  it('a failing down ends in NeedsAttention with the SQL error and the migration; after the fix, retry ends RolledBack', async () => {
    const { names, urls } = await databasesFor('down', ['eu-west-1']);
    const url = urls['eu-west-1']!;
    const before = await fingerprint(url);
    const plan = statefulPlan(names, { steps: GATED_STEPS, reconciliations: [] }, ['eu-west-1']);
    await withRollout(env, plan, async (run) => {
      await run.until((s) => s.pendingApprovals.length > 0, 'the canary at its gate');
      // Someone builds on the new column while the canary runs: the column's down cannot drop it now.
      await sql(url, 'CREATE VIEW discounted AS SELECT id, discount FROM orders');
      await run.handle.executeUpdate(abortUpdate, { args: [{ by: 'test', reason: 'stop' }] });
      const stuck = await run.until((s) => s.phase === 'NeedsAttention', 'NeedsAttention');
      const failed = stuck.compensation.filter((c) => c.outcome === 'failed');
      expect(failed.map((c) => c.undo)).toMatchObject([{ kind: 'revertMigrations', database: 'down-eu-west-1', migrationIds: ['002-written-by-index', '001-add-discount'] }]);
      // The error names the migration, its direction and PostgreSQL's own code.
      expect(failed[0]!.error).toContain('migration "001-add-discount" (down) failed on database "down-eu-west-1": ERROR 2BP01');
      expect(auditOf(stuck, 'undo-failed').map((a) => a.region)).toEqual(['eu-west-1']);
      expect(regionOf(stuck, 'eu-west-1').phase).toBe('NeedsAttention');
      // 002 went first (newest first) and stays reverted; 001 is still applied.
      expect((await ledger(url)).map((l) => [l.id, l.reverted_at !== null])).toEqual([
        ['001-add-discount', false],
        ['002-written-by-index', true],
      ]);

      await sql(url, 'DROP VIEW discounted');
      await run.handle.executeUpdate(retryUpdate, { args: [{ by: 'test' }] });
      const { status } = await run.end();
      expect(status.phase).toBe('RolledBack');
      expect(status.compensation.every((c) => c.outcome === 'done')).toBe(true);
      expect(auditOf(status, 'retry')).toHaveLength(1);
    });
    expect((await fingerprint(url)).hash).toBe(before.hash);
  }, 120_000);

  it('a schema that does not come back ends in NeedsAttention with the difference spelled out', async () => {
    const { names, urls } = await databasesFor('drift', ['eu-west-1']);
    const url = urls['eu-west-1']!;
    const plan = statefulPlan(names, { steps: GATED_STEPS, reconciliations: [] }, ['eu-west-1']);
    await withRollout(env, plan, async (run) => {
      await run.until((s) => s.pendingApprovals.length > 0, 'the canary at its gate');
      await sql(url, 'CREATE TABLE scratch (id int)');
      await run.handle.executeUpdate(abortUpdate, { args: [{ by: 'test', reason: 'stop' }] });
      const stuck = await run.until((s) => s.phase === 'NeedsAttention', 'NeedsAttention');
      const failed = stuck.compensation.filter((c) => c.outcome === 'failed');
      expect(failed.map((c) => c.undo)).toMatchObject([{ kind: 'revertMigrations', migrationIds: ['002-written-by-index', '001-add-discount'] }]);
      expect(failed[0]!.error, 'the schema difference is spelled out').toContain('table scratch added');
      expect((await ledger(url)).map((l) => [l.id, l.reverted_at !== null])).toEqual([
        ['001-add-discount', true],
        ['002-written-by-index', true],
      ]);
      await sql(url, 'DROP TABLE scratch');
      await run.handle.executeUpdate(retryUpdate, { args: [{ by: 'test' }] });
      expect((await run.end()).status.phase).toBe('RolledBack');
    });
  }, 120_000);

  it('two rollouts migrating one database take turns on its lock', async () => {
    const [dbName] = ['shared'];
    const urls = await freshDatabases(server, [dbName], `CREATE TABLE lock_log (n bigserial PRIMARY KEY, who text NOT NULL, what text NOT NULL)`);
    const migration = (who: string, n: number) => ({
      id: `${who}-00${n}`,
      phase: 'expand' as const,
      up: `INSERT INTO lock_log (who, what) VALUES ('${who}', 'start ${n}'); SELECT pg_sleep(0.4); INSERT INTO lock_log (who, what) VALUES ('${who}', 'end ${n}')`,
      down: `SELECT 1`,
    });
    const planFor = (who: string) =>
      statefulPlan({ [`${who}-1`]: dbName }, { service: `svc-${who}`, migrations: [migration(who, 1), migration(who, 2)], reconciliations: [], steps: [{ kind: 'setWeight', weight: 10 }] }, [`${who}-1`]);
    await Promise.all(
      ['a', 'b'].map((who) =>
        withRollout(env, planFor(who), async (run) => {
          // Awaiting a result lets the test server skip time, and with two results awaited at once it
          // can skip while the other rollout's activities run, up to the execution timeout. So the test
          // follows the status instead, on the real clock, and reads the result once the rollout ended.
          await run.until((s) => s.phase !== 'Progressing' && s.phase !== 'Pending', `${who}'s end`);
          const { status, failure } = await run.end();
          expect(status.phase, endedHow(status, failure)).toBe('Succeeded');
        }),
      ),
    );
    const log = await sql<{ who: string; what: string }>(urls[dbName]!, 'SELECT who, what FROM lock_log ORDER BY n');
    expect(log).toHaveLength(8);
    const first = log[0]!.who;
    const second = first === 'a' ? 'b' : 'a';
    // Each rollout's migrations ran as one block: no statement of the other rollout in between.
    expect(log.map((l) => `${l.who} ${l.what}`)).toEqual([first, first, first, first, second, second, second, second].map((w, i) => `${w} ${['start 1', 'end 1', 'start 2', 'end 2'][i % 4]}`));
    const rows = await ledger(urls[dbName]!);
    expect(rows.map((r) => r.id).sort()).toEqual(['a-001', 'a-002', 'b-001', 'b-002']);
  }, 120_000);

  it('refuses a migration whose text changed since it was applied, naming both checksums', async () => {
    const { names, urls } = await databasesFor('changed', ['eu-west-1']);
    const url = urls['eu-west-1']!;
    const first = statefulPlan(names, { reconciliations: [], migrations: MIGRATIONS.slice(0, 1), steps: [{ kind: 'setWeight', weight: 10 }] }, ['eu-west-1']);
    await withRollout(env, first, async (run) => {
      expect((await run.end()).status.phase).toBe('Succeeded');
    });
    const afterFirst = await fingerprint(url);
    const edited = [{ ...MIGRATIONS[0]!, up: MIGRATIONS[0]!.up.replace('numeric(10,2)', 'numeric(12,2)') }];
    const second = statefulPlan(names, { version: '2.5.0', reconciliations: [], migrations: edited, steps: [{ kind: 'setWeight', weight: 10 }] }, ['eu-west-1']);
    await withRollout(env, second, async (run) => {
      const { status } = await run.end();
      expect(status.phase).toBe('RolledBack');
      const refused = auditOf(status, 'stage-error', 'eu-west-1');
      expect(refused).toMatchObject([{ data: { failure: FAILURE.regionError } }]);
      // The stage-error entry keeps the reason only; the activity's own failure, in the stage's history, has the data.
      const changed = (await activityFailures(regionWorkflowId(run.handle.workflowId, 'eu-west-1'))).filter((f) => f.type === FAILURE.migrationChanged);
      const named = { migrationId: '001-add-discount', database: 'changed-eu-west-1', ledgerChecksum: migrationChecksum(MIGRATIONS[0]!.up), specChecksum: migrationChecksum(edited[0]!.up) };
      expect(changed.map((f) => ({ nonRetryable: f.nonRetryable, details: f.details }))).toEqual([{ nonRetryable: true, details: [named] }]);
      expect(refused[0]!.reason).toContain(changed[0]!.message);
      for (const value of Object.values(named)) expect(refused[0]!.reason, 'the reason names the migration, its database and both checksums').toContain(value);
      expect(status.reason, 'the rollout says why').toContain(refused[0]!.reason);
      expect(regionOf(status, 'eu-west-1').phase).toBe('RolledBack');
      expect(auditOf(status, 'migrate')).toEqual([]);
    });
    expect((await fingerprint(url)).hash).toBe(afterFirst.hash);
    expect((await ledger(url)).map((l) => [l.id, l.reverted_at])).toEqual([['001-add-discount', null]]);
  }, 120_000);
});
