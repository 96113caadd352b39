import type { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JournalEntry } from '../../activities/fleet/state';
import type { SimulatedFleet } from '../../activities/fleet/fleet';
import type { RolloutStatus } from '../../domain/status';
import { FAILURE } from '../../domain/vocabulary';
import { imageOf, oldImageOf, proto, REGIONS, releasePlan, releaseSpec, SERVICES, UNCHANGED } from '../support/release';
import { startTimeSkipping } from './harness';
import { endedHow, withRollout } from './support';
import { rolloutWorkflow } from '../../workflows';

/** When each service's new version first took traffic and when it was promoted, in one region, from the fleet journal. */
function milestones(fleet: SimulatedFleet, service: string, region: string) {
  const applied = fleet.journal(service, region).filter((e) => e.effect === 'applied');
  const at = (pred: (e: JournalEntry) => boolean) => applied.find(pred)?.at;
  return { canary: at((e) => e.op === 'setWeight' && e.weight > 0), promoted: at((e) => e.op === 'promote'), deployed: at((e) => e.op === 'deployCanary') };
}

/**
 * The version-skew invariant, sampled at every change of the region (changes within one millisecond
 * count as one): a new checkout never serves while orders still serves its old version, nor a new
 * orders while ledger does. A service serves its new version once promoted (until its workload is
 * restored) or while its canary has weight.
 */
function expectNoSkew(fleet: SimulatedFleet, region: string): void {
  const journal = SERVICES.flatMap((service) => fleet.journal(service, region).filter((e) => e.effect === 'applied').map((e) => ({ service, ...e })));
  const times = [...new Set(journal.map((e) => e.at))].sort();
  const state = new Map<string, { weight: number; promoted: boolean }>(SERVICES.map((s) => [s, { weight: 0, promoted: false }]));
  for (const at of times) {
    for (const e of journal.filter((j) => j.at === at)) {
      const s = state.get(e.service)!;
      if (e.op === 'setWeight' || e.op === 'restoreTraffic') s.weight = e.weight;
      if (e.op === 'promote') Object.assign(s, { weight: 100, promoted: true });
      if (e.op === 'restoreWorkload') Object.assign(s, { weight: e.weight, promoted: false });
    }
    for (const [consumer, provider] of [['checkout', 'orders'], ['orders', 'ledger']] as const) {
      const c = state.get(consumer)!;
      const p = state.get(provider)!;
      expect(!(c.promoted || c.weight > 0) || p.promoted, `${region} at ${at}: new ${consumer} serves while ${provider} is not promoted`).toBe(true);
    }
  }
}

const undoOrder = (status: RolloutStatus, region: string) =>
  status.audit.filter((a) => a.action === 'undo' && a.region === region).map((a) => `${a.service}:${(a.data as { undo: string }).undo}`);

