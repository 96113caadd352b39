import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimulatedFleet } from '../../activities/fleet/fleet';
import { queryPrometheus } from '../../activities/metrics/prometheus';
import { prometheusProvider as prometheusSchema, type RolloutSpecInput } from '../../domain/spec';
import { validateSpec } from '../../domain/validate';
import { startDemoService, type DemoService } from '../support/demo-service';
import { startLoad, type Load } from '../support/load';
import { startPrometheus, type RunningPrometheus } from '../support/prometheus';
import { auditOf } from '../support/status';
import { followWeight, startTrafficSplit, type TrafficSplit } from '../support/traffic-split';
import { startTimeSkipping } from '../workflows/harness';
import { endedHow, withRollout } from '../workflows/support';

/**
 * A release of orders and checkout on simulated targets, judged by a real Prometheus scraping the
 * real services, where checkout's `GET /` calls orders' `GET /order` over HTTP. The new orders drops
 * `total` and still answers 200; no contract file says checkout needs it, so only checkout's own
 * 5xx rate shows the break. Checkout reaches orders through a traffic split that follows orders'
 * canary weight in the simulated fleet, as the traffic layer of a real region would.
 */
const REGION = 'eu-west-1';
const ORDERS_OLD = '1.4.0';
const ORDERS_NEW = '1.5.0';
const CHECKOUT_OLD = '2.3.1';
const CHECKOUT_NEW = '2.4.0';
const OLD_IMAGE = { orders: `registry.test/shop/orders:${ORDERS_OLD}`, checkout: `registry.test/shop/checkout:${CHECKOUT_OLD}` };
const NEW_IMAGE = { orders: `registry.test/shop/orders@sha256:${'1'.repeat(64)}`, checkout: `registry.test/shop/checkout@sha256:${'2'.repeat(64)}` };
const THRESHOLD = 0.02;

type AnalysisInput = Extract<RolloutSpecInput['steps'][number], { kind: 'analysis' }>;

const requests = (filter: string) => `http_requests_total{service="{{service}}"${filter}}`;
/**
 * Checkout's 5xx share over both its versions, told apart from orders' series by the `service` label:
 * `{{service}}` is the service the metric belongs to, checkout, also in orders' analysis step.
 * The 8s window holds a few hundred requests, so orders' 1% step reads about 0.01, well under the
 * threshold, and one second of its 25% step already reads above it.
 */
const CHECKOUT_ERRORS = `sum(rate(${requests(',code=~"5.."')}[8s])) / sum(rate(${requests('')}[8s]))`;

let env: TestWorkflowEnvironment;
let orders: DemoService;
let checkout: DemoService;
let split: TrafficSplit;
let prom: RunningPrometheus;
let load: Load;

/** An instant query as Meridian sends it for checkout's metrics: `{{service}}` is checkout. */
const query = (promql: string) =>
  queryPrometheus(prometheusSchema.parse({ type: 'prometheus', address: prom.address, query: promql }), {
    rolloutId: 'test',
    service: 'checkout',
    version: CHECKOUT_NEW,
    region: REGION,
    role: 'canary',
  });

