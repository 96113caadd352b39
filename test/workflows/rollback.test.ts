import { abortUpdate, resumeUpdate, retryUpdate } from '../../workflows/definitions';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTimeSkipping } from './harness';
import { BREACH_IN_WAVE_2, testPlan } from './plans';
import { auditActions, expectRegions, expectRejected } from './assertions';
import { withRollout } from './support';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startTimeSkipping();
});
afterAll(async () => {
  await env?.teardown();
});

const withFaults = (faults: string[], extra: Parameters<typeof testPlan>[0] = {}) =>
  testPlan({ simulation: { baseline: { error_rate: 0.004 }, faults }, ...extra });

describe('compensation on the time-skipping server', () => {
  it('rolls back wave 2 and the promoted wave 1, newest first, after a breach in wave 2', async () => {
    const plan = withFaults([BREACH_IN_WAVE_2]);
    const fleet = await withRollout(env, plan, async (run) => {
      const { status, failure } = await run.end();
      expect(failure?.cause?.message).toMatch(/us-east-1 failed analysis at 25%: error_rate 0\.08 > max 0\.02/);
      expect(status.phase).toBe('RolledBack');
      const failed = auditActions(status, 'analysis-failed');
      expect(failed).toHaveLength(1);
      expect(failed[0]!.region).toBe('us-east-1');
      expect(status.audit.find((a) => a.action === 'analysis-failed')!.data).toMatchObject({ weight: 25, values: { error_rate: 0.08 } });

      const undone = auditActions(status, 'undo').map((a) => a.region);
      const lastWave2 = Math.max(undone.lastIndexOf('us-east-1'), undone.lastIndexOf('eu-central-1'));
      expect(undone.indexOf('eu-west-1')).toBeGreaterThan(lastWave2);
      expect(undone.filter((r) => r === 'eu-west-1')).toHaveLength(2);
      expect(status.compensation.every((c) => c.outcome === 'done')).toBe(true);
      expect(status.compensation.filter((c) => c.undo.region === 'eu-west-1').map((c) => c.undo.kind)).toEqual([
        'restoreTraffic',
        'restoreWorkload',
      ]);
      for (const name of ['eu-west-1', 'us-east-1', 'eu-central-1']) {
        expect(status.regions.find((r) => r.name === name)!.phase, name).toBe('RolledBack');
      }
    });
    expectRegions(fleet, plan, {
      'eu-west-1': 'old',
      'us-east-1': 'old',
      'eu-central-1': 'old',
      'ap-south-1': 'untouched',
      'ap-northeast-1': 'untouched',
    });
  });

  it('rollback-region rolls back only the failing region and starts no later wave', async () => {
    const plan = withFaults([BREACH_IN_WAVE_2], { failurePolicy: 'rollback-region' });
    const fleet = await withRollout(env, plan, async (run) => {
      const { status, failure } = await run.end();
      expect(failure).toBeDefined();
      expect(status.phase).toBe('Failed');
      expect(status.reason).toMatch(/rolled back us-east-1, kept eu-west-1, eu-central-1 on the new version/);
      expect(new Set(status.compensation.map((c) => c.undo.region))).toEqual(new Set(['us-east-1']));
    });
    expectRegions(fleet, plan, {
      'eu-west-1': 'new',
      'us-east-1': 'old',
      'eu-central-1': 'new',
      'ap-south-1': 'untouched',
      'ap-northeast-1': 'untouched',
    });
  });

  it('pause policy holds the failing region with traffic on stable, then a retry runs it again', async () => {
    const plan = withFaults([BREACH_IN_WAVE_2], { failurePolicy: 'pause' });
    const fleet = await withRollout(env, plan, async (run) => {
      const held = await run.until((s) => s.regions.some((r) => r.name === 'us-east-1' && r.phase === 'Paused'), 'the hold');
      expect(held.phase).toBe('Paused');
      expect(run.fleet.region('checkout', 'us-east-1')!.weight).toBe(0);
      expect(run.fleet.region('checkout', 'us-east-1')!.canary?.image).toBe(plan.image);

      run.fleet.clearFaults(run.handle.workflowId, 'us-east-1');
      const res = await run.handle.executeUpdate(retryUpdate, { args: [{ by: 'oncall', region: 'us-east-1' }] });
      expect(res.accepted).toBe(true);
      const { status } = await run.end();
      expect(status.phase).toBe('Succeeded');
      expect(auditActions(status, 'retry')).toMatchObject([{ actor: 'oncall' }]);
      expect(auditActions(status, 'snapshot').filter((a) => a.region === 'us-east-1')).toHaveLength(1);
    });
    expectRegions(fleet, plan, { 'eu-west-1': 'new', 'us-east-1': 'new', 'eu-central-1': 'new', 'ap-south-1': 'new', 'ap-northeast-1': 'new' });
  });

  it('pause policy then abort rolls every touched region back', async () => {
    const plan = withFaults([BREACH_IN_WAVE_2], { failurePolicy: 'pause' });
    const fleet = await withRollout(env, plan, async (run) => {
      await run.until((s) => s.regions.some((r) => r.name === 'us-east-1' && r.phase === 'Paused'), 'the hold');
      await run.until((s) => s.regions.find((r) => r.name === 'eu-central-1')!.phase === 'Promoted', 'eu-central-1 promoted');
      await run.handle.executeUpdate(abortUpdate, { args: [{ by: 'oncall', reason: 'error budget burned' }] });
      const { status } = await run.end();
      expect(status.phase).toBe('RolledBack');
      expect(status.reason).toMatch(/aborted by oncall: error budget burned/);
    });
    expectRegions(fleet, plan, { 'eu-west-1': 'old', 'us-east-1': 'old', 'eu-central-1': 'old', 'ap-south-1': 'untouched', 'ap-northeast-1': 'untouched' });
  });

  it('a failing undo ends in NeedsAttention with the error, and retry finishes the rollback', async () => {
    const plan = withFaults([BREACH_IN_WAVE_2, 'eu-west-1: fail restore always']);
    const fleet = await withRollout(env, plan, async (run) => {
      const stuck = await run.until((s) => s.phase === 'NeedsAttention', 'NeedsAttention');
      expect(stuck.reason).toMatch(/rollback incomplete: eu-west-1: simulated fault: restore failed in eu-west-1/);
      expect(stuck.regions.find((r) => r.name === 'eu-west-1')!.phase).toBe('NeedsAttention');
      expect(stuck.regions.find((r) => r.name === 'us-east-1')!.phase).toBe('RolledBack');
      const failed = stuck.compensation.filter((c) => c.outcome === 'failed');
      expect(failed.map((c) => [c.undo.region, c.undo.kind])).toEqual([['eu-west-1', 'restoreTraffic']]);
      expect(stuck.compensation.find((c) => c.undo.region === 'eu-west-1' && c.undo.kind === 'restoreWorkload')!.outcome).toBe('pending');
      expect(run.fleet.region('checkout', 'eu-west-1')!.stable.image).toBe(plan.image);

      await expectRejected(run.handle.executeUpdate(resumeUpdate, { args: [{ by: 'oncall' }] }), /nothing to resume/);
      run.fleet.clearFaults(run.handle.workflowId, 'eu-west-1');
      await run.handle.executeUpdate(retryUpdate, { args: [{ by: 'oncall' }] });
      const { status } = await run.end();
      expect(status.phase).toBe('RolledBack');
      expect(status.compensation.every((c) => c.outcome === 'done')).toBe(true);
      expect(auditActions(status, 'undo-failed')).toHaveLength(1);
    });
    expectRegions(fleet, plan, { 'eu-west-1': 'old', 'us-east-1': 'old', 'eu-central-1': 'old', 'ap-south-1': 'untouched', 'ap-northeast-1': 'untouched' });
  });
});
