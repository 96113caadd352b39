import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ALARM_BLOCKER } from '../../domain/plan';
import { approveUpdate, regionWorkflowId, retryUpdate, statusQuery } from '../../workflows/definitions';
import { FAST_ANALYSIS, NEW_IMAGE, testPlan } from '../support/spec';
import { auditDataOf, auditOf, regionOf } from '../support/status';
import { expectFleet } from './assertions';
import { startTimeSkipping } from './harness';
import { withRollout } from './support';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startTimeSkipping();
});
afterAll(async () => {
  await env?.teardown();
});

const ONE_REGION = { waves: { only: ['eu-west-1'] } };
const hhmm = (d: Date) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;

describe('a region stage records its decisions as audit data, on the time-skipping server', () => {
  it('a region outside its window records how long it waits and until when', async () => {
    const opens = new Date((await env.currentTimeMs()) + 3 * 3_600_000);
    const closes = new Date(opens.getTime() + 2 * 3_600_000);
    const plan = testPlan({}, { ...ONE_REGION, region: () => ({ windows: [{ timezone: 'UTC', start: hhmm(opens), end: hhmm(closes) }] }) });
    const fleet = await withRollout(env, plan, async (run) => {
      const { status } = await run.end();
      expect(status.phase).toBe('Succeeded');
      const [wait, ...more] = auditOf(status, 'window-wait', 'eu-west-1');
      expect(more).toEqual([]);
      const { waitMs, until } = wait!.data as { waitMs: number; until: string };
      expect(waitMs).toBeGreaterThan(2 * 3_600_000);
      expect(waitMs).toBeLessThanOrEqual(3 * 3_600_000);
      expect(until).toBe(new Date(Date.parse(wait!.at) + waitMs).toISOString());
      expect(Date.parse(auditOf(status, 'deploy-canary', 'eu-west-1')[0]!.at)).toBeGreaterThanOrEqual(Date.parse(until));
    });
    expectFleet(fleet, plan, { 'eu-west-1': 'new' });
  });

  it('deploy, weights, an approval, a passed analysis, a timeout that proceeds, and the promotion', async () => {
    const plan = testPlan(
      {
        steps: [
          { kind: 'setWeight', weight: 10 },
          { kind: 'approval', name: 'go', approvers: ['alice'] },
          FAST_ANALYSIS,
          { kind: 'approval', name: 'later', timeout: '30m', onTimeout: 'proceed' },
          { kind: 'setWeight', weight: 50 },
        ],
      },
      ONE_REGION,
    );
    const fleet = await withRollout(env, plan, async (run) => {
      await run.until((s) => s.pendingApprovals.some((p) => p.gate === 'go'), 'the gate');
      await run.handle.executeUpdate(approveUpdate, { args: [{ region: 'eu-west-1', by: 'alice', comment: 'dashboards look fine' }] });
      const { status } = await run.end();
      expect(status.phase).toBe('Succeeded');
      expect(auditDataOf(status, 'deploy-canary')).toEqual([{ image: NEW_IMAGE }]);
      expect(auditDataOf(status, 'set-weight').map((d) => d.weight)).toEqual([10, 50]);
      expect(auditOf(status, 'approved')).toMatchObject([{ actor: 'alice', region: 'eu-west-1', data: { gate: 'go', approver: 'alice' } }]);
      expect(auditDataOf(status, 'approval-timeout')).toEqual([{ gate: 'later', timeoutMs: 30 * 60_000, onTimeout: 'proceed' }]);
      expect(auditDataOf(status, 'analysis-passed')).toMatchObject([
        { weight: 10, values: { error_rate: expect.any(Number) }, verdicts: [{ metric: 'error_rate', phase: 'Successful' }] },
      ]);
      expect(auditDataOf(status, 'promoted')).toEqual([{ image: NEW_IMAGE }]);
    });
    expectFleet(fleet, plan, { 'eu-west-1': 'new' });
  });

  it('a failed analysis names the metric, value and threshold it failed on', async () => {
    const plan = testPlan(
      {
        steps: [{ kind: 'setWeight', weight: 25 }, FAST_ANALYSIS],
        simulation: { baseline: { error_rate: 0.004 }, faults: ['eu-west-1: error_rate 0.08 when weight >= 25'] },
      },
      ONE_REGION,
    );
    const fleet = await withRollout(env, plan, async (run) => {
      const { status } = await run.end();
      expect(status.phase).toBe('RolledBack');
      const [failed, ...more] = auditDataOf(status, 'analysis-failed', 'eu-west-1');
      expect(more).toEqual([]);
      expect(failed).toMatchObject({ weight: 25, metric: 'error_rate', value: 0.08, threshold: { max: 0.02 }, values: { error_rate: 0.08 } });
      expect(failed!.verdicts).toContainEqual(expect.objectContaining({ metric: 'error_rate', phase: 'Failed', value: 0.08 }));
      expect(auditDataOf(status, 'promoted')).toEqual([]);
    });
    expectFleet(fleet, plan, { 'eu-west-1': 'old' });
  });

  it('an inconclusive analysis names the metric it could not judge; the retry says how it came', async () => {
    const plan = testPlan(
      {
        metrics: [
          { name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 },
          { name: 'saturation', provider: { type: 'simulated' }, max: 0.9 },
        ],
        steps: [{ kind: 'setWeight', weight: 10 }, { kind: 'analysis', metrics: ['error_rate', 'saturation'], interval: '100ms', sustainedFor: '300ms' }],
        simulation: { baseline: { error_rate: 0.004 }, faults: ['eu-west-1: saturation nodata when weight >= 10'] },
      },
      ONE_REGION,
    );
    const fleet = await withRollout(env, plan, async (run) => {
      await run.until((s) => regionOf(s, 'eu-west-1').phase === 'Inconclusive', 'inconclusive');
      run.fleet.clearFaults(run.handle.workflowId, 'eu-west-1');
      await run.handle.executeUpdate(retryUpdate, { args: [{ by: 'oncall', region: 'eu-west-1' }] });
      const { status } = await run.end();
      expect(status.phase).toBe('Succeeded');
      const [inconclusive, ...more] = auditDataOf(status, 'analysis-inconclusive', 'eu-west-1');
      expect(more).toEqual([]);
      expect(inconclusive).toMatchObject({ weight: 10, metric: 'saturation', threshold: { max: 0.9 }, values: { error_rate: expect.any(Number) } });
      expect(inconclusive).not.toHaveProperty('value');
      expect(auditDataOf(status, 'analysis-retried')).toEqual([{ via: 'retry' }]);
      expect(auditDataOf(status, 'analysis-resumed')).toEqual([]);
      expect(auditDataOf(status, 'analysis-passed').map((d) => d.weight)).toEqual([10]);
    });
    expectFleet(fleet, plan, { 'eu-west-1': 'new' });
  });

  it('the alarm blocker records the failing verdicts and its timeout, then the verdicts it let the region go on', async () => {
    const plan = testPlan({ simulation: { baseline: { error_rate: 0.004 }, faults: ['eu-west-1: stable error_rate 0.08 always'] } }, ONE_REGION);
    const fleet = await withRollout(env, plan, async (run) => {
      await run.until((s) => regionOf(s, 'eu-west-1').phase === 'WaitingForHealth', 'the blocker');
      run.fleet.clearFaults(run.handle.workflowId, 'eu-west-1');
      const { status } = await run.end();
      expect(status.phase).toBe('Succeeded');
      expect(auditDataOf(status, 'blocked')).toMatchObject([
        { timeoutMs: DEFAULT_ALARM_BLOCKER.timeoutMs, verdicts: [{ metric: 'error_rate', phase: 'Failed', value: 0.08 }] },
      ]);
      expect(auditDataOf(status, 'health-clear')).toMatchObject([{ verdicts: [{ metric: 'error_rate', phase: 'Successful' }] }]);
    });
    expectFleet(fleet, plan, { 'eu-west-1': 'new' });
  });
});

