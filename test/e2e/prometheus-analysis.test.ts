import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RolloutSpecInput } from '../../domain/spec';
import { resumeUpdate } from '../../workflows/definitions';
import { expectFleet } from '../workflows/assertions';
import { startTimeSkipping } from '../workflows/harness';
import { testPlan } from '../support/spec';
import { auditOf, regionOf } from '../support/status';
import { withRollout } from '../workflows/support';
import { startDemoService, type DemoService } from '../support/demo-service';
import { startLoad, type Load } from '../support/load';
import { startPrometheus, type RunningPrometheus } from '../support/prometheus';

/**
 * Analysis through Temporal against a real Prometheus scraping a real service every second. The
 * demo service runs the stable and the canary version side by side under a bounded load; the
 * region's target is simulated, its health is not.
 */
const STABLE = '2.3.1';
const CANARY = '2.4.0';
const byRole = (metric: string, filter = '') => `${metric}{role="{{role}}"${filter}}`;
const ERROR_RATE = `sum(rate(${byRole('http_requests_total', ',code=~"5.."')}[5s])) / sum(rate(${byRole('http_requests_total')}[5s]))`;
const MEAN_LATENCY = `sum(rate(${byRole('http_request_duration_seconds_sum')}[3s])) / sum(rate(${byRole('http_request_duration_seconds_count')}[3s]))`;

let env: TestWorkflowEnvironment;
let demo: DemoService;
let prom: RunningPrometheus;
let load: Load;
const targets = () => [
  { url: demo.urls[STABLE]!, labels: { role: 'stable', region: 'eu-west-1' } },
  { url: demo.urls[CANARY]!, labels: { role: 'canary', region: 'eu-west-1' } },
];
const settle = () => new Promise((r) => setTimeout(r, 7_000));

beforeAll(async () => {
  env = await startTimeSkipping();
  demo = await startDemoService([STABLE, CANARY]);
  prom = await startPrometheus(targets());
  await prom.waitForTargets();
  load = startLoad({ urls: [demo.urls[STABLE]!, demo.urls[CANARY]!], concurrency: 6, maxRequests: 400_000, maxDurationMs: 240_000 });
}, 60_000);

afterAll(async () => {
  await load?.stop();
  await prom?.stop();
  await demo?.stop();
  await env?.teardown();
});

function plan(metrics: RolloutSpecInput['metrics'], analysis: Record<string, unknown>) {
  return testPlan({
    regions: [{ name: 'eu-west-1', target: { kind: 'simulated', initial: { image: 'registry.test/shop/checkout:2.3.1' } } }],
    waves: [{ name: 'canary', regions: ['eu-west-1'] }],
    metrics,
    steps: [{ kind: 'setWeight', weight: 25 }, { kind: 'analysis', interval: '500ms', ...analysis } as never],
    simulation: undefined,
  });
}

const errorRate = () => ({ name: 'error_rate', provider: { type: 'prometheus' as const, address: prom.address, query: ERROR_RATE }, max: 0.02 });

