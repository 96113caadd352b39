import { join } from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { beforeEach, describe, expect, it } from 'vitest';
import { createActivities, SimulatedFleet, type MetricProvider } from '../../activities';
import type { AnalysisInput, AnalysisProgress, RolloutActivities } from '../../activities/types';
import type { AnalysisStep, MetricSpec } from '../../domain/spec';
import { tempDir } from '../support/temp-dir';

const rolloutId = 'rollout/checkout/2.4.0';
const errorRate: MetricSpec = { name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 };
const latency: MetricSpec = { name: 'latency_p99_ms', provider: { type: 'simulated' }, max: 400 };
const simulation = {
  faults: ['eu-west-1: error_rate 0.08 when weight >= 25'],
  baseline: { error_rate: 0.004, latency_p99_ms: 180 },
};

let dir: string;
let fleet: SimulatedFleet;
let activities: RolloutActivities;
beforeEach(() => {
  dir = tempDir('meridian-analysis-');
  fleet = new SimulatedFleet(join(dir, 'fleet.json'));
  activities = createActivities({ fleet });
});

function step(overrides: Partial<AnalysisStep> = {}): AnalysisStep {
  return {
    kind: 'analysis',
    metrics: ['error_rate', 'latency_p99_ms'],
    interval: 20,
    sustainedFor: 60,
    failureLimit: 0,
    inconclusiveLimit: 0,
    consecutiveErrorLimit: 4,
    minSamples: 3,
    ...overrides,
  };
}

function input(overrides: Partial<AnalysisInput> = {}): AnalysisInput {
  return {
    rolloutId,
    service: 'checkout',
    region: 'eu-west-1',
    target: { kind: 'simulated' },
    key: `${rolloutId}/eu-west-1/analysis-1`,
    version: '2.4.0',
    step: step(),
    metrics: [errorRate, latency],
    simulation,
    chunkMs: 10_000,
    ...overrides,
  };
}

async function setWeight(weight: number) {
  await activities.setWeight({ ...input(), key: `${rolloutId}/eu-west-1/weight-${weight}`, weight });
}

/** Quiet: the SDK logs every failed attempt, and some tests fail on purpose. */
function newEnv(info: ConstructorParameters<typeof MockActivityEnvironment>[0] = {}): MockActivityEnvironment {
  return new MockActivityEnvironment(info, { logger: new DefaultLogger('ERROR') });
}

function analyse(env: MockActivityEnvironment, i: AnalysisInput, acts = activities): Promise<AnalysisProgress> {
  return env.run(acts.runAnalysis, i);
}

function heartbeats(env: MockActivityEnvironment): AnalysisProgress[] {
  const seen: AnalysisProgress[] = [];
  env.on('heartbeat', (d: AnalysisProgress) => seen.push(d));
  return seen;
}

