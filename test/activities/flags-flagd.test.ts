import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlagdProvider } from '@openfeature/flagd-provider';
import { NOOP_PROVIDER, OpenFeature } from '@openfeature/server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flagdDriver, KEY_METADATA } from '../../activities/flags/flagd';
import type { FlagSnapshot } from '../../activities/flags/types';
import { queryPrometheus } from '../../activities/metrics/prometheus';
import type { FlagdProvider as FlagdProviderSpec, FlagSpec } from '../../domain/flags';
import { prometheusProvider as prometheusSchema } from '../../domain/spec';
import { startDemoService, type DemoService } from '../support/demo-service';
import { startLoad } from '../support/load';
import { startPrometheus, type RunningPrometheus } from '../support/prometheus';

/**
 * One region's flagd flag file, written by the flagd driver and read by the demo service through
 * OpenFeature with flagd's in-process evaluator; Prometheus scrapes the service. Users are the load's
 * `user-0` .. `user-999`, each sending the same number of requests, so the share of requests on the
 * new path is the share of users on it.
 */
const SERVICE = 'checkout';
const VERSION = '2.4.0';
const USERS = 1_000;
const CYCLES = 3;
const NEW_PATH_ERROR_RATE = 0.5;
const FLAG: FlagSpec = { key: 'checkout-new-path', variants: { off: false, on: true }, killSwitch: 'off', defaultVariant: 'off' };
/** A flag Meridian never touches, with a targeting rule of its own. */
const OTHER_FLAG = {
  state: 'ENABLED',
  variants: { light: 'light', dark: 'dark' },
  defaultVariant: 'light',
  targeting: { if: [{ '==': [{ var: 'team' }, 'red'] }, 'dark', null] },
};
/** The flag before any rollout: off, except for the QA users, a rule the rollout must keep. */
const FLAG_BEFORE = {
  state: 'ENABLED',
  variants: { off: false, on: true },
  defaultVariant: 'off',
  targeting: { if: [{ in: [{ var: 'targetingKey' }, ['qa-1', 'qa-2']] }, 'on', null] },
  metadata: { owner: 'checkout-team' },
};
const ORIGINAL = `${JSON.stringify({ flags: { 'checkout-theme': OTHER_FLAG, [FLAG.key]: FLAG_BEFORE } }, null, 2)}\n`;

const users = Array.from({ length: USERS }, (_, i) => `user-${i}`);
const region: FlagdProviderSpec = { type: 'flagd', file: 'eu-west-1' };
let dir: string;
let file: string;
let demo: DemoService;
let prom: RunningPrometheus;
let snapshot: FlagSnapshot;
const driver = flagdDriver({ resolveFile: (name) => join(dir, `${name}.flags.json`) });

/** Who is on the new path, per flagd's own evaluator reading the file now (a fresh provider, so no poll delay). */
async function onNewPath(ids: string[]): Promise<Set<string>> {
  const domain = `test-${Math.random().toString(36).slice(2)}`;
  const provider = new FlagdProvider({ resolverType: 'in-process', offlineFlagSourcePath: file });
  await OpenFeature.setProviderAndWait(domain, provider);
  const client = OpenFeature.getClient(domain);
  const on = new Set<string>();
  for (const id of ids) if ((await client.getBooleanDetails(FLAG.key, false, { targetingKey: id })).variant === 'on') on.add(id);
  await OpenFeature.setProviderAndWait(domain, NOOP_PROVIDER);
  await provider.onClose();
  return on;
}

/** The service's own `flag_path_total`, summed by path. */
async function pathCounts(): Promise<{ new: number; all: number }> {
  const text = await (await fetch(`${demo.urls[VERSION]}/metrics`)).text();
  const counts = { new: 0, all: 0 };
  for (const m of text.matchAll(/^flag_path_total\{([^}]*)\} (\S+)$/gm)) {
    const value = Number(m[2]);
    counts.all += value;
    if (m[1]!.includes('path="new"')) counts.new += value;
  }
  return counts;
}