describe('analysis on a real Prometheus, through Temporal', () => {
  it('a healthy canary stays healthy for sustainedFor and is promoted', async () => {
    await demo.control(STABLE, { errorRate: 0, latencyMs: 5 });
    await demo.control(CANARY, { errorRate: 0, latencyMs: 5 });
    await settle();
    const p = plan([errorRate()], { metrics: ['error_rate'], sustainedFor: '3s', minSamples: 5 });
    const fleet = await withRollout(env, p, async (run) => {
      const { status } = await run.end();
      expect(status.phase).toBe('Succeeded');
      const passed = auditOf(status, 'analysis-passed');
      expect(passed).toHaveLength(1);
      expect(passed[0]!.reason).toMatch(/healthy for \d+(\.\d+)?s of 3s/);
    });
    expectFleet(fleet, p, { 'eu-west-1': 'new' });
  });

  it('a canary with 5% errors fails on PromQL and is rolled back', async () => {
    await demo.control(CANARY, { errorRate: 0.05, latencyMs: 5 });
    await settle();
    const p = plan([errorRate()], { metrics: ['error_rate'], sustainedFor: '5s' });
    const fleet = await withRollout(env, p, async (run) => {
      const { status } = await run.end();
      expect(status.phase).toBe('RolledBack');
      const failed = auditOf(status, 'analysis-failed');
      expect(failed).toMatchObject([{ region: 'eu-west-1', data: { metric: 'error_rate', threshold: { max: 0.02 } } }]);
      expect(failed[0]!.data!.value).toBeGreaterThanOrEqual(0.04);
      expect(failed[0]!.data!.value).toBeLessThan(0.07);
    });
    expectFleet(fleet, p, { 'eu-west-1': 'old' });
    await demo.control(CANARY, { errorRate: 0 });
  });

  it('a canary slower than stable fails the compare judgement while its absolute threshold passes', async () => {
    await demo.control(STABLE, { errorRate: 0, latencyMs: 10 });
    await demo.control(CANARY, { errorRate: 0, latencyMs: 40 });
    await settle();
    const latency = { type: 'prometheus' as const, address: prom.address, query: MEAN_LATENCY };
    const p = plan(
      [
        { name: 'latency', provider: latency, max: 1 },
        { name: 'latency_vs_stable', kind: 'compare', provider: { ...latency, range: { window: '15s', step: '1s' } }, compare: { allowedIncrease: 1.5 } },
      ],
      { metrics: ['latency', 'latency_vs_stable'], sustainedFor: '5s' },
    );
    await withRollout(env, p, async (run) => {
      const { status } = await run.end();
      expect(status.phase).toBe('RolledBack');
      const failed = status.audit.find((a) => a.action === 'analysis-failed')!;
      const verdicts = (failed.data as { verdicts: { metric: string; phase: string; effect?: { p: number; canaryMedian: number; stableMedian: number } }[] }).verdicts;
      expect(verdicts.find((v) => v.metric === 'latency')!.phase).toBe('Successful');
      const compare = verdicts.find((v) => v.metric === 'latency_vs_stable')!;
      expect(compare.phase).toBe('Failed');
      expect(compare.effect!.p).toBeLessThan(0.05);
      expect(compare.effect!.canaryMedian / compare.effect!.stableMedian).toBeGreaterThan(1.5);
    });
    await demo.control(CANARY, { latencyMs: 10 });
  });

  it('Prometheus stopped mid-analysis makes the analysis inconclusive and pauses; once it is back, resume analyses again and passes', async () => {
    await settle();
    const p = plan([errorRate()], { metrics: ['error_rate'], sustainedFor: '4s', consecutiveErrorLimit: 2 });
    const port = Number(new URL(prom.address).port);
    const fleet = await withRollout(env, p, async (run) => {
      await run.until((s) => regionOf(s, 'eu-west-1').step?.kind === 'analysis', 'the analysis');
      await prom.stop();
      const paused = await run.until((s) => regionOf(s, 'eu-west-1').phase === 'Inconclusive', 'an inconclusive pause', 60_000);
      expect(paused.phase).toBe('Paused');
      expect(auditOf(paused, 'analysis-inconclusive', 'eu-west-1')).toMatchObject([{ data: { metric: 'error_rate', weight: 25 } }]);
      expect(regionOf(paused, 'eu-west-1').verdicts[0]!.phase).toBe('Error');
      expect(regionOf(paused, 'eu-west-1').verdicts[0]!.reason).toMatch(/prometheus at http:\/\/127\.0\.0\.1:\d+/);
      expect(run.fleet.region(p.service, 'eu-west-1')!.weight).toBe(25);

      prom = await startPrometheus(targets(), 30_000, port);
      await prom.waitForTargets();
      await settle();
      await run.handle.executeUpdate(resumeUpdate, { args: [{ by: 'oncall', region: 'eu-west-1' }] });
      const { status } = await run.end();
      expect(status.phase).toBe('Succeeded');
      expect(auditOf(status, 'analysis-inconclusive')).toHaveLength(1);
      expect(auditOf(status, 'analysis-resumed')).toHaveLength(1);
      expect(auditOf(status, 'analysis-passed')).toHaveLength(1);
    });
    expectFleet(fleet, p, { 'eu-west-1': 'new' });
  });
});
