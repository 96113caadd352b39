import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLAGD_DIR_ENV } from '../../activities/flags/activities';
import { KEY_METADATA } from '../../activities/flags/flagd';
import { queryPrometheus } from '../../activities/metrics/prometheus';
import type { RolloutSpecInput } from '../../domain/spec';
import { prometheusProvider as prometheusSchema } from '../../domain/spec';
import type { RolloutStatus } from '../../domain/status';
import { validateSpec } from '../../domain/validate';
import { NoWorkerError } from '../../client/rollout-errors';
import { temporalExecutable } from '../../lib/binaries';
import { startDemoService, type DemoService } from '../support/demo-service';
import { startLoad, type Load } from '../support/load';
import { startPrometheus, type RunningPrometheus } from '../support/prometheus';
import { auditDataOf, auditOf, regionOf } from '../support/status';
import { tempDir } from '../support/temp-dir';
import { endedHow, withRollout, type RolloutRun } from '../workflows/support';

/**
 * Flag steps end to end, with flagd in process: rollouts on a real dev server whose in-process
 * worker writes eu-west-1's flagd file (`$MERIDIAN_FLAGD_DIR/checkout-eu-west-1.json`), which the
 * demo service's stable version reads per request through OpenFeature with flagd's in-process
 * evaluator (it polls the file every 5 s). The flag sends users to a new code path that fails half
 * its requests; Prometheus scrapes the service every second and the analysis judges the new path's
 * error rate there. The region's target is simulated; the flag, the service, the users and the
 * metric are real.
 */
const WEST = 'eu-west-1';
const SERVICE = 'checkout';
/** The version the region runs, the one that reads the flag. */
const STABLE = '2.3.1';
const OLD = `registry.test/shop/checkout:${STABLE}`;
const FLAG = 'checkout-new-path';
const NEW_PATH_ERROR_RATE = 0.5;
const USERS = 1_000;
const CYCLES = 3;

/** A flag Meridian never touches. */
const OTHER_FLAG = { state: 'ENABLED', variants: { light: 'light', dark: 'dark' }, defaultVariant: 'light' };
/** The flag before any rollout: off, but on for the QA users, a rule every rollout keeps. */
const FLAG_BEFORE = {
  state: 'ENABLED',
  variants: { off: false, on: true },
  defaultVariant: 'off',
  targeting: { if: [{ in: [{ var: 'targetingKey' }, ['qa-1', 'qa-2']] }, 'on', null] },
  metadata: { owner: 'checkout-team' },
};
const ORIGINAL = `${JSON.stringify({ flags: { 'checkout-theme': OTHER_FLAG, [FLAG]: FLAG_BEFORE } }, null, 2)}\n`;

/**
 * The new path's error rate as Prometheus has it: the version's 5xx over its requests on the new
 * path (the version fails nowhere else). No new-path requests is no data.
 */
const NEW_PATH_ERRORS =
  `sum(increase(http_requests_total{region="{{region}}",version="${STABLE}",code=~"5.."}[5s]))` +
  ` / sum(increase(flag_path_total{region="{{region}}",version="${STABLE}",path="new"}[5s]))`;

let env: TestWorkflowEnvironment;
let dir: string;
let file: string;
let demo: DemoService;
let prom: RunningPrometheus;
const url = () => demo.urls[STABLE]!;

beforeAll(async () => {
  dir = tempDir('meridian-flags-e2e-');
  file = join(dir, `checkout-${WEST}.json`);
  writeFileSync(file, ORIGINAL);
  // The in-process workers withRollout starts read it when they resolve a flagd file.
  process.env[FLAGD_DIR_ENV] = dir;
  demo = await startDemoService({ service: SERVICE, versions: [{ version: STABLE, flag: { file, key: FLAG }, newPathErrorRate: NEW_PATH_ERROR_RATE }] });
  [env, prom] = await Promise.all([
    // A real dev server: the rollout waits on a real service's flag poll and a real Prometheus, in real time.
    TestWorkflowEnvironment.createLocal({ server: { executable: temporalExecutable((line) => console.log(line)) } }),
    startPrometheus([{ url: url(), labels: { region: WEST } }]),
  ]);
  await prom.waitForTargets();
}, 90_000);

