import { approveUpdate } from '../../workflows/definitions';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { targetTraits } from '../../domain/targets';
import { FAILURE } from '../../domain/vocabulary';
import { testPlan } from '../support/spec';
import { auditDataOf, auditOf, regionOf } from '../support/status';
import { everyRegion, expectFleet, expectRejected } from './assertions';
import { startTimeSkipping } from './harness';
import { withRollout } from './support';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startTimeSkipping();
});
afterAll(async () => {
  await env?.teardown();
});

describe('rolloutWorkflow on the time-skipping server', () => {
  it('promotes every region across three waves, in wave order, and bakes for hours in seconds', async () => {
    const plan = testPlan({ bake: '2h' });
    const fleet = await withRollout(env, plan, async (run) => {
      const { status, failure } = await run.end();
      expect(failure).toBeUndefined();
      expect(auditOf(status, 'promoted')).toHaveLength(5);
      expect(status.phase).toBe('Succeeded');
      expect(status.regions.map((r) => [r.name, r.phase, r.weight])).toEqual(
        Object.keys(plan.regions).map((n) => [n, 'Promoted', 100]),
      );
      const promoted = auditOf(status, 'region-promoted').map((a) => a.region);
      expect(promoted.indexOf('eu-west-1')).toBe(0);
      expect(new Set(promoted.slice(1, 3))).toEqual(new Set(['us-east-1', 'eu-central-1']));
      expect(promoted.slice(3)).toEqual(['ap-south-1', 'ap-northeast-1']);
      expect(auditDataOf(status, 'set-weight', 'eu-west-1').map((d) => d.weight)).toEqual([10, 25, 50]);
      expect(auditOf(status, 'analysis-passed', 'eu-west-1')).toHaveLength(2);
      expect(regionOf(status, 'eu-west-1').snapshot?.image).toBe(targetTraits(plan.regions['eu-west-1']!.target).initial!.image);
    });
    expectFleet(fleet, plan, everyRegion(plan, 'new'));
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
      expect(run.fleet.region(plan.service, 'eu-west-1')!.weight).toBe(10);

      await expectRejected(run.handle.executeUpdate(approveUpdate, { args: [{ region: 'eu-west-1', by: 'mallory' }] }), /"mallory" may not approve gate "go-live" in eu-west-1/);
      await expectRejected(run.handle.executeUpdate(approveUpdate, { args: [{ region: 'us-east-1', by: 'alice' }] }), /region "us-east-1" is not waiting for approval/);
      await expectRejected(run.handle.executeUpdate(approveUpdate, { args: [{ region: 'eu-wset-1', by: 'alice' }] }), /unknown region "eu-wset-1"/);
      const ok = await run.handle.executeUpdate(approveUpdate, { args: [{ region: 'eu-west-1', by: 'alice', comment: 'dashboards look fine' }] });
      expect(ok.accepted).toBe(true);

      const { status } = await run.end();
      expect(status.phase).toBe('Succeeded');
      expect(auditOf(status, 'approve')).toMatchObject([{ actor: 'alice', region: 'eu-west-1', reason: 'dashboards look fine', data: { gate: 'go-live' } }]);
      expect(auditOf(status, 'approved')).toMatchObject([{ actor: 'alice', region: 'eu-west-1', data: { gate: 'go-live', approver: 'alice' } }]);
    });
    expectFleet(fleet, plan, everyRegion(plan, 'new'));
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
      expect(failure?.cause).toMatchObject({ type: FAILURE.rolledBack });
      expect(status.phase).toBe('RolledBack');
      expect(auditOf(status, 'approval-timeout')).toMatchObject([{ region: 'us-east-1', data: { gate: 'step-2', timeoutMs: 4 * 3_600_000, onTimeout: 'abort' } }]);
      expect(auditOf(status, 'region-failed')).toMatchObject([{ region: 'us-east-1', data: { failure: FAILURE.approvalTimedOut } }]);
      expect(regionOf(status, 'eu-central-1').phase).toBe('Cancelled');
    });
    expectFleet(fleet, plan, { 'eu-west-1': 'old', 'us-east-1': 'old' });
  });

  it('lets an approval time out and proceed with onTimeout: proceed', async () => {
    const plan = testPlan({
      waves: [{ name: 'only', regions: ['eu-west-1', 'us-east-1', 'eu-central-1', 'ap-south-1', 'ap-northeast-1'] }],
      steps: [{ kind: 'setWeight', weight: 50 }, { kind: 'approval', timeout: '30m', onTimeout: 'proceed' }],
    });
    const fleet = await withRollout(env, plan, async (run) => {
      const { status } = await run.end();
      expect(status.phase).toBe('Succeeded');
      const timedOut = auditOf(status, 'approval-timeout');
      expect(timedOut.map((a) => a.region).sort()).toEqual(Object.keys(plan.regions).sort());
      expect(timedOut.map((a) => a.data)).toEqual(timedOut.map(() => ({ gate: 'step-2', timeoutMs: 30 * 60_000, onTimeout: 'proceed' })));
    });
    expectFleet(fleet, plan, everyRegion(plan, 'new'));
  });

  it('holds a wave until its region\'s deployment window opens, on a durable timer', async () => {
    const now = new Date(await env.currentTimeMs());
    const opens = new Date(now.getTime() + 3 * 3_600_000);
    const hhmm = (d: Date) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
    const closes = new Date(opens.getTime() + 2 * 3_600_000);
    const plan = testPlan({}, { region: (name) => (name === 'us-east-1' ? { windows: [{ timezone: 'UTC', start: hhmm(opens), end: hhmm(closes) }] } : {}) });
    const fleet = await withRollout(env, plan, async (run) => {
      const waiting = await run.until((s) => s.regions.some((r) => r.phase === 'WaitingForWindow'), 'the window wait');
      expect(waiting.regions.filter((r) => r.phase === 'WaitingForWindow').map((r) => r.name)).toEqual(['us-east-1']);
      expect(run.fleet.journal(plan.service, 'us-east-1')).toEqual([]);
      const { status } = await run.end();
      expect(status.phase).toBe('Succeeded');
      const snapshots = auditOf(status, 'snapshot', 'us-east-1');
      expect(snapshots).toHaveLength(1);
      expect(Date.parse(snapshots[0]!.at)).toBeGreaterThanOrEqual(opens.getTime() - 60_000);
      expect(auditOf(status, 'window-wait').map((a) => a.region)).toEqual(['us-east-1']);
    });
    expectFleet(fleet, plan, everyRegion(plan, 'new'));
  });
});