describe('runAnalysis', () => {
  it('passes a healthy canary once it was healthy for sustainedFor over minSamples samples', async () => {
    await setWeight(10);
    const env = newEnv();
    const beats = heartbeats(env);
    const started = Date.now();
    const progress = await analyse(env, input());
    expect(progress.outcome).toBe('Successful');
    expect(Date.now() - started).toBeGreaterThanOrEqual(60);
    // At least minSamples; on a loaded machine three samples can already span the 60 ms window.
    expect(progress.sustained.samples).toBeGreaterThanOrEqual(3);
    expect(progress.sustained.healthyForMs).toBeGreaterThanOrEqual(60);
    expect(progress.reason).toMatch(/^healthy for \w+ of 60ms \(\d+ samples\)$/);
    expect(progress.verdicts.map((v) => [v.metric, v.phase, v.value])).toEqual([
      ['error_rate', 'Successful', 0.004],
      ['latency_p99_ms', 'Successful', 180],
    ]);
    expect(beats).toHaveLength(progress.sustained.samples);
    expect(beats.at(-1)).toEqual(progress);
  });

  it('fails on the first sample once the canary weight reaches a scripted fault', async () => {
    await setWeight(25);
    const env = newEnv();
    const beats = heartbeats(env);
    const progress = await analyse(env, input());
    expect(progress.outcome).toBe('Failed');
    expect(progress.reason).toBe('error_rate 0.08 > max 0.02 (failure 1 of limit 0)');
    expect(progress.verdicts[0]).toMatchObject({ phase: 'Failed', metric: 'error_rate', value: 0.08, threshold: { max: 0.02 } });
    expect(beats).toHaveLength(1);
  });

  it('reports Running after chunkMs, then resumes from the progress it returned', async () => {
    await setWeight(10);
    const long = step({ sustainedFor: 3_600_000 });
    const first = await analyse(newEnv(), input({ step: long, chunkMs: 70 }));
    expect(first.outcome).toBe('Running');
    expect(first.sustained.samples).toBeGreaterThanOrEqual(2);
    expect(first.healthySince).toBeDefined();

    const second = await analyse(newEnv(), input({ step: long, chunkMs: 30, progress: first }));
    expect(second.outcome).toBe('Running');
    expect(second.healthySince).toBe(first.healthySince);
    expect(second.sustained.samples).toBeGreaterThan(first.sustained.samples);
    expect(second.sustained.healthyForMs).toBeGreaterThan(first.sustained.healthyForMs);
  });

  it('a retried attempt resumes from its last heartbeat rather than the input', async () => {
    await setWeight(10);
    const checkpoint: AnalysisProgress = {
      outcome: 'Running',
      sustained: { healthyForMs: 40, requiredMs: 60, samples: 2, minSamples: 3, failures: 0, inconclusives: 0 },
      consecutiveErrors: 0,
      verdicts: [],
      reason: 'healthy for 40ms of 60ms (2 of 3 samples)',
      healthySince: Date.now() - 100,
    };
    const env = newEnv({ attempt: 2, heartbeatDetails: checkpoint });
    const beats = heartbeats(env);
    const stale: AnalysisProgress = { ...checkpoint, sustained: { ...checkpoint.sustained, samples: 0, healthyForMs: 0 }, healthySince: undefined };
    const progress = await analyse(env, input({ progress: stale }));
    expect(progress.outcome).toBe('Successful');
    expect(progress.sustained.samples).toBe(3);
    expect(progress.healthySince).toBe(checkpoint.healthySince);
    expect(beats).toHaveLength(1);
  });

  it('stops sleeping when cancelled', async () => {
    await setWeight(10);
    const env = newEnv();
    const beats = heartbeats(env);
    const running = analyse(env, input({ step: step({ sustainedFor: 3_600_000, interval: 60_000 }), chunkMs: 600_000 }));
    await new Promise((r) => setTimeout(r, 30));
    const cancelledAt = Date.now();
    env.cancel();
    await expect(running).rejects.toBeInstanceOf(CancelledFailure);
    expect(Date.now() - cancelledAt).toBeLessThan(1_000);
    expect(beats).toHaveLength(1);
  });

  it('counts a provider that throws as errors, then inconclusive past the error limit', async () => {
    const down: MetricProvider = {
      type: 'flaky',
      query: async () => {
        throw new Error('connection refused');
      },
    };
    const withDown = createActivities({ fleet, providers: [down] });
    const metric: MetricSpec = { ...errorRate, provider: { type: 'flaky' } as unknown as MetricSpec['provider'] };
    const progress = await analyse(newEnv(), input({ metrics: [metric], step: step({ consecutiveErrorLimit: 2 }) }), withDown);
    expect(progress.outcome).toBe('Inconclusive');
    expect(progress.consecutiveErrors).toBe(3);
    expect(progress.verdicts).toEqual([expect.objectContaining({ phase: 'Error', reason: 'error_rate: provider error: connection refused' })]);
  });

  it('treats no data as inconclusive', async () => {
    const silent: MetricProvider = { type: 'silent', query: async () => undefined };
    const withSilent = createActivities({ fleet, providers: [silent] });
    const metric: MetricSpec = { ...errorRate, provider: { type: 'silent' } as unknown as MetricSpec['provider'] };
    const progress = await analyse(newEnv(), input({ metrics: [metric] }), withSilent);
    expect(progress.outcome).toBe('Inconclusive');
    expect(progress.reason).toBe('error_rate: no data (inconclusive 1 of limit 0)');
  });

  it('rejects an unknown provider type as a permanent failure', async () => {
    const metric: MetricSpec = { ...errorRate, provider: { type: 'datadog' } as unknown as MetricSpec['provider'] };
    const failure = await newEnv().run(activities.runAnalysis, input({ metrics: [metric] })).catch((e) => e);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({
      nonRetryable: true,
      type: 'UnknownMetricProvider',
      message: 'unknown metric provider type "datadog" (known: simulated, prometheus, web, sql)',
    });
  });
});
