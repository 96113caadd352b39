import { abortUpdate, resumeUpdate, retryUpdate } from '../../workflows/definitions';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAILURE } from '../../domain/vocabulary';
import { BREACH_IN_WAVE_2, testPlan } from '../support/spec';
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

const withFaults = (faults: string[], extra: Parameters<typeof testPlan>[0] = {}) =>
  testPlan({ simulation: { baseline: { error_rate: 0.004 }, faults }, ...extra });

describe('compensation on the time-skipping server', () => {
  it('rolls back wave 2 and the promoted wave 1, newest first, after a breach in wave 2', async () => {
    const plan = withFaults([BREACH_IN_WAVE_2]);
    const fleet = await withRollout(env, plan, async (run) => {
      const { status, failure } = await run.end();
      expect(failure?.cause).toMatchObject({ type: FAILURE.rolledBack });
      expect(status.phase).toBe('RolledBack');
      expect(auditOf(status, 'region-failed')).toMatchObject([{ region: 'us-east-1', data: { failure: FAILURE.analysisFailed } }]);
      const failed = auditOf(status, 'analysis-failed');
      expect(failed.map((a) => a.region)).toEqual(['us-east-1']);
      expect(failed[0]!.data).toMatchObject({ weight: 25, values: { error_rate: 0.08 }, metric: 'error_rate', value: 0.08, threshold: { max: 0.02 } });

      const undone = auditOf(status, 'undo').map((a) => a.region);
      const lastWave2 = Math.max(undone.lastIndexOf('us-east-1'), undone.lastIndexOf('eu-central-1'));
      expect(undone.indexOf('eu-west-1')).toBeGreaterThan(lastWave2);
      expect(undone.filter((r) => r === 'eu-west-1')).toHaveLength(2);
      expect(status.compensation.every((c) => c.outcome === 'done')).toBe(true);
      expect(status.compensation.filter((c) => c.undo.region === 'eu-west-1').map((c) => c.undo.kind)).toEqual([
        'restoreTraffic',
        'restoreWorkload',
      ]);
      for (const name of ['eu-west-1', 'us-east-1', 'eu-central-1']) expect(regionOf(status, name).phase, name).toBe('RolledBack');
    });
    expectFleet(fleet, plan, { 'eu-west-1': 'old', 'us-east-1': 'old', 'eu-central-1': 'old' });
  });

  it('rollback-region rolls back only the failing region and starts no later wave', async () => {
    const plan = withFaults([BREACH_IN_WAVE_2], { failurePolicy: 'rollback-region' });
    const fleet = await withRollout(env, plan, async (run) => {
      const { status, failure } = await run.end();
      expect(failure).toBeDefined();
      expect(status.phase).toBe('Failed');
      expect(status.regions.map((r) => [r.name, r.phase])).toEqual([
        ['eu-west-1', 'Promoted'],
        ['us-east-1', 'RolledBack'],
        ['eu-central-1', 'Promoted'],
        ['ap-south-1', 'Cancelled'],
        ['ap-northeast-1', 'Cancelled'],
      ]);
      expect(new Set(status.compensation.map((c) => c.undo.region))).toEqual(new Set(['us-east-1']));
    });
    expectFleet(fleet, plan, { 'eu-west-1': 'new', 'us-east-1': 'old', 'eu-central-1': 'new' });
  });

  it('pause policy holds the failing region with traffic on stable, then a retry runs it again', async () => {
    const plan = withFaults([BREACH_IN_WAVE_2], { failurePolicy: 'pause' });
    const fleet = await withRollout(env, plan, async (run) => {
      const held = await run.until((s) => regionOf(s, 'us-east-1').phase === 'Paused', 'the hold');
      expect(held.phase).toBe('Paused');
      expect(run.fleet.region(plan.service, 'us-east-1')).toMatchObject({ weight: 0, canary: { image: plan.image } });

      run.fleet.clearFaults(run.handle.workflowId, 'us-east-1');
      const res = await run.handle.executeUpdate(retryUpdate, { args: [{ by: 'oncall', region: 'us-east-1' }] });
      expect(res.accepted).toBe(true);
      const { status } = await run.end();
      expect(status.phase).toBe('Succeeded');
      expect(auditOf(status, 'retry')).toMatchObject([{ actor: 'oncall' }]);
      expect(auditOf(status, 'snapshot', 'us-east-1')).toHaveLength(1);
    });
    expectFleet(fleet, plan, everyRegion(plan, 'new'));
  });

  it('pause policy then abort rolls every touched region back', async () => {
    const plan = withFaults([BREACH_IN_WAVE_2], { failurePolicy: 'pause' });
    const fleet = await withRollout(env, plan, async (run) => {
      await run.until((s) => regionOf(s, 'us-east-1').phase === 'Paused', 'the hold');
      await run.until((s) => regionOf(s, 'eu-central-1').phase === 'Promoted', 'eu-central-1 promoted');
      await run.handle.executeUpdate(abortUpdate, { args: [{ by: 'oncall', reason: 'error budget burned' }] });
      const { status } = await run.end();
      expect(status.phase).toBe('RolledBack');
      expect(auditOf(status, 'abort')).toMatchObject([{ actor: 'oncall', data: { reason: 'error budget burned' } }]);
      expect(auditOf(status, 'rolled-back')).toHaveLength(1);
    });
    expectFleet(fleet, plan, { 'eu-west-1': 'old', 'us-east-1': 'old', 'eu-central-1': 'old' });
  });

  it('a failing undo ends in NeedsAttention with the error, and retry finishes the rollback', async () => {
    const plan = withFaults([BREACH_IN_WAVE_2, 'eu-west-1: fail restore always']);
    const fleet = await withRollout(env, plan, async (run) => {
      const stuck = await run.until((s) => s.phase === 'NeedsAttention', 'NeedsAttention');
      expect(regionOf(stuck, 'eu-west-1').phase).toBe('NeedsAttention');
      expect(regionOf(stuck, 'us-east-1').phase).toBe('RolledBack');
      const failed = stuck.compensation.filter((c) => c.outcome === 'failed');
      expect(failed.map((c) => [c.undo.region, c.undo.kind])).toEqual([['eu-west-1', 'restoreTraffic']]);
      const restoreErrors = run.fleet.journal(plan.service, 'eu-west-1').filter((j) => j.op === 'restoreTraffic' && j.effect === 'failed');
      expect(restoreErrors.length).toBeGreaterThan(0);
      expect(failed[0]!.error, 'the undo keeps the fault it failed with').toBe(restoreErrors.at(-1)!.error);
      expect(auditDataOf(stuck, 'undo-failed', 'eu-west-1')).toEqual([{ undo: 'restoreTraffic', attempts: failed[0]!.attempts, error: failed[0]!.error }]);
      expect(stuck.compensation.find((c) => c.undo.region === 'eu-west-1' && c.undo.kind === 'restoreWorkload')!.outcome).toBe('pending');
      expect(run.fleet.region(plan.service, 'eu-west-1')!.stable.image).toBe(plan.image);

      await expectRejected(run.handle.executeUpdate(resumeUpdate, { args: [{ by: 'oncall' }] }), /nothing to resume/);
      run.fleet.clearFaults(run.handle.workflowId, 'eu-west-1');
      await run.handle.executeUpdate(retryUpdate, { args: [{ by: 'oncall' }] });
      const { status } = await run.end();
      expect(status.phase).toBe('RolledBack');
      expect(status.compensation.every((c) => c.outcome === 'done')).toBe(true);
      expect(auditOf(status, 'undo-failed')).toHaveLength(1);
    });
    expectFleet(fleet, plan, { 'eu-west-1': 'old', 'us-east-1': 'old', 'eu-central-1': 'old' });
  });
});
