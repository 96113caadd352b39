import { approveUpdate } from '../../workflows/definitions';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTimeSkipping } from './harness';
import { testPlan } from './plans';
import { auditActions, expectRegions, expectRejected } from './assertions';
import { withRollout } from './support';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startTimeSkipping();
});
afterAll(async () => {
  await env?.teardown();
});

const ALL_NEW = { 'eu-west-1': 'new', 'us-east-1': 'new', 'eu-central-1': 'new', 'ap-south-1': 'new', 'ap-northeast-1': 'new' } as const;

describe('rolloutWorkflow on the time-skipping server', () => {
  it('promotes every region across three waves, in wave order, and bakes for hours in seconds', async () => {
    const plan = testPlan({ bake: '2h' });
    const fleet = await withRollout(env, plan, async (run) => {
      const { status, failure } = await run.end();
      expect(failure).toBeUndefined();
      expect(auditActions(status, 'promoted')).toHaveLength(5);
      expect(status.phase).toBe('Succeeded');
      expect(status.regions.map((r) => [r.name, r.phase, r.weight])).toEqual(
        Object.keys(ALL_NEW).map((n) => [n, 'Promoted', 100]),
      );
      const promoted = auditActions(status, 'region-promoted').map((a) => a.region);
      expect(promoted.indexOf('eu-west-1')).toBe(0);
      expect(new Set(promoted.slice(1, 3))).toEqual(new Set(['us-east-1', 'eu-central-1']));
      expect(promoted.slice(3)).toEqual(['ap-south-1', 'ap-northeast-1']);
      const weights = auditActions(status, 'set-weight').filter((a) => a.region === 'eu-west-1').map((a) => a.reason);
      expect(weights).toEqual(['canary weight set to 10%', 'canary weight set to 25%', 'canary weight set to 50%']);
      const passed = auditActions(status, 'analysis-passed').filter((a) => a.region === 'eu-west-1');
      expect(passed).toHaveLength(2);
      const target = plan.regions['eu-west-1']!.target;
      expect(status.regions[0]!.snapshot?.image).toBe(target.kind === 'simulated' ? target.initial!.image : undefined);
    });
    expectRegions(fleet, plan, ALL_NEW);
  });

  it('waits at an approval gate, rejects a wrong approver, and proceeds on the right one', async () => {
    const plan = testPlan({
      waves: [
        {
          name: 'canary',
          regions: ['eu-west-1'],
          steps: [{ kind: 'setWeight', weight: 10 }, { kind: 'approval', name: 'go-live', approvers: ['alice'] }],
        },
        { name: 'rest', regions: ['us-east-1', 'eu-central-1', 'ap-south-1', 'ap-northeast-1'] },
      ],
    });
    const fleet = await withRollout(env, plan, async (run) => {
      const waiting = await run.until((s) => s.pendingApprovals.length > 0, 'the approval gate');
      expect(waiting.phase).toBe('AwaitingApproval');
      expect(waiting.pendingApprovals).toMatchObject([{ region: 'eu-west-1', gate: 'go-live', approvers: ['alice'] }]);
      expect(run.fleet.region('checkout', 'eu-west-1')!.weight).toBe(10);

      await expectRejected(run.handle.executeUpdate(approveUpdate, { args: [{ region: 'eu-west-1', by: 'mallory' }] }), /"mallory" may not approve gate "go-live" in eu-west-1/);
      await expectRejected(run.handle.executeUpdate(approveUpdate, { args: [{ region: 'us-east-1', by: 'alice' }] }), /region "us-east-1" is not waiting for approval/);
      await expectRejected(run.handle.executeUpdate(approveUpdate, { args: [{ region: 'eu-wset-1', by: 'alice' }] }), /unknown region "eu-wset-1"/);
      const ok = await run.handle.executeUpdate(approveUpdate, { args: [{ region: 'eu-west-1', by: 'alice', comment: 'dashboards look fine' }] });
      expect(ok.message).toBe('approved gate "go-live" in eu-west-1');

      const { status } = await run.end();
      expect(status.phase).toBe('Succeeded');
      expect(auditActions(status, 'approve')).toMatchObject([{ actor: 'alice', region: 'eu-west-1', reason: 'dashboards look fine' }]);
    });
    expectRegions(fleet, plan, ALL_NEW);
  });

  it('aborts and rolls back when an approval times out with onTimeout: abort', async () => {
    const plan = testPlan({
      waves: [
        { name: 'canary', regions: ['eu-west-1'] },
        {
          name: 'gated',
          regions: ['us-east-1'],
          steps: [{ kind: 'setWeight', weight: 10 }, { kind: 'approval', timeout: '4h', onTimeout: 'abort' }],
        },
        { name: 'rest', regions: ['eu-central-1', 'ap-south-1', 'ap-northeast-1'] },
      ],
    });
    const fleet = await withRollout(env, plan, async (run) => {
      const { status, failure } = await run.end();
      expect(failure?.cause?.message).toMatch(/approval gate "step-2" in us-east-1 timed out after 4h/);
      expect(status.phase).toBe('RolledBack');
      expect(auditActions(status, 'approval-timeout')).toHaveLength(1);
      expect(status.regions.find((r) => r.name === 'eu-central-1')!.phase).toBe('Cancelled');
    });
    expectRegions(fleet, plan, {
      'eu-west-1': 'old',
      'us-east-1': 'old',
      'eu-central-1': 'untouched',
      'ap-south-1': 'untouched',
      'ap-northeast-1': 'untouched',
    });
  });

  it('lets an approval time out and proceed with onTimeout: proceed', async () => {
    const plan = testPlan({
      waves: [{ name: 'only', regions: ['eu-west-1', 'us-east-1', 'eu-central-1', 'ap-south-1', 'ap-northeast-1'] }],
      steps: [{ kind: 'setWeight', weight: 50 }, { kind: 'approval', timeout: '30m', onTimeout: 'proceed' }],
    });
    const fleet = await withRollout(env, plan, async (run) => {
      const { status } = await run.end();
      expect(status.phase).toBe('Succeeded');
      expect(auditActions(status, 'approval-timeout')).toHaveLength(5);
    });
    expectRegions(fleet, plan, ALL_NEW);
  });

  it('holds a wave until its region\'s deployment window opens, on a durable timer', async () => {
    const now = new Date(await env.currentTimeMs());
    const opens = new Date(now.getTime() + 3 * 3_600_000);
    const hhmm = (d: Date) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
    const closes = new Date(opens.getTime() + 2 * 3_600_000);
    const spec = testPlan();
    const plan = testPlan({
      bake: '1s',
      regions: Object.values(spec.regions).map((r) => ({
        name: r.name,
        target: { kind: 'simulated' as const, initial: r.target.kind === 'simulated' ? r.target.initial : undefined },
        windows: r.name === 'us-east-1' ? [{ timezone: 'UTC', start: hhmm(opens), end: hhmm(closes) }] : undefined,
      })),
    });
    const fleet = await withRollout(env, plan, async (run) => {
      const waiting = await run.until((s) => s.regions.some((r) => r.phase === 'WaitingForWindow'), 'the window wait');
      expect(waiting.regions.find((r) => r.phase === 'WaitingForWindow')!.name).toBe('us-east-1');
      expect(run.fleet.journal('checkout', 'us-east-1')).toEqual([]);
      const { status } = await run.end();
      expect(status.phase).toBe('Succeeded');
      const snapshotAt = auditActions(status, 'snapshot').find((a) => a.region === 'us-east-1') as { at?: string } | undefined;
      const entry = status.audit.find((a) => a.action === 'snapshot' && a.region === 'us-east-1')!;
      expect(snapshotAt).toBeDefined();
      expect(Date.parse(entry.at)).toBeGreaterThanOrEqual(opens.getTime() - 60_000);
      expect(auditActions(status, 'window-wait').map((a) => a.region)).toEqual(['us-east-1']);
    });
    expectRegions(fleet, plan, ALL_NEW);
  });
});
