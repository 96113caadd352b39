import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryPrometheus } from '../../activities/metrics/prometheus';
import type { MetricContext } from '../../activities/metrics/provider';
import { prometheusProvider as prometheusSchema } from '../../domain/spec';
import { startDemoService, type DemoService } from '../support/demo-service';
import { startLoad, type Load } from '../support/load';
import { startPrometheus, type RunningPrometheus } from '../support/prometheus';

/**
 * Two services on one real Prometheus: checkout's `GET /` reads `total` from orders' `GET /order`.
 * The new orders version drops `total` and still answers 200; the breakage shows as checkout's own
 * 5xx rate once checkout calls it, told apart from orders by the `service` label.
 */
const ORDERS_OLD = '1.4.0';
const ORDERS_NEW = '1.5.0';
const CHECKOUT_STABLE = '2.3.1';
const CHECKOUT_CANARY = '2.4.0';

const selector = (filter: string) => `http_requests_total{service="{{service}}"${filter}}`;
const ERROR_RATE = `sum(rate(${selector(',code=~"5.."')}[4s])) / sum(rate(${selector('')}[4s]))`;
const VERSION_ERROR_RATE = `sum(rate(${selector(',version="{{version}}",code=~"5.."')}[4s])) / sum(rate(${selector(',version="{{version}}"')}[4s]))`;
const VERSION_REQUEST_RATE = `sum(rate(${selector(',version="{{version}}"')}[4s]))`;

let orders: DemoService;
let checkout: DemoService;
let prom: RunningPrometheus;
let load: Load;

const ctx = (service: string, version: string): MetricContext => ({
  rolloutId: `rollout/${service}/${version}`,
  service,
  region: 'eu-west-1',
  version,
  role: 'canary',
});
const query = (promql: string, service: string, version = '') =>
  queryPrometheus(prometheusSchema.parse({ type: 'prometheus', address: prom.address, query: promql }), ctx(service, version));

/** Queries every 500 ms until `done` holds for the value or `timeoutMs` passes; returns the last value for the assertion. */
async function settled(read: () => Promise<number | undefined>, done: (v: number | undefined) => boolean, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    value = await read();
  }
  return value;
}

beforeAll(async () => {
  orders = await startDemoService({
    service: 'orders',
    versions: [{ version: ORDERS_OLD }, { version: ORDERS_NEW, dropFields: ['total'] }],
  });
  checkout = await startDemoService({
    service: 'checkout',
    versions: [
      { version: CHECKOUT_STABLE, upstream: orders.urls[ORDERS_OLD]! },
      { version: CHECKOUT_CANARY, upstream: orders.urls[ORDERS_OLD]! },
    ],
  });
  prom = await startPrometheus([
    { url: orders.urls[ORDERS_OLD]!, labels: { role: 'stable', region: 'eu-west-1' } },
    { url: orders.urls[ORDERS_NEW]!, labels: { role: 'canary', region: 'eu-west-1' } },
    { url: checkout.urls[CHECKOUT_STABLE]!, labels: { role: 'stable', region: 'eu-west-1' } },
    { url: checkout.urls[CHECKOUT_CANARY]!, labels: { role: 'canary', region: 'eu-west-1' } },
  ]);
  await prom.waitForTargets();
  load = startLoad({
    urls: [checkout.urls[CHECKOUT_STABLE]!, checkout.urls[CHECKOUT_CANARY]!],
    concurrency: 8,
    maxRequests: 200_000,
    maxDurationMs: 90_000,
  });
});

afterAll(async () => {
  await load?.stop();
  await prom?.stop();
  await checkout?.stop();
  await orders?.stop();
});

describe('checkout calling orders, measured by a real Prometheus', () => {
  it('checkout has no errors while it calls the orders version that keeps total', async () => {
    const served = await settled(
      () => query(VERSION_REQUEST_RATE, 'checkout', CHECKOUT_CANARY),
      (v) => v !== undefined && v > 10,
    );
    expect(served).toBeGreaterThan(10);
    // A few scrapes of traffic, so the 4s windows below hold only requests served under load.
    await new Promise((r) => setTimeout(r, 5_000));
    expect(await query(ERROR_RATE, 'checkout')).toBeLessThan(0.01);
    expect(await query(VERSION_ERROR_RATE, 'checkout', CHECKOUT_CANARY)).toBeLessThan(0.01);
    // Every checkout request became one old-orders request; the new orders version got none.
    expect(await query(VERSION_REQUEST_RATE, 'orders', ORDERS_OLD)).toBeGreaterThan(10);
    expect(await query(VERSION_REQUEST_RATE, 'orders', ORDERS_NEW)).toBe(0);
  });

  it("checkout's canary fails once it calls the orders version that drops total, while orders itself stays healthy", async () => {
    await checkout.control(CHECKOUT_CANARY, { upstream: orders.urls[ORDERS_NEW]! });
    const canary = await settled(
      () => query(VERSION_ERROR_RATE, 'checkout', CHECKOUT_CANARY),
      (v) => v !== undefined && v > 0.99,
    );
    expect(canary).toBeGreaterThan(0.99);
    expect(await query(VERSION_ERROR_RATE, 'checkout', CHECKOUT_STABLE)).toBeLessThan(0.01);
    // The new orders version answers 200 to every call: only its caller sees the missing field.
    expect(await query(VERSION_REQUEST_RATE, 'orders', ORDERS_NEW)).toBeGreaterThan(10);
    expect(await query(VERSION_ERROR_RATE, 'orders', ORDERS_NEW)).toBe(0);
    expect(await query(ERROR_RATE, 'orders')).toBe(0);
  });

  it("checkout's error rate rises above 0.5 once both its versions call the new orders, and falls back when pointed at the old", async () => {
    await checkout.control(CHECKOUT_STABLE, { upstream: orders.urls[ORDERS_NEW]! });
    const broken = await settled(
      () => query(ERROR_RATE, 'checkout'),
      (v) => v !== undefined && v > 0.99,
    );
    expect(broken).toBeGreaterThan(0.5);

    await checkout.control(CHECKOUT_STABLE, { upstream: orders.urls[ORDERS_OLD]! });
    await checkout.control(CHECKOUT_CANARY, { upstream: orders.urls[ORDERS_OLD]! });
    const recovered = await settled(
      () => query(ERROR_RATE, 'checkout'),
      (v) => v !== undefined && v < 0.01,
    );
    expect(recovered).toBeLessThan(0.01);
  });
});