afterAll(async () => {
  await Promise.all([env?.teardown(), prom?.stop(), demo?.stop()]);
});

function planOf(over: Partial<RolloutSpecInput>) {
  const input: RolloutSpecInput = {
    service: SERVICE,
    version: `2.4.0-${Date.now()}`,
    image: `registry.test/shop/checkout@sha256:${'6'.repeat(64)}`,
    regions: [{ name: WEST, target: { kind: 'simulated', initial: { image: OLD } } }],
    waves: [{ regions: [WEST] }],
    metrics: [{ name: 'new_path_errors', provider: { type: 'prometheus', address: prom.address, query: NEW_PATH_ERRORS }, max: 0.1 }],
    steps: [],
    flags: [{ key: FLAG, variants: { off: false, on: true }, killSwitch: 'off' }],
    flagProvider: { type: 'flagd', file: 'checkout-{{region}}' },
    ...over,
  };
  const v = validateSpec(input);
  if (!v.ok) throw new Error(v.problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return v.plan;
}

const flagInFile = () => JSON.parse(readFileSync(file, 'utf8')).flags[FLAG];

/** The `fractional` buckets anywhere in a flag's targeting. */
function fractionalOf(targeting: unknown): [string, number][] | undefined {
  if (Array.isArray(targeting)) {
    for (const t of targeting) {
      const found = fractionalOf(t);
      if (found) return found;
    }
  } else if (targeting && typeof targeting === 'object') {
    const o = targeting as Record<string, unknown>;
    if (Array.isArray(o.fractional)) return o.fractional as [string, number][];
    return fractionalOf(Object.values(o));
  }
  return undefined;
}

/** The service's own `flag_path_total`, summed by path. */
async function pathCounts(): Promise<{ new: number; all: number }> {
  const text = await (await fetch(`${url()}/metrics`)).text();
  const counts = { new: 0, all: 0 };
  for (const m of text.matchAll(/^flag_path_total\{([^}]*)\} (\S+)$/gm)) {
    counts.all += Number(m[2]);
    if (m[1]!.includes('path="new"')) counts.new += Number(m[2]);
  }
  return counts;
}

interface Bounded {
  /** Users the service answered on the new path at least once. */
  users: Set<string>;
  /** Users the service answered on both paths: none, while the flag stands still. */
  flapping: Set<string>;
  requests: number;
  onNew: number;
  /** The service's own count of requests on the new path over the same load. */
  counted: { new: number; all: number };
}

/**
 * `user-0` .. `user-999`, each CYCLES times, 10 at a time, nothing else sent to the service
 * meanwhile: who the service put on the new path, from its answers and from its own counter.
 */
async function boundedLoad(): Promise<Bounded> {
  const before = await pathCounts();
  const paths = new Map<string, Set<string>>();
  let next = 0;
  let onNew = 0;
  const total = USERS * CYCLES;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (next < total) {
        const user = `user-${next++ % USERS}`;
        const body = (await (await fetch(url(), { headers: { 'x-user': user } })).json()) as { flag: { path: string } };
        if (body.flag.path === 'new') onNew++;
        paths.set(user, (paths.get(user) ?? new Set()).add(body.flag.path));
      }
    }),
  );
  const after = await pathCounts();
  const users = new Set([...paths].filter(([, p]) => p.has('new')).map(([u]) => u));
  const flapping = new Set([...paths].filter(([, p]) => p.size > 1).map(([u]) => u));
  return { users, flapping, requests: total, onNew, counted: { new: after.new - before.new, all: after.all - before.all } };
}

const prometheus = (promql: string) =>
  queryPrometheus(prometheusSchema.parse({ type: 'prometheus', address: prom.address, query: promql }), {
    rolloutId: 'test',
    service: SERVICE,
    region: WEST,
    version: STABLE,
    role: 'stable',
  });
const REQUESTS = `sum(http_requests_total{version="${STABLE}"})`;
const ERRORS = `sum(http_requests_total{version="${STABLE}",code=~"5.."})`;

