import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAILURE } from '../../domain/vocabulary';
import { testPlan } from '../support/spec';
import { auditDataOf, auditOf, regionOf } from '../support/status';
import { everyRegion, expectFleet } from './assertions';
import { startTimeSkipping } from './harness';
import { withRollout } from './support';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startTimeSkipping();
});
afterAll(async () => {
  await env?.teardown();
});

const UNHEALTHY_BEFORE = 'us-east-1: stable error_rate 0.08 always';
/** The verdict the alarm blocker holds us-east-1 on. */
const FAILING_BEFORE = { metric: 'error_rate', phase: 'Failed', value: 0.08, threshold: { max: 0.02 } };

describe('health before any change, on the time-skipping server', () => {
  it('measures every region\'s baseline at preflight and shows it in status', async () => {
    const plan = testPlan({ simulation: { baseline: { error_rate: 0.004 }, faults: ['ap-south-1: stable error_rate 0.012 always'] } });
    await withRollout(env, plan, async (run) => {
      const { status } = await run.end();
      expect(status.phase).toBe('Succeeded');
      expect(status.baselines).toEqual({
        'eu-west-1': { error_rate: 0.004 },
        'us-east-1': { error_rate: 0.004 },
        'eu-central-1': { error_rate: 0.004 },
        'ap-south-1': { error_rate: 0.012 },
        'ap-northeast-1': { error_rate: 0.004 },
      });
      const first = status.audit.findIndex((a) => a.action === 'baselines');
      expect(first).toBeGreaterThanOrEqual(0);
      expect(first).toBeLessThan(status.audit.findIndex((a) => a.action === 'snapshot'));
    });
  });

  it('the alarm blocker holds a region that is failing before any change, and lets it go once healthy', async () => {
    const plan = testPlan({ simulation: { baseline: { error_rate: 0.004 }, faults: [UNHEALTHY_BEFORE] } });
    const fleet = await withRollout(env, plan, async (run) => {
      const blocked = await run.until((s) => regionOf(s, 'us-east-1').phase === 'WaitingForHealth', 'the blocker');
      expect(regionOf(blocked, 'us-east-1').verdicts).toEqual([expect.objectContaining(FAILING_BEFORE)]);
      expect(auditDataOf(blocked, 'blocked', 'us-east-1')).toEqual([expect.objectContaining({ verdicts: [expect.objectContaining(FAILING_BEFORE)] })]);
      expect(run.fleet.journal(plan.service, 'us-east-1').filter((j) => j.op !== 'snapshot')).toEqual([]);
      run.fleet.clearFaults(run.handle.workflowId, 'us-east-1');
      const { status } = await run.end();
      expect(status.phase).toBe('Succeeded');
      expect(auditOf(status, 'blocked').map((a) => a.region)).toEqual(['us-east-1']);
      expect(auditOf(status, 'health-clear').map((a) => a.region)).toEqual(['us-east-1']);
    });
    expectFleet(fleet, plan, everyRegion(plan, 'new'));
  });

  it('a region still failing when the blocker times out fails its wave, without ever being changed', async () => {
    const plan = testPlan({ simulation: { baseline: { error_rate: 0.004 }, faults: [UNHEALTHY_BEFORE] }, alarmBlocker: { timeout: '20m', interval: '1m' } });
    const fleet = await withRollout(env, plan, async (run) => {
      const { status } = await run.end();
      expect(status.phase).toBe('RolledBack');
      const blocked = auditOf(status, 'blocked', 'us-east-1');
      expect(blocked.map((a) => a.data)).toEqual([
        expect.objectContaining({ verdicts: [expect.objectContaining(FAILING_BEFORE)], timeoutMs: 20 * 60_000 }),
        expect.objectContaining({ verdicts: [expect.objectContaining(FAILING_BEFORE)], timeoutMs: 20 * 60_000 }),
      ]);
      // Rechecked every minute, it fails at the check that finds the 20m (counted from just before the first check) passed.
      expect(Date.parse(blocked[1]!.at) - Date.parse(blocked[0]!.at), 'it failed only once the blocker timed out').toBeGreaterThan(19 * 60_000);
      expect(auditOf(status, 'region-failed')).toMatchObject([{ region: 'us-east-1', data: { failure: FAILURE.unhealthyBeforeChange } }]);
      expect(regionOf(status, 'us-east-1').snapshot).toBeUndefined();
      expect(run.fleet.journal(plan.service, 'us-east-1').filter((j) => j.op !== 'snapshot')).toEqual([]);
    });
    expectFleet(fleet, plan, { 'eu-west-1': 'old', 'eu-central-1': 'old' });
  });

  it('a relative threshold judges the canary against its own region\'s baseline', async () => {
    const plan = testPlan({
      metrics: [{ name: 'error_rate', provider: { type: 'simulated' }, max: 'baseline * 2' }],
      simulation: { baseline: { error_rate: 0.004 }, faults: ['us-east-1: error_rate 0.01 when weight >= 25'] },
    });
    await withRollout(env, plan, async (run) => {
      const { status } = await run.end();
      expect(status.phase).toBe('RolledBack');
      const failed = auditOf(status, 'analysis-failed');
      expect(failed.map((a) => a.region)).toEqual(['us-east-1']);
      expect(failed[0]!.data).toMatchObject({ metric: 'error_rate', value: 0.01, threshold: { max: 0.008 } });
      expect(auditDataOf(status, 'analysis-failed')[0]!.verdicts).toEqual([
        expect.objectContaining({ metric: 'error_rate', phase: 'Failed', value: 0.01, threshold: { max: 0.008 }, baseline: 0.004 }),
      ]);
    });
  });

  it('a compare metric fails a canary that is significantly worse than stable in the same region', async () => {
    const plan = testPlan({
      metrics: [
        { name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 },
        { name: 'latency_ms', provider: { type: 'simulated' }, max: 1000 },
        { name: 'latency_vs_stable', provider: { type: 'simulated' }, kind: 'compare', compare: { confidence: 0.95, allowedIncrease: 1.1 } },
      ],
      steps: [
        { kind: 'setWeight', weight: 25 },
        { kind: 'analysis', metrics: ['error_rate', 'latency_ms', 'latency_vs_stable'], interval: '100ms', sustainedFor: '300ms' },
      ],
      simulation: {
        baseline: { error_rate: 0.004, latency_ms: 200, latency_vs_stable: 200 },
        faults: ['us-east-1: latency_vs_stable 300 when weight >= 25', 'us-east-1: latency_ms 300 when weight >= 25'],
      },
    });
    await withRollout(env, plan, async (run) => {
      const { status } = await run.end();
      expect(status.phase).toBe('RolledBack');
      const failed = status.audit.find((a) => a.action === 'analysis-failed')!;
      expect(failed.region).toBe('us-east-1');
      const verdicts = (failed.data as { verdicts: { metric: string; phase: string; effect?: { p: number } }[] }).verdicts;
      expect(verdicts.find((v) => v.metric === 'latency_ms')!.phase).toBe('Successful');
      const compare = verdicts.find((v) => v.metric === 'latency_vs_stable')!;
      expect(compare.phase).toBe('Failed');
      expect(compare.effect!.p).toBeLessThan(0.05);
    });
  });
});