/** What the service answers `user`, once it answers `variant`: the service's provider polls the file every 5 s. */
async function servedVariant(user: string, variant: string, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let seen = '';
  while (Date.now() < deadline) {
    const body = (await (await fetch(demo.urls[VERSION]!, { headers: { 'x-user': user } })).json()) as { flag: { variant: string } };
    seen = body.flag.variant;
    if (seen === variant) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return seen;
}

/** Every user CYCLES times; the service's count of requests per path over exactly that load. */
async function boundedLoad(): Promise<{ new: number; all: number; share: number }> {
  const before = await pathCounts();
  const report = await startLoad({ urls: [demo.urls[VERSION]!], concurrency: 10, maxRequests: USERS * CYCLES, maxDurationMs: 60_000, users: USERS }).done;
  expect(report.sent).toBe(USERS * CYCLES);
  const after = await pathCounts();
  const counted = { new: after.new - before.new, all: after.all - before.all };
  return { ...counted, share: counted.new / counted.all };
}

const prometheus = (promql: string) =>
  queryPrometheus(prometheusSchema.parse({ type: 'prometheus', address: prom.address, query: promql }), {
    rolloutId: `rollout/${SERVICE}/${VERSION}`,
    service: SERVICE,
    region: 'eu-west-1',
    version: VERSION,
    role: 'canary',
  });
const REQUESTS = 'sum(http_requests_total{service="{{service}}",version="{{version}}"})';
const ERRORS = 'sum(http_requests_total{service="{{service}}",version="{{version}}",code=~"5.."})';

/** Requests and errors as Prometheus has them, once it has scraped at least `requests` requests. */
async function scraped(requests: number): Promise<{ requests: number; errors: number }> {
  const deadline = Date.now() + 15_000;
  let seen = 0;
  while (Date.now() < deadline) {
    seen = (await prometheus(REQUESTS)) ?? 0;
    if (seen >= requests) return { requests: seen, errors: (await prometheus(ERRORS)) ?? 0 };
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`Prometheus saw ${seen} requests, not yet ${requests}`);
}

async function servedRequests(): Promise<number> {
  const text = await (await fetch(`${demo.urls[VERSION]}/metrics`)).text();
  return [...text.matchAll(/^http_requests_total\{[^}]*\} (\S+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

const identity = (path: string) => {
  const s = statSync(path);
  return `${s.ino}:${s.mtimeMs}`;
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meridian-flagd-'));
  file = join(dir, `${region.file}.flags.json`);
  writeFileSync(file, ORIGINAL);
  demo = await startDemoService({
    service: SERVICE,
    versions: [{ version: VERSION, flag: { file, key: FLAG.key }, newPathErrorRate: NEW_PATH_ERROR_RATE }],
  });
  prom = await startPrometheus([{ url: demo.urls[VERSION]!, labels: { region: 'eu-west-1' } }]);
  await prom.waitForTargets();
});

afterAll(async () => {
  await prom?.stop();
  await demo?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('flagd flag driver, with the service reading the flag through OpenFeature in process', () => {
  it('before the rollout, no load user is on the new path and Prometheus sees no errors', async () => {
    snapshot = await driver.snapshot(region, FLAG.key);
    expect(snapshot).toEqual({ kind: 'flagd', flagKey: FLAG.key, definition: FLAG_BEFORE });
    const counted = await boundedLoad();
    expect(counted).toEqual({ new: 0, all: USERS * CYCLES, share: 0 });
    expect(await scraped(await servedRequests())).toMatchObject({ errors: 0 });
  });

  let atTen: Set<string>;
  it('at 10%, about 10% of users take the new path at the service, and the error rate rises in Prometheus', async () => {
    const before = await scraped(await servedRequests());
    await driver.apply(region, { flag: FLAG, variant: 'on', fraction: 10 }, 'rollout/checkout/2.4.0/eu-west-1/flag-10');
    atTen = await onNewPath(users);
    expect(atTen.size / USERS).toBeGreaterThan(0.06);
    expect(atTen.size / USERS).toBeLessThan(0.14);
    // The flag's own rule still wins: QA users are on, whatever their bucket.
    expect([...(await onNewPath(['qa-1', 'qa-2']))].sort()).toEqual(['qa-1', 'qa-2']);

    expect(await servedVariant([...atTen][0]!, 'on')).toBe('on');
    const counted = await boundedLoad();
    console.log(`at 10%: ${counted.new} of ${counted.all} requests on the new path (${(counted.share * 100).toFixed(1)}%), ${atTen.size} of ${USERS} users`);
    expect(counted.share).toBeGreaterThan(0.06);
    expect(counted.share).toBeLessThan(0.14);
    // Each user sent CYCLES requests, and the service put exactly the users flagd puts on the new path on it.
    expect(counted.new).toBe(atTen.size * CYCLES);

    const after = await scraped(await servedRequests());
    const errorRate = (after.errors - before.errors) / (after.requests - before.requests);
    console.log(`at 10%: error rate in Prometheus ${(errorRate * 100).toFixed(1)}% (was 0%)`);
    expect(after.errors - before.errors).toBeGreaterThanOrEqual(Math.floor(counted.new * NEW_PATH_ERROR_RATE) - 1);
    expect(errorRate).toBeGreaterThan(0.03);
  });

  it('growing to 30% keeps every user who was on the new path on it', async () => {
    await driver.apply(region, { flag: FLAG, variant: 'on', fraction: 30 }, 'rollout/checkout/2.4.0/eu-west-1/flag-30');
    const atThirty = await onNewPath(users);
    expect([...atTen].filter((u) => !atThirty.has(u))).toEqual([]);
    expect(atThirty.size / USERS).toBeGreaterThan(0.25);
    expect(atThirty.size / USERS).toBeLessThan(0.35);

    const newcomer = [...atThirty].find((u) => !atTen.has(u))!;
    expect(await servedVariant(newcomer, 'on')).toBe('on');
    const counted = await boundedLoad();
    console.log(`at 30%: ${counted.new} of ${counted.all} requests on the new path (${(counted.share * 100).toFixed(1)}%)`);
    expect(counted.new).toBe(atThirty.size * CYCLES);
  });

  it('the kill switch takes every request off the new path at the service', async () => {
    const load = startLoad({ urls: [demo.urls[VERSION]!], concurrency: 4, maxRequests: 1_000_000, maxDurationMs: 30_000, users: USERS });
    try {
      await new Promise((r) => setTimeout(r, 500));
      expect((await pathCounts()).new).toBeGreaterThan(0);
      let last = await pathCounts();
      await driver.killSwitch(region, FLAG, 'rollout/checkout/2.4.0/eu-west-1/kill');
      const written = Date.now();
      let clearedAt: number | undefined;
      let windowStart = written;
      // 250 ms windows of service-side counts; the first with requests and none on the new path.
      while (Date.now() - written < 20_000) {
        await new Promise((r) => setTimeout(r, 250));
        const now = await pathCounts();
        const windowEnd = Date.now();
        if (now.all > last.all && now.new === last.new) {
          clearedAt = windowEnd;
          break;
        }
        last = now;
        windowStart = windowEnd;
      }
      expect(clearedAt, 'no window without new-path requests within 20 s of the kill switch').toBeDefined();
      console.log(
        `kill switch: first window with 0 new-path requests starts ${windowStart - written} ms and ends ${clearedAt! - written} ms after the write (flagd's file provider polls every 5 s)`,
      );
      // And it stays that way.
      const settledAt = await pathCounts();
      await new Promise((r) => setTimeout(r, 1_500));
      const later = await pathCounts();
      expect(later.all).toBeGreaterThan(settledAt.all);
      expect(later.new).toBe(settledAt.new);
    } finally {
      await load.stop();
    }
    expect((await onNewPath(users)).size).toBe(0);
    // The kill switch is for everyone, the QA users too.
    expect((await onNewPath(['qa-1', 'qa-2'])).size).toBe(0);
  });

  it('restore puts the file back byte for byte, the other flag and its rule untouched', async () => {
    await driver.restore(region, snapshot, 'rollout/checkout/2.4.0/eu-west-1/restore');
    expect(readFileSync(file, 'utf8')).toBe(ORIGINAL);
    const restored = identity(file);
    await driver.restore(region, snapshot, 'rollout/checkout/2.4.0/eu-west-1/restore');
    expect(identity(file), 'a second restore rewrote the file').toBe(restored);
    expect(await servedVariant('qa-1', 'on')).toBe('on');
  });

  it('restoring a flag that was absent removes it, and leaves the rest of the file as it was', async () => {
    const absent = await driver.snapshot(region, 'checkout-fresh');
    expect(absent.definition).toBeNull();
    await driver.apply(region, { flag: { ...FLAG, key: 'checkout-fresh' }, variant: 'on', fraction: 50 }, 'fresh-50');
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')).flags)).toEqual(['checkout-theme', FLAG.key, 'checkout-fresh']);
    await driver.restore(region, absent, 'fresh-restore');
    expect(readFileSync(file, 'utf8')).toBe(ORIGINAL);
  });

  it('the same key twice writes nothing; a new key writes', async () => {
    await driver.apply(region, { flag: FLAG, variant: 'on', fraction: 20 }, 'idem-20');
    const first = readFileSync(file, 'utf8');
    const id = identity(file);
    expect(JSON.parse(first).flags[FLAG.key].metadata).toEqual({ owner: 'checkout-team', meridianBase: JSON.stringify(FLAG_BEFORE.targeting), [KEY_METADATA]: 'idem-20' });
    await driver.apply(region, { flag: FLAG, variant: 'on', fraction: 20 }, 'idem-20');
    expect(identity(file)).toBe(id);
    await driver.killSwitch(region, FLAG, 'idem-kill');
    const killed = identity(file);
    await driver.killSwitch(region, FLAG, 'idem-kill');
    expect(identity(file)).toBe(killed);
    // After the kill switch, a new step composes the flag's own rule again.
    await driver.apply(region, { flag: FLAG, variant: 'on', fraction: 20 }, 'idem-20-again');
    expect(JSON.parse(readFileSync(file, 'utf8')).flags[FLAG.key].targeting).toEqual(JSON.parse(first).flags[FLAG.key].targeting);
    await driver.restore(region, snapshot, 'idem-restore');
    expect(readFileSync(file, 'utf8')).toBe(ORIGINAL);
  });

  it('drift: none after Meridian writes, a short difference after a hand edit of the flag, none for edits elsewhere', async () => {
    const write = { action: 'apply' as const, flag: FLAG, variant: 'on', fraction: 10 };
    await driver.apply(region, write, 'drift-10');
    expect(await driver.drift(region, write)).toEqual({ drifted: false, differences: [] });

    const doc = JSON.parse(readFileSync(file, 'utf8'));
    doc.flags['checkout-theme'].defaultVariant = 'dark';
    writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
    expect(await driver.drift(region, write)).toEqual({ drifted: false, differences: [] });

    doc.flags[FLAG.key].targeting.or[1].fractional = [['on', 5000], ['off', 5000]];
    doc.flags[FLAG.key].defaultVariant = 'on';
    writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
    const drift = await driver.drift(region, write);
    console.log(`drift after a hand edit:\n  ${drift.differences.join('\n  ')}`);
    expect(drift.drifted).toBe(true);
    expect(drift.differences).toEqual([
      'defaultVariant: expected "off", found "on"',
      'targeting.or[1].fractional: expected [["on",1000],["off",9000]], found [["on",5000],["off",5000]]',
    ]);

    delete doc.flags[FLAG.key].metadata[KEY_METADATA];
    writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
    expect((await driver.drift(region, write)).differences).toEqual([`metadata.${KEY_METADATA}: gone, the flag was rewritten by someone else`]);
    delete doc.flags[FLAG.key];
    writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
    expect((await driver.drift(region, write)).differences).toEqual([`flag "${FLAG.key}" is gone from the file`]);
  });

  it('rejects a variant the flag does not have, without touching the file', async () => {
    const before = readFileSync(file, 'utf8');
    await expect(driver.apply(region, { flag: FLAG, variant: 'blue', fraction: 10 }, 'bad')).rejects.toThrow('variant "blue" is not one of off, on');
    await expect(driver.apply(region, { flag: FLAG, variant: 'on', fraction: 120 }, 'bad')).rejects.toThrow('fraction must be 0..100 percent');
    expect(readFileSync(file, 'utf8')).toBe(before);
  });
});
