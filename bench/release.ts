/**
 * Releases of several services on the dev server and the simulated fleet: how long a consumer's
 * breach takes to put every service of its region back on stable, and how much history the
 * release's own workflow writes per service and region.
 *
 *   MERIDIAN_BENCH_ONLY=releaseBreachToStable,releaseHistory npm run bench
 */
import type { SimulatedFleet } from '../activities/fleet';
import type { RolloutClient } from '../client/rollout-client';
import type { RolloutPlan } from '../domain/plan';
import type { RolloutSpecInput } from '../domain/spec';
import type { AuditEntry, Verdict } from '../domain/status';
import { formatProblem, validateSpec } from '../domain/validate';
import { quantile, round } from './stats';

/** Providers first: orders calls ledger, checkout calls orders. */
const SERVICES = ['ledger', 'orders', 'checkout'] as const;
const METRIC: Record<string, string> = { ledger: 'ledger_errors', orders: 'orders_errors', checkout: 'checkout_errors' };
const oldImage = (service: string) => `registry.bench/shop/${service}:1.0.0`;
const newImage = (service: string) => `registry.bench/shop/${service}@sha256:${'0123456789abcdef'.repeat(4)}`;


/** Three samples 200 ms apart, healthy for 600 ms, of one metric. */
const analysis = (metric: string) => ({ kind: 'analysis', metrics: [metric], interval: '200ms', sustainedFor: '600ms', minSamples: 3 });
/** Each service's steps, judged on its own error rate: 10% then 50% for the history figure, 50% at once for the breach. */
const TWO_WEIGHTS = (metric: string) => [{ kind: 'setWeight', weight: 10 }, analysis(metric), { kind: 'setWeight', weight: 50 }, analysis(metric)];
const HALF = (metric: string) => [{ kind: 'setWeight', weight: 50 }, analysis(metric)];

interface Layout {
  /** How many of ledger <- orders <- checkout; none: a rollout of ledger alone, without `services`. */
  services?: number;
  waves: string[][];
  steps: (metric: string) => unknown[];
  faults?: string[];
}

/**
 * A release of the first `services` of ledger <- orders <- checkout, each waiting for its
 * provider's promotion in every region, on simulated targets that ran each service's 1.0.0; or,
 * without `services`, the one-service rollout of ledger with the same steps.
 */
function releasePlan(name: string, layout: Layout): RolloutPlan {
  const regions = layout.waves.flat();
  const common = {
    service: name,
    version: '2.0.0',
    failurePolicy: 'rollback-all',
    waves: layout.waves.map((rs, i) => ({ name: `wave-${i + 1}`, regions: rs })),
    bake: '500ms',
  };
  const target = (s: string) => ({ kind: 'simulated', initial: { image: oldImage(s) } });
  const metric = (s: string) => ({ name: METRIC[s]!, provider: { type: 'simulated' }, max: 0.02 });
  const services = SERVICES.slice(0, layout.services ?? 1);
  const simulation = { baseline: Object.fromEntries(services.map((s) => [METRIC[s]!, 0.004])), faults: layout.faults ?? [] };
  const spec =
    layout.services === undefined
      ? { ...common, image: newImage('ledger'), regions: regions.map((r) => ({ name: r, target: target('ledger') })), metrics: [metric('ledger')], steps: layout.steps(METRIC.ledger!), simulation }
      : {
          ...common,
          regions: regions.map((r) => ({ name: r })),
          steps: [{ kind: 'setWeight', weight: 50 }],
          simulation,
          services: services.map((s, i) => ({
            name: s,
            image: newImage(s),
            targets: Object.fromEntries(regions.map((r) => [r, target(s)])),
            metrics: [metric(s)],
            steps: layout.steps(METRIC[s]!),
            ...(i > 0 ? { dependsOn: [{ service: services[i - 1]!, until: 'promoted' }] } : {}),
          })),
        };
  const v = validateSpec(spec as unknown as RolloutSpecInput);
  if (!v.ok) throw new Error(`bench release spec: ${v.problems.map(formatProblem).join('; ')}`);
  return v.plan;
}

/**
 * When checkout's first failed sample was taken: the failed verdict of its 'analysis-failed' entry
 * (the step's failureLimit is 0, so the sample that failed it is the first), else the entry itself.
 */
function breachAt(audit: AuditEntry[], region: string): number {
  const entry = audit.find((a) => a.action === 'analysis-failed' && a.service === 'checkout' && a.region === region);
  if (!entry) throw new Error(`no analysis-failed entry of checkout in ${region}`);
  const verdicts = (entry.data?.verdicts ?? []) as Verdict[];
  const failed = verdicts.find((v) => v.phase === 'Failed' && v.metric === METRIC.checkout);
  return Date.parse(failed?.at ?? entry.at);
}

