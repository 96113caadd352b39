import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { beforeEach, describe, expect, it } from 'vitest';
import { createActivities, SimulatedFleet, type MetricProvider } from '../../activities';
import type { PreflightInput, RegionRef, RolloutActivities } from '../../activities/types';
import type { MetricSpec, Target } from '../../domain/spec';
import { tempDir } from '../support/temp-dir';

const rolloutId = 'rollout/checkout/2.4.0';
const image = 'registry.example.com/shop/checkout@sha256:abc';
const errorRate: MetricSpec = { name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 };
const simulated = (initial?: string): Target => ({ kind: 'simulated', ...(initial ? { initial: { image: initial, config: {} } } : {}) });
const nomad = { kind: 'nomad' } as unknown as Target;

let dir: string;
let fleet: SimulatedFleet;
let activities: RolloutActivities;
beforeEach(() => {
  dir = tempDir('meridian-activities-');
  fleet = new SimulatedFleet(join(dir, 'fleet.json'));
  activities = createActivities({ fleet });
});

function preflightInput(overrides: Partial<PreflightInput> = {}): PreflightInput {
  return {
    rolloutId,
    service: 'checkout',
    image,
    regions: [
      { name: 'eu-west-1', target: simulated('registry.example.com/shop/checkout:2.3.1') },
      { name: 'us-east-1', target: simulated() },
    ],
    metrics: [errorRate],
    simulation: { faults: ['us-east-1: fail restore 1 time'], baseline: { error_rate: 0.004 } },
    ...overrides,
  };
}

function ref(region: string, step: string, target: Target = simulated()): RegionRef {
  return { rolloutId, service: 'checkout', region, target, key: `${rolloutId}/${region}/${step}` };
}

describe('preflight', () => {
  it('registers the faults and seeds every region when all is well', async () => {
    expect(await activities.preflight(preflightInput())).toEqual([]);
    expect(fleet.faults(rolloutId)).toEqual([{ kind: 'operation', region: 'us-east-1', op: 'restore', times: 1 }]);
    expect(fleet.regions('checkout').map((r) => [r.name, r.stable.image, r.weight, r.journal])).toEqual([
      ['eu-west-1', 'registry.example.com/shop/checkout:2.3.1', 0, []],
      ['us-east-1', 'registry.example.com/shop/checkout:previous', 0, []],
    ]);
    expect(fleet.metricValue('checkout', 'us-east-1', 'error_rate', 'canary', rolloutId)).toBe(0.004);
  });

  it('names every problem with its region, metric or fault line, and registers nothing', async () => {
    const problems = await activities.preflight(
      preflightInput({
        regions: [
          { name: 'eu-west-1', target: nomad },
          { name: 'us-east-1', target: simulated() },
        ],
        metrics: [errorRate, { ...errorRate, name: 'latency', provider: { type: 'datadog' } as unknown as MetricSpec['provider'] }],
        simulation: {
          faults: ['us-east-1: fail rollback 2 times', 'ap-south-1: fail restore 1 time', 'us-east-1: cpu 0.9 always', 'garbage'],
          baseline: {},
        },
      }),
    );
    expect(problems).toEqual([
      { region: 'eu-west-1', message: 'target kind "nomad" has no driver (known: simulated, kubernetes)' },
      { message: 'metric "latency": provider type "datadog" is not registered (known: simulated, prometheus, web, sql)' },
      { message: 'faults[0]: unknown operation "rollback" (known: snapshot, deploy, setWeight, promote, cutTraffic, restoreTraffic, restoreWorkload, restore)' },
      { message: 'faults[1]: region "ap-south-1" is not part of this rollout (regions: eu-west-1, us-east-1)' },
      { region: 'us-east-1', message: `faults[2]: metric "cpu" is not one of the rollout's metrics (error_rate, latency)` },
      {
        message:
          'faults[3]: expected "<region>: <metric> <value|nodata> when weight >= <n>", "<region>: fail <op> <n> times" or "<region>: delay <op> <duration>", got "garbage"',
      },
    ]);
    expect(fleet.faults(rolloutId)).toEqual([]);
    expect(fleet.regions()).toEqual([]);
  });

  it('reports a provider that says it is offline', async () => {
    const offline: MetricProvider = { type: 'simulated', query: async () => 0, isOnline: async () => false };
    const problems = await createActivities({ fleet, providers: [offline] }).preflight(preflightInput());
    expect(problems).toEqual([{ message: 'metric "error_rate": provider "simulated" is offline (it reports itself offline)' }]);
  });
});

describe('region operations', () => {
  it('drive the simulated fleet through the target driver, idempotently', async () => {
    await activities.preflight(preflightInput());
    const known = await activities.snapshotRegion(ref('eu-west-1', 'snapshot'));
    await activities.deployCanary({ ...ref('eu-west-1', 'deploy'), image, config: { A: '1' } });
    await activities.setWeight({ ...ref('eu-west-1', 'step-0'), weight: 30 });
    await activities.setWeight({ ...ref('eu-west-1', 'step-0'), weight: 30 });
    expect(fleet.region('checkout', 'eu-west-1')).toMatchObject({ canary: { image, config: { A: '1' } }, weight: 30 });
    await activities.promote({ ...ref('eu-west-1', 'promote'), image, config: { A: '1' } });
    await activities.restoreTraffic({ ...ref('eu-west-1', 'undo-traffic'), weight: known.weight });
    await activities.restoreWorkload({ ...ref('eu-west-1', 'undo-workload'), snapshot: known });
    expect(fleet.region('checkout', 'eu-west-1')).toMatchObject({
      stable: { image: 'registry.example.com/shop/checkout:2.3.1' },
      canary: null,
      weight: 0,
    });
    expect(fleet.journal('checkout', 'eu-west-1').map((e) => `${e.op}:${e.effect}`)).toEqual([
      'snapshot:applied',
      'deployCanary:applied',
      'setWeight:applied',
      'setWeight:noop',
      'promote:applied',
      'restoreTraffic:applied',
      'restoreWorkload:applied',
    ]);
  });

  it('a scripted fault is a retryable failure; an unknown target kind a permanent one', async () => {
    await activities.preflight(preflightInput());
    const fault = await activities.restoreTraffic({ ...ref('us-east-1', 'undo-traffic'), weight: 0 }).catch((e) => e);
    expect(fault).toBeInstanceOf(ApplicationFailure);
    expect(fault).toMatchObject({ nonRetryable: false, message: 'simulated fault: restore failed in us-east-1 (no more scripted failures)' });
    await activities.restoreTraffic({ ...ref('us-east-1', 'undo-traffic'), weight: 0 });

    const unknown = await activities.snapshotRegion(ref('eu-west-1', 'snapshot', nomad)).catch((e) => e);
    expect(unknown).toBeInstanceOf(ApplicationFailure);
    expect(unknown).toMatchObject({ nonRetryable: true, type: 'UnknownTargetKind', message: 'unknown target kind "nomad" (known: simulated, kubernetes)' });
  });
});
