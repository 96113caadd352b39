import { abortSignal, abortUpdate, approveSignal, pauseUpdate, resumeUpdate, retryUpdate } from '../../workflows/definitions';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAILURE } from '../../domain/vocabulary';
import { testPlan } from '../support/spec';
import { auditOf, regionOf } from '../support/status';
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

const slowAnalysis = { kind: 'analysis' as const, metrics: ['error_rate'], interval: '100ms', sustainedFor: '1h' };

describe('operator commands on the time-skipping server', () => {
  it('abort during analysis cancels the region and rolls back what was touched', async () => {
    const plan = testPlan({
      waves: [
        { name: 'canary', regions: ['eu-west-1'] },
        { name: 'early', regions: ['us-east-1', 'eu-central-1'], steps: [{ kind: 'setWeight', weight: 20 }, slowAnalysis] },
        { name: 'rest', regions: ['ap-south-1', 'ap-northeast-1'] },
      ],
    });
    const fleet = await withRollout(env, plan, async (run) => {
      await run.until(
        (s) => s.regions.filter((r) => r.step?.kind === 'analysis' && r.wave === 1).length === 2,
        'wave 2 in analysis',
      );
      const res = await run.handle.executeUpdate(abortUpdate, { args: [{ by: 'oncall', reason: 'customer reports' }] });
      expect(res.accepted).toBe(true);
      const { status } = await run.end();
      expect(status.phase).toBe('RolledBack');
      expect(auditOf(status, 'abort')).toMatchObject([{ actor: 'oncall', data: { reason: 'customer reports' } }]);
      expect(auditOf(status, 'abort')[0]!.data?.alreadyRollingBack).toBeUndefined();
      expect(regionOf(status, 'ap-south-1').phase).toBe('Cancelled');
    });
    expectFleet(fleet, plan, { 'eu-west-1': 'old', 'us-east-1': 'old', 'eu-central-1': 'old' });
  });

  it('an abort during compensation is recorded and does not interrupt the rollback', async () => {
    const plan = testPlan({
      simulation: {
        baseline: { error_rate: 0.004 },
        faults: ['us-east-1: error_rate 0.08 when weight >= 25', 'eu-west-1: delay restore 3s'],
      },
    });
    const fleet = await withRollout(env, plan, async (run) => {
      await run.until((s) => s.phase === 'RollingBack', 'the rollback');
      const res = await run.handle.executeUpdate(abortUpdate, { args: [{ by: 'oncall', reason: 'make it stop' }] });
      expect(res.accepted).toBe(true);
      const { status } = await run.end();
      expect(status.phase).toBe('RolledBack');
      expect(status.compensation.every((c) => c.outcome === 'done')).toBe(true);
      expect(auditOf(status, 'abort')).toMatchObject([{ actor: 'oncall', data: { reason: 'make it stop', alreadyRollingBack: true } }]);
      expect(auditOf(status, 'region-failed')).toMatchObject([{ region: 'us-east-1', data: { failure: FAILURE.analysisFailed } }]);
      await expectRejected(run.handle.executeUpdate(abortUpdate, { args: [{ by: 'oncall', reason: 'again' }] }), /./);
    });
    expectFleet(fleet, plan, { 'eu-west-1': 'old', 'us-east-1': 'old', 'eu-central-1': 'old' });
  });

  it('pause holds every region at its step; resume carries on to success', async () => {
    const plan = testPlan({ steps: [{ kind: 'setWeight', weight: 10 }, { kind: 'pause', duration: '1s' }, { kind: 'setWeight', weight: 30 }, { kind: 'pause', duration: '1s' }] });
    const fleet = await withRollout(env, plan, async (run) => {
      await run.until((s) => regionOf(s, 'eu-west-1').weight === 10, 'eu-west-1 at 10%');
      await run.handle.executeUpdate(pauseUpdate, { args: [{ by: 'oncall', reason: 'freeze' }] });
      const paused = await run.until((s) => regionOf(s, 'eu-west-1').phase === 'Paused', 'eu-west-1 paused');
      expect(paused.phase).toBe('Paused');
      await expectRejected(run.handle.executeUpdate(pauseUpdate, { args: [{ by: 'oncall' }] }), /already paused/);
      await new Promise((r) => setTimeout(r, 1500));
      const still = await run.status();
      const heldAt = regionOf(paused, 'eu-west-1').weight;
      expect(regionOf(still, 'eu-west-1').weight).toBe(heldAt);
      expect(run.fleet.region(plan.service, 'eu-west-1')!.weight).toBe(heldAt);
      expect(still.regions.filter((r) => r.name !== 'eu-west-1').every((r) => r.phase === 'Pending')).toBe(true);
      await run.handle.executeUpdate(resumeUpdate, { args: [{ by: 'oncall' }] });
      const { status } = await run.end();
      expect(status.phase).toBe('Succeeded');
      expect(auditOf(status, 'pause')).toMatchObject([{ actor: 'oncall', reason: 'freeze' }]);
    });
    expectFleet(fleet, plan, everyRegion(plan, 'new'));
  });

  it('approve and abort also work as signals; a refused signal is kept in the audit trail', async () => {
    const plan = testPlan({
      waves: [
        { name: 'canary', regions: ['eu-west-1'], steps: [{ kind: 'setWeight', weight: 10 }, { kind: 'approval', name: 'go', approvers: ['alice'] }] },
        { name: 'rest', regions: ['us-east-1', 'eu-central-1', 'ap-south-1', 'ap-northeast-1'], steps: [{ kind: 'setWeight', weight: 10 }, slowAnalysis] },
      ],
    });
    const fleet = await withRollout(env, plan, async (run) => {
      await run.until((s) => s.pendingApprovals.length > 0, 'the gate');
      await run.handle.signal(approveSignal, { region: 'eu-west-1', by: 'mallory' });
      const refused = await run.until((s) => s.audit.some((a) => a.action === 'approve-ignored'), 'the refusal in the audit trail');
      // A refused signal keeps the validator's refusal, the answer an update would have given.
      expect(auditOf(refused, 'approve-ignored')).toMatchObject([{ actor: 'mallory', data: { command: 'approve' }, reason: expect.stringMatching(/may not approve gate "go"/) }]);
      expect(refused.pendingApprovals).toHaveLength(1);
      await run.handle.signal(approveSignal, { region: 'eu-west-1', by: 'alice' });
      await run.until((s) => s.regions.filter((r) => r.step?.kind === 'analysis').length === 4, 'wave 2 in analysis');
      await run.handle.signal(abortSignal, { by: 'oncall', reason: 'signalled' });
      const { status } = await run.end();
      expect(status.phase).toBe('RolledBack');
      expect(auditOf(status, 'abort')).toMatchObject([{ actor: 'oncall', data: { reason: 'signalled' } }]);
      expect(auditOf(status, 'approved')).toMatchObject([{ actor: 'alice', region: 'eu-west-1', data: { gate: 'go' } }]);
    });
    expectFleet(fleet, plan, everyRegion(plan, 'old'));
  });

  it('an inconclusive analysis pauses for a human; retry runs it again', async () => {
    const plan = testPlan({
      waves: [{ name: 'only', regions: ['eu-west-1'] }, { name: 'rest', regions: ['us-east-1', 'eu-central-1', 'ap-south-1', 'ap-northeast-1'] }],
      metrics: [
        { name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 },
        { name: 'saturation', provider: { type: 'simulated' }, max: 0.9 },
      ],
      steps: [{ kind: 'setWeight', weight: 10 }, { kind: 'analysis', metrics: ['error_rate', 'saturation'], interval: '100ms', sustainedFor: '300ms' }],
      simulation: { baseline: { error_rate: 0.004 }, faults: ['eu-west-1: saturation nodata when weight >= 10'] },
    });
    await withRollout(env, plan, async (run) => {
      const s = await run.until((st) => regionOf(st, 'eu-west-1').phase === 'Inconclusive', 'inconclusive');
      expect(s.phase).toBe('Paused');
      expect(regionOf(s, 'eu-west-1').verdicts.find((v) => v.metric === 'saturation')!.phase).toBe('Inconclusive');
      run.fleet.clearFaults(run.handle.workflowId, 'eu-west-1');
      await run.handle.executeUpdate(retryUpdate, { args: [{ by: 'oncall', region: 'eu-west-1' }] });
      await run.until((st) => ['Promoted', 'Baking'].includes(regionOf(st, 'eu-west-1').phase), 'eu-west-1 promoted');
      await run.handle.executeUpdate(abortUpdate, { args: [{ by: 'oncall', reason: 'enough' }] });
      const { status } = await run.end();
      expect(auditOf(status, 'analysis-retried')).toHaveLength(1);
      expect(status.phase).toBe('RolledBack');
    });
  });
});