/**
 * Checkout's canary breaches at 50% in a one-region release of ledger <- orders <- checkout, with
 * ledger and orders already promoted there. From checkout's first failed sample to the last restore
 * the fleet applied in the region (checkout's traffic and workload, then orders', then ledger's),
 * after which every service runs its old version as stable at weight 0.
 */
export async function releaseBreachFigures(client: RolloutClient, fleet: SimulatedFleet, trials: number) {
  const toStable: number[] = [];
  const toCheckoutTraffic: number[] = [];
  const faultToSample: number[] = [];
  for (let t = 0; t < trials; t++) {
    const region = `release-breach-${t}`;
    const plan = releasePlan(`release-breach-${t}`, { services: 3, waves: [[region]], steps: HALF, faults: [`checkout/${region}: ${METRIC.checkout} 0.09 when weight >= 50`] });
    const id = await client.start(plan, { id: `bench/release-breach-${t}` });
    const status = await client.result(id);
    if (status.phase !== 'RolledBack') throw new Error(`${id} ended ${status.phase}, not RolledBack: ${status.reason ?? ''}`);
    const breach = breachAt(status.audit, region);
    let lastRestore = 0;
    for (const s of SERVICES) {
      const r = fleet.region(s, region);
      if (!r || r.stable.image !== oldImage(s) || r.canary !== null || r.weight !== 0) {
        throw new Error(`${s} in ${region} is not back on stable at weight 0: ${JSON.stringify(r && { stable: r.stable, canary: r.canary, weight: r.weight })}`);
      }
      const restores = r.journal.filter((e) => e.effect === 'applied' && (e.op === 'restoreTraffic' || e.op === 'restoreWorkload'));
      for (const e of restores) lastRestore = Math.max(lastRestore, Date.parse(e.at));
      if (s === 'checkout') {
        toCheckoutTraffic.push(Date.parse(restores.find((e) => e.op === 'restoreTraffic')!.at) - breach);
        const active = r.journal.find((e) => e.effect === 'applied' && e.op === 'setWeight' && e.weight === 50)!;
        faultToSample.push(breach - Date.parse(active.at));
      }
    }
    toStable.push(lastRestore - breach);
  }
  const med = quantile(toStable, 0.5);
  const checkoutMed = quantile(toCheckoutTraffic, 0.5);
  return {
    trials,
    services: SERVICES.length,
    analysisIntervalMs: 200,
    medianMs: round(med),
    p95Ms: round(quantile(toStable, 0.95)),
    samplesMs: toStable,
    checkoutTrafficOnStableMedianMs: round(checkoutMed),
    ratioToCheckoutTrafficOnStable: round(med / checkoutMed, 2),
    perServiceMedianMs: round(med / SERVICES.length),
    faultActiveToFailedSampleMedianMs: round(quantile(faultToSample, 0.5)),
  };
}

/**
 * History the release's own workflow writes (its region stages' and services' stages' excluded):
 * releases of ledger, ledger <- orders and ledger <- orders <- checkout over the same three regions
 * in two waves, no fault; events per service-region, and what each added service-region costs.
 * The same rollout of ledger without `services` is the one-service figure they compare with.
 */
export async function releaseHistoryFigures(client: RolloutClient) {
  const regionNames = ['eu-west-1', 'us-east-1', 'ap-south-1'];
  const parentEvents = async (name: string, services: number | undefined) => {
    const regions = regionNames.map((r) => `${name}-${r}`);
    const plan = releasePlan(name, { services, waves: [[regions[0]!], regions.slice(1)], steps: TWO_WEIGHTS });
    const id = await client.start(plan, { id: `bench/${name}` });
    const status = await client.result(id);
    if (status.phase !== 'Succeeded') throw new Error(`${id} ended ${status.phase}, not Succeeded: ${status.reason ?? ''}`);
    return (await client.client.workflow.getHandle(id).describe()).historyLength;
  };
  const regions = regionNames.length;
  const plain = await parentEvents('events-plain', undefined);
  const byServices: { services: number; parentEvents: number; eventsPerServiceRegion: number }[] = [];
  for (const services of [1, 2, 3]) {
    const events = await parentEvents(`events-release-${services}`, services);
    byServices.push({ services, parentEvents: events, eventsPerServiceRegion: round(events / (services * regions), 1) });
  }
  const [one, , three] = byServices;
  return {
    regions,
    stepsPerService: TWO_WEIGHTS('m').length,
    byServices,
    eventsPerAddedServiceRegion: round((three!.parentEvents - one!.parentEvents) / ((three!.services - one!.services) * regions), 1),
    ratioPerServiceRegion3To1: round(three!.eventsPerServiceRegion / one!.eventsPerServiceRegion, 2),
    oneServiceRolloutEvents: plain,
    oneServiceRolloutEventsPerRegion: round(plain / regions, 1),
    ratioReleaseOf1ToRollout: round(one!.parentEvents / plain, 2),
  };
}