async function servedRequests(): Promise<number> {
  const text = await (await fetch(`${url()}/metrics`)).text();
  return [...text.matchAll(/^http_requests_total\{[^}]*\} (\S+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

/** Requests and errors as Prometheus has them, once it has scraped everything the service served so far. */
async function scraped(): Promise<{ requests: number; errors: number }> {
  const served = await servedRequests();
  const deadline = Date.now() + 15_000;
  let seen = 0;
  while (Date.now() < deadline) {
    seen = (await prometheus(REQUESTS)) ?? 0;
    if (seen >= served) return { requests: seen, errors: (await prometheus(ERRORS)) ?? 0 };
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`Prometheus saw ${seen} requests, not yet ${served}`);
}

/** The service's path counts every 250 ms until `stop`. */
function samplePaths(): { stop(): Promise<{ at: number; new: number; all: number }[]> } {
  const samples: { at: number; new: number; all: number }[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      samples.push({ ...(await pathCounts()), at: Date.now() });
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return samples;
    },
  };
}

/** Waits until the service answers `user` on `path`: its flagd provider takes a file change within its 5 s poll. */
async function servedOn(user: string, path: 'new' | 'current', timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const body = (await (await fetch(url(), { headers: { 'x-user': user } })).json()) as { flag: { path: string } };
    if (body.flag.path === path) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the service did not put ${user} on the ${path} path within ${timeoutMs} ms`);
}

/** Waits until some load user is on the new path at the service; returns one. */
async function someUserOnNewPath(timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (let i = 0; i < 100; i++) {
      const user = `user-${i}`;
      const body = (await (await fetch(url(), { headers: { 'x-user': user } })).json()) as { flag: { path: string } };
      if (body.flag.path === 'new') return user;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no load user on the new path at the service within ${timeoutMs} ms`);
}

const inPause = (s: RolloutStatus) => regionOf(s, WEST).step?.kind === 'pause';

/**
 * Polls the status until `predicate` holds. Unlike `run.until` it asks again while the status says no
 * worker polls yet: a worker just started may not show as a poller for a moment.
 */
async function until(run: RolloutRun, predicate: (s: RolloutStatus) => boolean, what: string, timeoutMs = 60_000): Promise<RolloutStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: RolloutStatus | undefined;
  let error: unknown;
  while (Date.now() < deadline) {
    try {
      last = await run.status();
      if (predicate(last)) return last;
    } catch (err) {
      if (!(err instanceof NoWorkerError)) throw err;
      error = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; last phase ${last?.phase}: ${last?.reason ?? (error as Error | undefined)?.message}`);
}

describe('flagd in process: a flag step rollout against the service reading the flag', () => {
  it('puts about 10% of users on the new path, fails the analysis on its errors, kills the flag first and restores the file byte for byte', async () => {
    const before = readFileSync(file, 'utf8');
    expect(before).toBe(ORIGINAL);
    const off = await boundedLoad();
    expect(off.onNew, 'no load user on the new path before the rollout').toBe(0);
    const promBefore = await scraped();
    expect(promBefore.errors).toBe(0);

    const plan = planOf({
      steps: [
        { kind: 'flag', flag: FLAG, variant: 'on', fraction: 10 },
        { kind: 'pause', duration: '15s' },
        { kind: 'flag', flag: FLAG, variant: 'on', fraction: 50 },
        { kind: 'analysis', metrics: ['new_path_errors'], interval: '1s', sustainedFor: '5s' },
      ],
    });
    let load: Load | undefined;
    let sampler: ReturnType<typeof samplePaths> | undefined;
    let atTen: Bounded | undefined;
    let end: { status: RolloutStatus } | undefined;
    let samples: { at: number; new: number; all: number }[] = [];
    try {
      await withRollout(env, plan, async (run) => {
        const paused = await until(run, (s) => inPause(s) && auditOf(s, 'flag', WEST).length === 1, 'eu-west-1 paused after the 10% flag step');
        expect(auditDataOf(paused, 'flag', WEST)).toEqual([{ flag: FLAG, variant: 'on', fraction: 10 }]);
        expect(regionOf(paused, WEST).flags).toEqual({ [FLAG]: { variant: 'on', fraction: 10 } });
        expect(fractionalOf(flagInFile().targeting)).toEqual([['on', 1000], ['off', 9000]]);
        expect(flagInFile().metadata[KEY_METADATA]).toBe(`${run.handle.workflowId}/${WEST}/flag-0`);

        // The service takes the file within its poll; then every user, CYCLES times.
        const promAtTenBefore = await scraped();
        await someUserOnNewPath();
        atTen = await boundedLoad();
        const stillPaused = await run.status();
        expect(inPause(stillPaused), 'the 10% measurement ended inside the pause step; make the pause longer').toBe(true);
        const share = atTen.users.size / USERS;
        console.log(
          `[flags-flagd] at 10%: ${atTen.users.size} of ${USERS} users (${(share * 100).toFixed(1)}%) and ${atTen.onNew} of ${atTen.requests} requests on the new path at the service; its counter says ${atTen.counted.new} of ${atTen.counted.all}`,
        );
        expect(share).toBeGreaterThan(0.05);
        expect(share).toBeLessThan(0.16);
        expect(atTen.flapping.size, 'users answered on both paths with the flag standing still').toBe(0);
        expect(atTen.onNew, 'each user on the new path took it every time').toBe(atTen.users.size * CYCLES);
        expect(atTen.counted).toEqual({ new: atTen.onNew, all: atTen.requests });

        // The new path's errors are real errors in Prometheus.
        const promAtTen = await scraped();
        const errors = promAtTen.errors - promAtTenBefore.errors;
        const rate = errors / (promAtTen.requests - promAtTenBefore.requests);
        console.log(`[flags-flagd] at 10%: error rate in Prometheus ${(rate * 100).toFixed(1)}% (${errors} errors; 0 before the rollout)`);
        expect(errors).toBeGreaterThanOrEqual(Math.floor(atTen.onNew * NEW_PATH_ERROR_RATE) - 1);
        expect(rate).toBeGreaterThan(0.03);

        // Load from here to the end: for the analysis, and to see the kill switch take effect.
        load = startLoad({ urls: [url()], concurrency: 4, maxRequests: 10_000_000, maxDurationMs: 120_000, users: USERS });
        sampler = samplePaths();
        await until(run, (s) => s.phase === 'RolledBack' || s.phase === 'NeedsAttention' || s.phase === 'Failed', 'the rollout ended', 90_000);
        end = await run.end();
        // The service takes the kill switch (or the restored file after it) at its next poll: load on
        // until the new path has had no request for 2 s, at most 20 s after the verdict.
        const verdict = auditOf(end.status, 'analysis-failed', WEST)[0];
        const giveUpAt = (verdict ? Date.parse(verdict.at) : Date.now()) + 20_000;
        let last = await pathCounts();
        let quietSince = Date.now();
        while (Date.now() < giveUpAt && Date.now() - quietSince < 2_000) {
          await new Promise((r) => setTimeout(r, 250));
          const now = await pathCounts();
          if (now.new > last.new) quietSince = Date.now();
          last = now;
        }
      });
    } finally {
      samples = (await sampler?.stop()) ?? [];
      await load?.stop();
    }
    const status = end!.status;
    expect(status.phase, endedHow(status)).toBe('RolledBack');
    expect(regionOf(status, WEST).phase).toBe('RolledBack');
    expect(auditDataOf(status, 'flag', WEST).map((d) => d.fraction)).toEqual([10, 50]);

    const failed = auditOf(status, 'analysis-failed', WEST);
    expect(failed).toMatchObject([{ data: { metric: 'new_path_errors', threshold: { max: 0.1 } } }]);
    console.log(`[flags-flagd] analysis failed on new_path_errors = ${failed[0]!.data!.value} (max 0.1)`);
    expect(failed[0]!.data!.value).toBeGreaterThan(0.25);

    // The kill switch first: in the saga's records and in the audit trail.
    const kinds = status.compensation.map((r) => r.undo.kind);
    console.log(`[flags-flagd] compensation: ${kinds.join(', ')}`);
    expect(kinds[0]).toBe('killSwitch');
    expect(kinds.filter((k) => k === 'killSwitch')).toHaveLength(1);
    expect(kinds).toContain('restoreFlag');
    const undos = status.audit.filter((a) => a.action === 'undo').map((a) => (a.data as { undo: string; tookMs?: number }).undo);
    const killAt = undos.indexOf('killSwitch');
    const cuts = undos.map((u, i) => [u, i] as const).filter(([u]) => u === 'restoreTraffic' || u === 'restoreWorkload');
    expect(killAt, `undo entries: ${undos.join(', ')}`).toBe(0);
    expect(cuts.length).toBeGreaterThan(0);
    expect(cuts.every(([, i]) => i > killAt)).toBe(true);

    // From the verdict to no request on the new path at the service, with load running. The saga
    // restores the flag a few hundred ms after the kill switch, well inside flagd's 5 s poll, so the
    // service most likely takes the restored file (off for every load user) rather than the kill
    // switch itself: for these users the same answer, and the time is what users see either way.
    const verdictAt = Date.parse(failed[0]!.at);
    const killEntry = status.audit.find((a) => a.action === 'undo' && (a.data as { undo: string }).undo === 'killSwitch')!;
    const killedAt = Date.parse(killEntry.at);
    const restoreEntry = status.audit.find((a) => a.action === 'undo' && (a.data as { undo: string }).undo === 'restoreFlag');
    const rising = samples.filter((s, i) => i > 0 && s.new > samples[i - 1]!.new);
    const lastRise = rising.at(-1);
    const after = samples.filter((s) => s.at > verdictAt);
    expect(after.length, 'samples after the verdict').toBeGreaterThanOrEqual(6);
    expect(samples.at(-1)!.all - (lastRise?.all ?? samples[0]!.all), 'requests served after the last new-path one').toBeGreaterThan(100);
    const toZero = (lastRise?.at ?? samples[0]!.at) - verdictAt;
    console.log(
      `[flags-flagd] verdict to 0% on the new path at the service: ${toZero} ms (last 250 ms window with a new-path request ended then); kill switch written ${killedAt - verdictAt} ms after the verdict, its provider took ${(killEntry.data as { tookMs?: number }).tookMs} ms, the flag restored ${restoreEntry ? Date.parse(restoreEntry.at) - verdictAt : '?'} ms after the verdict; flagd polls every 5 s`,
    );
    expect(toZero).toBeLessThan(15_000);
    // Whether the service ever served the 50% step before the verdict took it back: the largest new-path share in a window.
    const fiftyAt = Date.parse(auditOf(status, 'flag', WEST)[1]!.at);
    const shares = samples.flatMap((s, i) => (i > 0 && s.at > fiftyAt && s.all > samples[i - 1]!.all ? [(s.new - samples[i - 1]!.new) / (s.all - samples[i - 1]!.all)] : []));
    console.log(`[flags-flagd] 50% written ${verdictAt - fiftyAt} ms before the verdict; largest new-path share at the service in a 250 ms window after it: ${(Math.max(...shares) * 100).toFixed(0)}%`);
    expect(samples.at(-1)!.new, 'no new-path request since').toBe(lastRise?.new ?? samples[0]!.new);

    // The file as it was, byte for byte, and the QA users back on their rule.
    expect(readFileSync(file, 'utf8')).toBe(before);
    await servedOn('qa-1', 'new');
  }, 180_000);

  it('caps a 50% step at the region\'s maxFraction of 20%', async () => {
    const plan = planOf({
      regions: [{ name: WEST, target: { kind: 'simulated', initial: { image: OLD } }, flags: { maxFraction: 20 } }],
      metrics: [],
      steps: [
        { kind: 'flag', flag: FLAG, variant: 'on', fraction: 10 },
        { kind: 'flag', flag: FLAG, variant: 'on', fraction: 50 },
        { kind: 'pause', duration: '1s' },
      ],
    });
    await withRollout(env, plan, async (run) => {
      const { status, failure } = await run.end();
      expect(status.phase, endedHow(status, failure)).toBe('Succeeded');
      expect(auditDataOf(status, 'flag', WEST)).toEqual([
        { flag: FLAG, variant: 'on', fraction: 10 },
        { flag: FLAG, variant: 'on', fraction: 20, requested: 50, maxFraction: 20 },
      ]);
      expect(regionOf(status, WEST).flags).toEqual({ [FLAG]: { variant: 'on', fraction: 20 } });
      expect(flagInFile().metadata[KEY_METADATA]).toBe(`${run.handle.workflowId}/${WEST}/flag-1`);
    });
    const flag = flagInFile();
    expect(fractionalOf(flag.targeting)).toEqual([['on', 2000], ['off', 8000]]);
    // The flag's own rule kept before the fraction.
    expect(flag.targeting.or[0]).toEqual(FLAG_BEFORE.targeting);

    // And at the service, about 20% of users, once its provider has the file.
    const user = await someUserOnNewPath();
    await new Promise((r) => setTimeout(r, 5_500));
    const atTwenty = await boundedLoad();
    console.log(`[flags-flagd] capped at 20%: ${atTwenty.users.size} of ${USERS} users on the new path at the service (first seen: ${user})`);
    expect(atTwenty.users.size / USERS).toBeGreaterThan(0.14);
    expect(atTwenty.users.size / USERS).toBeLessThan(0.27);
    writeFileSync(file, ORIGINAL);
  }, 120_000);

  it('a hand edit of the flag during a pause pauses the region on drift; resume accepts it and the rollout goes on', async () => {
    writeFileSync(file, ORIGINAL);
    const plan = planOf({
      metrics: [],
      steps: [
        { kind: 'flag', flag: FLAG, variant: 'on', fraction: 10 },
        { kind: 'pause', duration: '4s' },
        { kind: 'flag', flag: FLAG, variant: 'on', fraction: 30 },
      ],
    });
    await withRollout(env, plan, async (run) => {
      await until(run, (s) => inPause(s) && auditOf(s, 'flag', WEST).length === 1, 'eu-west-1 in its pause step after the flag step');
      // Someone turns it up by hand.
      const doc = JSON.parse(readFileSync(file, 'utf8'));
      const fractional = fractionalOf(doc.flags[FLAG].targeting)!;
      fractional.splice(0, 2, ['on', 5000], ['off', 5000]);
      writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
      const edited = readFileSync(file, 'utf8');

      const paused = await until(run, (s) => regionOf(s, WEST).phase === 'Paused' && auditOf(s, 'drift', WEST).length > 0, 'the region paused on the drift');
      const drift = auditDataOf(paused, 'drift', WEST);
      expect(drift).toHaveLength(1);
      expect(drift[0]!.object).toContain(`flag ${FLAG}`);
      expect(drift[0]!.object).toContain(WEST);
      expect(drift[0]!.changes!.join('\n')).toContain('fractional');
      console.log(`[flags-flagd] drift: ${drift[0]!.object}: ${drift[0]!.changes!.join('; ')}`);
      expect(auditOf(paused, 'flag', WEST), 'the 30% step waits').toHaveLength(1);
      expect(readFileSync(file, 'utf8'), 'the hand edit is left as it is while paused').toBe(edited);

      await run.handle.executeUpdate('resume', { args: [{ by: 'oncall', reason: 'the edit was mine' }] });
      const { status, failure } = await run.end();
      expect(status.phase, endedHow(status, failure)).toBe('Succeeded');
      expect(auditDataOf(status, 'drift-accepted', WEST)).toEqual([expect.objectContaining({ object: drift[0]!.object })]);
      expect(auditDataOf(status, 'flag', WEST).map((d) => d.fraction)).toEqual([10, 30]);
      expect(regionOf(status, WEST).flags).toEqual({ [FLAG]: { variant: 'on', fraction: 30 } });
      expect(flagInFile().metadata[KEY_METADATA]).toBe(`${run.handle.workflowId}/${WEST}/flag-2`);
      expect(fractionalOf(flagInFile().targeting)).toEqual([['on', 3000], ['off', 7000]]);
    });
    writeFileSync(file, ORIGINAL);
  }, 120_000);
});