/** Queries every 500 ms until `done` holds for the value or `timeoutMs` passes; returns the last value for the assertion. */
async function settled(promql: string, done: (v: number | undefined) => boolean, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let value = await query(promql);
  while (!done(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    value = await query(promql);
  }
  return value;
}

/** The share of orders' traffic on its new version in the simulated fleet: the canary's weight, or all of it once the new version is stable. */
function ordersNewShare(fleet: SimulatedFleet): number {
  const r = fleet.region('orders', REGION);
  if (!r) return 0;
  if (r.canary) return r.weight;
  return r.stable.image === NEW_IMAGE.orders ? 100 : 0;
}

const simulated = (service: keyof typeof OLD_IMAGE) => ({ [REGION]: { kind: 'simulated' as const, initial: { image: OLD_IMAGE[service] } } });
const analysis = (over: Partial<AnalysisInput> = {}): AnalysisInput => ({
  kind: 'analysis',
  metrics: ['checkout_errors'],
  interval: '500ms',
  sustainedFor: '15s',
  minSamples: 5,
  ...over,
});

function releasePlan() {
  const spec: RolloutSpecInput = {
    service: 'shop',
    version: '2026.12.1',
    regions: [{ name: REGION }],
    waves: [{ name: 'canary', regions: [REGION] }],
    // The release's default steps; each service gives its own.
    steps: [{ kind: 'setWeight', weight: 25 }, analysis()],
    bake: '1s',
    metrics: [
      { name: 'checkout_errors', service: 'checkout', provider: { type: 'prometheus', address: prom.address, query: CHECKOUT_ERRORS }, max: THRESHOLD },
    ],
    services: [
      {
        name: 'orders',
        version: ORDERS_NEW,
        image: NEW_IMAGE.orders,
        targets: simulated('orders'),
        // At 1% checkout's canary starts against a region still under the threshold (its health
        // check before any change passes); then the checkout error rate, while orders is at 25%.
        steps: [
          { kind: 'setWeight', weight: 1 },
          analysis({ sustainedFor: '5s' }),
          { kind: 'setWeight', weight: 25 },
          analysis(),
          { kind: 'setWeight', weight: 100 },
        ],
      },
      {
        name: 'checkout',
        version: CHECKOUT_NEW,
        image: NEW_IMAGE.checkout,
        targets: simulated('checkout'),
        dependsOn: [{ service: 'orders', until: 'canary' }],
        // Checkout judges its own error rate leniently, tolerating three seconds of bad samples, so
        // the verdict comes from orders' strict step; it is still analysing when orders fails.
        steps: [{ kind: 'setWeight', weight: 25 }, analysis({ sustainedFor: '60s', failureLimit: 6 }), { kind: 'setWeight', weight: 100 }],
      },
    ],
  };
  const v = validateSpec(spec);
  if (!v.ok) throw new Error(v.problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return v.plan;
}

beforeAll(async () => {
  env = await startTimeSkipping();
  orders = await startDemoService({ service: 'orders', versions: [{ version: ORDERS_OLD }, { version: ORDERS_NEW, dropFields: ['total'] }] });
  split = await startTrafficSplit({ stable: orders.urls[ORDERS_OLD]!, canary: orders.urls[ORDERS_NEW]! });
  checkout = await startDemoService({
    service: 'checkout',
    versions: [
      { version: CHECKOUT_OLD, upstream: split.url },
      { version: CHECKOUT_NEW, upstream: split.url },
    ],
  });
  prom = await startPrometheus([
    { url: orders.urls[ORDERS_OLD]!, labels: { role: 'stable', region: REGION } },
    { url: orders.urls[ORDERS_NEW]!, labels: { role: 'canary', region: REGION } },
    { url: checkout.urls[CHECKOUT_OLD]!, labels: { role: 'stable', region: REGION } },
    { url: checkout.urls[CHECKOUT_NEW]!, labels: { role: 'canary', region: REGION } },
  ]);
  await prom.waitForTargets();
  load = startLoad({ urls: [checkout.urls[CHECKOUT_OLD]!, checkout.urls[CHECKOUT_NEW]!], concurrency: 6, maxRequests: 400_000, maxDurationMs: 150_000 });
}, 60_000);

afterAll(async () => {
  await load?.stop();
  await prom?.stop();
  await checkout?.stop();
  await split?.stop();
  await orders?.stop();
  await env?.teardown();
});

describe('a release of orders and checkout on a real Prometheus, checkout calling orders over HTTP', () => {
  it("orders' canary breaks checkout without breaking itself; orders' analysis fails on checkout_errors and the release rolls back, checkout first", async () => {
    // Checkout serves under load on the old orders before anything changes; then a few scrapes more,
    // so the 8s windows hold only requests served under load.
    expect(await settled(`sum(rate(${requests('')}[8s]))`, (v) => v !== undefined && v > 50)).toBeGreaterThan(50);
    await new Promise((r) => setTimeout(r, 9_000));
    expect(await query(CHECKOUT_ERRORS)).toBeLessThan(0.01);
    expect(split.forwarded.canary).toBe(0);

    const fleet = await withRollout(env, releasePlan(), async (run) => {
      const follower = followWeight(split, () => ordersNewShare(run.fleet));
      try {
        const { status, failure } = await run.end();
        expect(status.phase, endedHow(status, failure)).toBe('RolledBack');

        // At 1% the real checkout error rate stayed under the threshold and orders moved on.
        const passed = auditOf(status, 'analysis-passed').filter((a) => a.service === 'orders');
        expect(passed).toMatchObject([{ region: REGION, data: { weight: 1 } }]);
        expect((passed[0]!.data as { values: Record<string, number> }).values.checkout_errors).toBeLessThan(THRESHOLD);

        const failed = auditOf(status, 'analysis-failed');
        expect(failed[0], endedHow(status, failure)).toMatchObject({
          region: REGION,
          service: 'orders',
          data: { metric: 'checkout_errors', weight: 25, threshold: { max: THRESHOLD } },
        });
        // Read from Prometheus: above the threshold, and at most the quarter of checkout's calls that reached the new orders.
        const value = failed[0]!.data!.value!;
        expect(value).toBeGreaterThan(THRESHOLD);
        expect(value).toBeLessThanOrEqual(0.3);
        expect(auditOf(status, 'service-failed')).toMatchObject([{ region: REGION, service: 'orders' }]);

        const undos = auditOf(status, 'undo').map((a) => `${a.service}:${(a.data as { undo: string }).undo}`);
        expect(undos).toEqual(['checkout:restoreTraffic', 'checkout:restoreWorkload', 'orders:restoreTraffic', 'orders:restoreWorkload']);

        // Checkout's canary took traffic once orders' canary did, without waiting for orders' promotion, which never came.
        const applied = (service: string) => run.fleet.journal(service, REGION).filter((e) => e.effect === 'applied');
        const checkoutCanary = applied('checkout').find((e) => e.op === 'setWeight' && e.weight > 0);
        const ordersCanary = applied('orders').find((e) => e.op === 'setWeight' && e.weight > 0);
        expect(checkoutCanary!.at >= ordersCanary!.at).toBe(true);
        expect(applied('orders').filter((e) => e.op === 'promote')).toEqual([]);

        // The split followed orders' weight through 1% and 25% and back to 0, and checkout's calls met the new orders meanwhile.
        await settledWeight(follower.changes, 0);
        expect(follower.changes.map((c) => c.weight)).toEqual([0, 1, 25, 0]);
        expect(split.forwarded.canary).toBeGreaterThan(10);

        // The new orders answered every call it got with 200: only its caller saw the missing field.
        expect(await query(`sum(increase(http_requests_total{service="orders",version="${ORDERS_NEW}"}[1m]))`)).toBeGreaterThan(10);
        expect(await query(`sum(increase(http_requests_total{service="orders",version="${ORDERS_NEW}",code=~"5.."}[1m]))`)).toBe(0);

        const recovered = await settled(CHECKOUT_ERRORS, (v) => v !== undefined && v < THRESHOLD);
        expect(recovered).toBeLessThan(THRESHOLD);
      } finally {
        await follower.stop();
      }
    });
    for (const service of ['orders', 'checkout'] as const) {
      expect(fleet.region(service, REGION), service).toMatchObject({ stable: { image: OLD_IMAGE[service] }, canary: null, weight: 0 });
    }
  }, 120_000);
});

/** Waits for the split's last weight to be `weight`; the follower polls the fleet every 100 ms. */
async function settledWeight(changes: { weight: number }[], weight: number, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (changes.at(-1)?.weight !== weight && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}