describe('a release of ledger, orders and checkout on the time-skipping server', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await startTimeSkipping();
  }, 120_000);
  afterAll(async () => {
    await env?.teardown();
  });

  it('rolls out each region in dependency order, wave by wave, and records what each region now runs', async () => {
    const fleet = await withRollout(env, releasePlan(releaseSpec()), async (run) => {
      const { status, failure } = await run.end();
      expect(status.phase, endedHow(status, failure)).toBe('Succeeded');
      for (const r of status.regions) {
        expect(r.phase).toBe('Promoted');
        expect(r.services!.map((s) => [s.service, s.phase, s.weight])).toEqual(SERVICES.map((s) => [s, 'Promoted', 100]));
      }
    });
    for (const region of REGIONS) {
      const [ledger, orders, checkout] = SERVICES.map((s) => milestones(fleet, s, region));
      expect(orders!.deployed! >= ledger!.promoted!, `${region}: orders deployed before ledger was promoted`).toBe(true);
      expect(checkout!.deployed! >= orders!.promoted!, `${region}: checkout deployed before orders was promoted`).toBe(true);
      for (const s of SERVICES) expect(fleet.region(s, region)?.stable.image).toBe(imageOf(s));
      expectNoSkew(fleet, region);
      expect(fleet.readContracts({ service: 'orders', region })?.provides.map((c) => c.contract)).toEqual(['orders.v1']);
      expect(fleet.readContracts({ service: 'checkout', region })?.version).toBe('2.0.0');
    }
    const firstPromoteOf = (region: string) => milestones(fleet, 'ledger', region).promoted!;
    const lastBakeEnd = (region: string) => milestones(fleet, 'checkout', region).promoted!;
    expect(firstPromoteOf('us-east-1') > lastBakeEnd('eu-west-1'), 'wave 2 starts after every service of wave 1').toBe(true);
  }, 180_000);

  it('a breach in checkout in wave 2 rolls every touched region back, newest wave first, checkout before orders before ledger', async () => {
    const spec = releaseSpec(UNCHANGED, ['checkout/us-east-1: checkout_errors 0.08 when weight >= 25']);
    const fleet = await withRollout(env, releasePlan(spec), async (run) => {
      const { status, failure } = await run.end();
      expect(status.phase, endedHow(status, failure)).toBe('RolledBack');
      const failed = status.audit.find((a) => a.action === 'service-failed');
      expect(failed).toMatchObject({ region: 'us-east-1', service: 'checkout' });
      const verdict = status.audit.find((a) => a.action === 'analysis-failed' && a.service === 'checkout');
      expect(verdict?.data).toMatchObject({ metric: 'checkout_errors', value: 0.08, threshold: { max: 0.02 } });
      for (const region of ['us-east-1', 'eu-west-1']) {
        const order = undoOrder(status, region);
        const services = [...new Set(order.map((o) => o.split(':')[0]))];
        expect(services, `${region} undo order`).toEqual(['checkout', 'orders', 'ledger']);
        expect(order.filter((o) => o.startsWith('checkout:'))).toEqual(['checkout:restoreTraffic', 'checkout:restoreWorkload']);
      }
      const undos = status.audit.filter((a) => a.action === 'undo').map((a) => a.region);
      expect(undos.lastIndexOf('us-east-1') < undos.indexOf('eu-west-1'), 'wave 2 is undone before wave 1').toBe(true);
      expect(regionPhase(status, 'ap-south-1')).toBe('Cancelled');
    });
    for (const region of ['eu-west-1', 'us-east-1']) {
      for (const s of SERVICES) {
        expect(fleet.region(s, region)).toMatchObject({ stable: { image: oldImageOf(s) }, canary: null, weight: 0 });
      }
      expectNoSkew(fleet, region);
    }
    expect(SERVICES.flatMap((s) => fleet.journal(s, 'ap-south-1').filter((e) => e.op !== 'snapshot'))).toEqual([]);
    expect(fleet.readContracts({ service: 'orders', region: 'eu-west-1' })).toBeUndefined();
  }, 180_000);

  it('a breach in one region stops the release regions running beside it, and rolls every service there back', async () => {
    const spec = releaseSpec(UNCHANGED, ['checkout/us-east-1: checkout_errors 0.08 when weight >= 25'], [['eu-west-1'], ['us-east-1', 'ap-south-1']]);
    const fleet = await withRollout(env, releasePlan(spec), async (run) => {
      const { status, failure } = await run.end();
      expect(status.phase, endedHow(status, failure)).toBe('RolledBack');
      expect(status.regions.map((r) => r.phase)).toEqual(['RolledBack', 'RolledBack', 'RolledBack']);
    });
    for (const region of REGIONS) {
      for (const s of SERVICES) expect(fleet.region(s, region) ?? { stable: { image: oldImageOf(s) }, canary: null, weight: 0 }).toMatchObject({ stable: { image: oldImageOf(s) }, canary: null, weight: 0 });
      expectNoSkew(fleet, region);
    }
  }, 180_000);

  it('refuses a breaking protobuf change while old consumers run, before anything changes', async () => {
    const spec = releaseSpec({ next: proto('remove-field/next'), running: proto('remove-field/previous'), expects: proto('remove-field/previous') });
    const fleet = await withRollout(env, releasePlan(spec), async (run) => {
      const { status, failure } = await run.end();
      expect(status.phase, endedHow(status, failure)).toBe('Failed');
      expect(failure?.cause).toMatchObject({ type: FAILURE.preflightFailed });
      const refused = status.audit.find((a) => a.action === 'preflight-failed')!;
      expect(refused.reason).toContain('contract "orders.v1"');
      expect(refused.reason).toMatch(/field Order\.\w+/);
      expect(refused.reason).toContain('checkout');
    });
    for (const region of REGIONS) for (const s of SERVICES) expect(fleet.journal(s, region).filter((e) => e.op !== 'snapshot')).toEqual([]);
  }, 120_000);

  it('checks the next release against what the last one recorded, before the spec\'s running files', async () => {
    const first = releasePlan(releaseSpec({ next: proto('remove-field/previous'), running: proto('remove-field/previous'), expects: proto('remove-field/previous') }));
    // The spec claims every region already runs the new contract; the record of the first release says otherwise.
    const second = releasePlan(releaseSpec({ next: proto('remove-field/next'), running: proto('remove-field/next'), expects: proto('remove-field/next') }));
    await withRollout(env, first, async (run) => {
      const { status, failure } = await run.end();
      expect(status.phase, endedHow(status, failure)).toBe('Succeeded');
      expect(run.fleet.readContracts({ service: 'orders', region: 'eu-west-1' })?.provides[0]?.files).toEqual(proto('remove-field/previous'));
      const next = await env.client.workflow.start(rolloutWorkflow, {
        taskQueue: run.worker.options.taskQueue,
        workflowId: `${run.handle.workflowId}-next`,
        args: [{ plan: second, startedBy: 'test', searchAttributes: false }],
      });
      const refused = await next.result().then(
        () => undefined,
        (err: WorkflowFailedError) => err.cause,
      );
      expect(refused).toMatchObject({ type: FAILURE.preflightFailed });
      expect((refused as Error).message).toMatch(/contract "orders\.v1": orders 2\.0\.0 breaks field Order\.currency \(#3\) of the version 2\.0\.0 provides/);
    });
  }, 180_000);

  it('refuses a dependsOn too weak for what the new consumer needs, naming the fix', async () => {
    const spec = releaseSpec({ next: proto('add-field/next'), running: proto('add-field/previous'), expects: proto('add-field/next'), checkoutWaits: 'canary' });
    await withRollout(env, releasePlan(spec), async (run) => {
      const { status, failure } = await run.end();
      expect(status.phase, endedHow(status, failure)).toBe('Failed');
      const refused = status.audit.find((a) => a.action === 'preflight-failed')!;
      expect(refused.reason).toContain('add {service: orders, until: promoted} to services[2].dependsOn');
    });
    const ok = releaseSpec({ next: proto('add-field/next'), running: proto('add-field/previous'), expects: proto('add-field/next'), checkoutWaits: 'promoted' });
    await withRollout(env, releasePlan(ok), async (run) => {
      const { status, failure } = await run.end();
      expect(status.phase, endedHow(status, failure)).toBe('Succeeded');
    });
  }, 180_000);
});

function regionPhase(status: RolloutStatus, region: string) {
  return status.regions.find((r) => r.name === region)?.phase;
}