describe('region reports on the time-skipping server', () => {
  /** The parent's regionReport signals, and the stage's finished analysis chunks. */
  const histories = async (rolloutId: string) => {
    const events = async (id: string) => (await env.client.workflow.getHandle(id).fetchHistory()).events ?? [];
    const parent = await events(rolloutId);
    const stage = await events(regionWorkflowId(rolloutId, 'eu-west-1'));
    const chunks = stage.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runAnalysis').length;
    return { reports: parent.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'regionReport').length, chunks };
  };
  const plan = testPlan(
    { steps: [{ kind: 'setWeight', weight: 10 }, { ...FAST_ANALYSIS, sustainedFor: '1500ms' }, { kind: 'setWeight', weight: 50 }, FAST_ANALYSIS] },
    ONE_REGION,
  );
  const run = async (analysisChunkMs: number) => {
    let seen = { reports: 0, chunks: 0 };
    const fleet = await withRollout(
      env,
      plan,
      async (r) => {
        expect((await r.end()).status.phase).toBe('Succeeded');
        seen = await histories(r.handle.workflowId);
      },
      { analysisChunkMs },
    );
    expectFleet(fleet, plan, { 'eu-west-1': 'new' });
    return seen;
  };

  it("status shows a running stage's weight and its audit entries before any report carries them", async () => {
    const slow = testPlan({ steps: [{ kind: 'setWeight', weight: 10 }, FAST_ANALYSIS, { kind: 'setWeight', weight: 50 }, { ...FAST_ANALYSIS, sustainedFor: '2s' }] }, ONE_REGION);
    const fleet = await withRollout(env, slow, async (r) => {
      const live = await r.until((s) => regionOf(s, 'eu-west-1').phase === 'Progressing' && regionOf(s, 'eu-west-1').weight === 50, 'weight 50 in analysis');
      expect(auditDataOf(live, 'set-weight', 'eu-west-1').map((d) => d.weight)).toEqual([10, 50]);
      // The rollout itself has the first weight, carried by the report of the traffic undo, not yet the second.
      const parent = await r.handle.query(statusQuery);
      expect(auditDataOf(parent, 'set-weight', 'eu-west-1').map((d) => d.weight)).toEqual([10]);
      const { status } = await r.end();
      expect(auditDataOf(status, 'set-weight', 'eu-west-1').map((d) => d.weight)).toEqual([10, 50]);
    });
    expectFleet(fleet, slow, { 'eu-west-1': 'new' });
  });

  it('a stage reports what the rollout acts on, not every step or analysis chunk', async () => {
    const long = await run(60_000);
    const short = await run(250);
    expect(long.chunks).toBe(2);
    expect(short.chunks).toBeGreaterThanOrEqual(6);
    // Progressing with the workload undo, the traffic undo, Baking; nothing for steps 2-4 or the
    // chunks, and the end comes with the stage's outcome.
    expect(short.reports).toBe(long.reports);
    expect(long.reports).toBe(3);
  });
});
