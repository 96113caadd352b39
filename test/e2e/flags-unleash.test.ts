import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MERIDIAN_TITLE, unleashDriver, type UnleashStrategy } from '../../activities/flags/unleash';
import type { UnleashProvider } from '../../domain/flags';
import type { RolloutSpecInput } from '../../domain/spec';
import { TERMINAL_PHASES, type RolloutStatus } from '../../domain/status';
import { validateSpec } from '../../domain/validate';
import { FAILURE } from '../../domain/vocabulary';
import { temporalExecutable } from '../../lib/binaries';
import { startUnleash, type RunningUnleash } from '../support/unleash';
import { auditDataOf, auditOf, regionOf } from '../support/status';
import { SECRETS } from '../support/secrets';
import { endedHow, withRollout, type RolloutRun } from '../workflows/support';

/**
 * Flag rollouts with the Unleash provider, on a real dev server and a real Unleash 7 on PostgreSQL.
 * Unleash OSS has two environments, so the two regions map onto them through each region's own
 * provider: eu-west-1 -> development, us-east-1 -> production. Everything about the flag is read
 * back from Unleash's admin API, as someone other than Meridian sees it.
 */
const WEST = 'eu-west-1';
const EAST = 'us-east-1';
const REGIONS = [WEST, EAST];
const OLD = 'registry.test/shop/checkout:2.3.1';
/** The worker runs in this process and reads the admin token from here, at each call. */
const TOKEN_ENV = 'MERIDIAN_E2E_UNLEASH_TOKEN';
const WRONG_TOKEN_ENV = 'MERIDIAN_E2E_UNLEASH_WRONG_TOKEN';

let env: TestWorkflowEnvironment;
let unleash: RunningUnleash;

beforeAll(async () => {
  [env, unleash] = await Promise.all([
    TestWorkflowEnvironment.createLocal({ server: { executable: temporalExecutable((line) => console.log(line)) } }),
    startUnleash({ regions: REGIONS }),
  ]);
  process.env[TOKEN_ENV] = unleash.adminToken;
  process.env[WRONG_TOKEN_ENV] = SECRETS.unleashWrongToken;
}, 120_000);

afterAll(async () => {
  delete process.env[TOKEN_ENV];
  delete process.env[WRONG_TOKEN_ENV];
  await Promise.all([env?.teardown(), unleash?.stop()]);
});

const environmentOf = (region: string) => unleash.environments[region]!;

function providerOf(region: string, tokenEnv = TOKEN_ENV): UnleashProvider {
  return { type: 'unleash', url: unleash.url, project: unleash.project, environment: environmentOf(region), tokenEnv };
}

function planOf(flagKey: string, over: Partial<RolloutSpecInput> = {}, tokenEnvOf: (region: string) => string = () => TOKEN_ENV) {
  const input: RolloutSpecInput = {
    service: 'checkout',
    version: `2.4.0-${Date.now()}`,
    image: `registry.test/shop/checkout@sha256:${'4'.repeat(64)}`,
    regions: REGIONS.map((name) => ({ name, target: { kind: 'simulated', initial: { image: OLD } }, flags: { provider: providerOf(name, tokenEnvOf(name)) } })),
    waves: [{ regions: [WEST] }, { regions: [EAST] }],
    metrics: [{ name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 }],
    steps: [
      { kind: 'flag', flag: flagKey, variant: 'on', fraction: 10 },
      { kind: 'pause', duration: '2s' },
      { kind: 'flag', flag: flagKey, variant: 'on', fraction: 50 },
      { kind: 'setWeight', weight: 25 },
      // Three failed samples 500 ms apart before it breaches: time to read the 50% back first.
      { kind: 'analysis', metrics: ['error_rate'], interval: '500ms', sustainedFor: '1s', failureLimit: 2 },
    ],
    flags: [{ key: flagKey, variants: { on: true, off: false }, killSwitch: 'off' }],
    simulation: { baseline: { error_rate: 0.004 }, faults: [`${EAST}: error_rate 0.08 when weight >= 25`] },
    ...over,
  };
  const v = validateSpec(input);
  if (!v.ok) throw new Error(v.problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return v.plan;
}

/** The admin API as the flag's owners use it. */
async function admin<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(unleash.url + path, {
    method,
    headers: { Authorization: unleash.adminToken, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

const flagPath = (key: string) => `/api/admin/projects/${unleash.project}/features/${key}`;
const envPath = (key: string, region: string) => `${flagPath(key)}/environments/${environmentOf(region)}`;

interface EnvironmentConfig {
  name: string;
  enabled: boolean;
  strategies: UnleashStrategy[];
  variants?: unknown[];
  [field: string]: unknown;
}

/** The flag's whole configuration in the region's environment, as the admin API shows it, strategies in order. */
async function readBack(key: string, region: string): Promise<EnvironmentConfig> {
  const feature = await admin<{ environments: EnvironmentConfig[] }>('GET', flagPath(key));
  const here = feature.environments.find((e) => e.name === environmentOf(region))!;
  return { ...here, strategies: [...here.strategies].sort((a, b) => (a.sortOrder ?? 0) - (b.sortOrder ?? 0)) };
}

/**
 * The flag's whole resource, without `lifecycle`: Unleash writes that itself, a moment after the flag
 * is created (stage "initial"), whatever else happens.
 */
async function feature(key: string): Promise<Record<string, unknown>> {
  const { lifecycle: _lifecycle, ...rest } = await admin<Record<string, unknown>>('GET', flagPath(key));
  return rest;
}

const meridianStrategies = (config: EnvironmentConfig) => config.strategies.filter((s) => typeof s.title === 'string' && s.title.startsWith(MERIDIAN_TITLE));

interface UnleashEvent {
  id: number;
  type: string;
  environment?: string | null;
  featureName?: string | null;
}

/** Every event of the flag Unleash recorded, oldest first. */
async function eventsOf(key: string): Promise<UnleashEvent[]> {
  const { events } = await admin<{ events: UnleashEvent[] }>('GET', `/api/admin/events?feature=${encodeURIComponent(key)}`);
  return [...events].sort((a, b) => a.id - b.id);
}

/** The flag as its owners set it up before any rollout: on in both environments, internal users (a constraint) get "on". */
async function createFlagWithTargetingRule(key: string): Promise<void> {
  await admin('POST', `/api/admin/projects/${unleash.project}/features`, { name: key, type: 'release' });
  for (const region of REGIONS) {
    await admin('POST', `${envPath(key, region)}/strategies`, {
      name: 'default',
      title: 'internal users',
      constraints: [{ contextName: 'userId', operator: 'IN', values: ['alice', 'carol'], caseInsensitive: false, inverted: false }],
      parameters: {},
      // A boolean flag: enabled for them is "on" (OpenFeature's Unleash provider reads isEnabled).
      variants: [],
    });
    await admin('POST', `${envPath(key, region)}/on`);
  }
}

/** Polls the status until the region's audit has its 'flag' entry at `fraction`. */
async function flagStepDone(run: RolloutRun, region: string, fraction: number): Promise<RolloutStatus> {
  const ended = (s: RolloutStatus) => TERMINAL_PHASES.includes(s.phase);
  const status = await run.until((s) => ended(s) || auditDataOf(s, 'flag', region).some((d) => d.fraction === fraction), `the ${fraction}% flag step in ${region}`);
  if (!auditDataOf(status, 'flag', region).some((d) => d.fraction === fraction)) {
    throw new Error(`the rollout ended (${status.phase}) before the ${fraction}% flag step in ${region}: ${status.audit.map((a) => `${a.region ?? '-'} ${a.action}: ${a.reason}`).join(' | ')}`);
  }
  return status;
}

describe('flag rollouts with Unleash on PostgreSQL, on a real dev server', () => {
  it('sets 10% then 50% in each region\'s environment; the breach runs the kill switches first and restores the whole flag beside its targeting rule', async () => {
    const key = 'checkout-new-path';
    await createFlagWithTargetingRule(key);
    const before = Object.fromEntries(await Promise.all(REGIONS.map(async (r) => [r, await readBack(key, r)] as const)));
    for (const r of REGIONS) expect(before[r]!.strategies.map((s) => s.title)).toEqual(['internal users']);
    const started = Date.now();
    const seen: Record<string, number[]> = { [WEST]: [], [EAST]: [] };
    let eventsBeforeRollback = 0;

    await withRollout(env, planOf(key), async (run) => {
      for (const region of REGIONS) {
        for (const fraction of [10, 50]) {
          await flagStepDone(run, region, fraction);
          const now = await readBack(key, region);
          const ours = meridianStrategies(now);
          expect(ours, `one Meridian strategy in ${environmentOf(region)} at ${fraction}%`).toHaveLength(1);
          seen[region]!.push(Number(ours[0]!.parameters.rollout));
          expect(ours[0]).toMatchObject({ name: 'flexibleRollout', parameters: { rollout: String(fraction), stickiness: 'default', groupId: key }, constraints: [] });
          expect(now.enabled).toBe(true);
          // The owners' rule is untouched and still first.
          expect(now.strategies[0]).toEqual(before[region]!.strategies[0]);
          expect(now.strategies).toHaveLength(2);
        }
      }
      eventsBeforeRollback = (await eventsOf(key)).length;

      const { status, failure } = await run.end();
      expect(status.phase, endedHow(status, failure)).toBe('RolledBack');
      for (const r of REGIONS) {
        expect(auditDataOf(status, 'flag', r).map((d) => [d.flag, d.variant, d.fraction])).toEqual([[key, 'on', 10], [key, 'on', 50]]);
        expect(auditDataOf(status, 'flag-snapshot', r)).toEqual([{ flag: key, existed: true }]);
        expect(regionOf(status, r).phase).toBe('RolledBack');
      }

      // Kill switches first: in the saga's plan, and in what ran.
      const kinds = status.compensation.map((rec) => [rec.undo.kind, rec.undo.region]);
      expect(kinds.slice(0, 2).map(([k]) => k)).toEqual(['killSwitch', 'killSwitch']);
      expect(kinds.slice(0, 2).map(([, r]) => r).sort()).toEqual(REGIONS);
      expect(kinds.slice(2).map(([k]) => k)).not.toContain('killSwitch');
      expect(kinds.filter(([k]) => k === 'restoreFlag').map(([, r]) => r).sort()).toEqual(REGIONS);
      expect(status.compensation.every((rec) => rec.outcome === 'done')).toBe(true);
      const undos = auditOf(status, 'undo');
      const undoKinds = undos.map((a) => (a.data as { undo?: string }).undo);
      expect(undoKinds[0]).toBe('killSwitch');
      const firstOther = undoKinds.findIndex((k) => k !== 'killSwitch');
      expect(firstOther, `undo order: ${undoKinds.join(', ')}`).toBeGreaterThan(0);
      expect(undoKinds.slice(firstOther)).not.toContain('killSwitch');
      expect(new Set(undos.slice(0, firstOther).map((a) => a.region))).toEqual(new Set(REGIONS));
      const instant = auditDataOf(status, 'undo').filter((d) => d.undo === 'killSwitch' && d.tookMs !== undefined);
      expect(instant.length, 'the instant kill switches report how long they took').toBe(2);
      console.log(`kill switches took ${instant.map((d) => `${d.tookMs} ms`).join(', ')}`);
      const firstCut = status.audit.findIndex((a) => a.action === 'traffic-cut');
      const lastInstantKill = status.audit.findLastIndex((a) => a.action === 'undo' && (a.data as { tookMs?: number } | undefined)?.tookMs !== undefined);
      if (firstCut >= 0) expect(lastInstantKill, 'kill switches before the traffic cut').toBeLessThan(firstCut);

      // Restored exactly: the whole environment as before the rollout (ids, order, the owners' rule),
      // and as Meridian's own snapshot recorded it.
      for (const r of REGIONS) {
        expect(await readBack(key, r), `${environmentOf(r)} after the rollback`).toEqual(before[r]);
        const restore = status.compensation.find((rec) => rec.undo.kind === 'restoreFlag' && rec.undo.region === r)!.undo;
        if (restore.kind !== 'restoreFlag') throw new Error('unreachable');
        const now = await unleashDriver({ env: process.env }).snapshot(providerOf(r), key);
        expect(now).toEqual(restore.snapshot);
      }
    });

    expect(seen).toEqual({ [WEST]: [10, 50], [EAST]: [10, 50] });
    // In Unleash's own record of the rollback, each environment went off before anything else changed.
    const rollbackEvents = (await eventsOf(key)).slice(eventsBeforeRollback);
    for (const r of REGIONS) {
      const here = rollbackEvents.filter((e) => e.environment === environmentOf(r)).map((e) => e.type);
      expect(here[0], `${environmentOf(r)} rollback events: ${here.join(', ')}`).toBe('feature-environment-disabled');
      expect(here.at(-1)).toBe('feature-environment-enabled');
    }
    console.log(`rollout with Unleash took ${Date.now() - started} ms; rollback events: ${rollbackEvents.map((e) => `${e.environment}:${e.type}`).join(', ')}`);
  }, 180_000);

  it('a wrong token fails the rollout at preflight, naming the region, the provider and the variable, and changes nothing in Unleash', async () => {
    const key = 'checkout-preflight';
    await createFlagWithTargetingRule(key);
    const featureBefore = await feature(key);
    const configBefore = await Promise.all(REGIONS.map((r) => readBack(key, r)));
    const eventsBefore = await eventsOf(key);
    const started = Date.now();

    await withRollout(env, planOf(key, {}, (r) => (r === EAST ? WRONG_TOKEN_ENV : TOKEN_ENV)), async (run) => {
      const { status, failure } = await run.end();
      expect(status.phase, endedHow(status, failure)).toBe('Failed');
      const cause = failure?.cause;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      expect((cause as ApplicationFailure).type).toBe(FAILURE.preflightFailed);
      expect((cause as ApplicationFailure).nonRetryable).toBe(true);

      const failed = auditOf(status, 'preflight-failed');
      expect(failed).toHaveLength(1);
      const reason = failed[0]!.reason;
      for (const reasonText of [reason, status.reason ?? '']) {
        expect(reasonText).toContain(EAST);
        expect(reasonText).toContain('unleash');
        expect(reasonText).toContain(`refused the token in ${WRONG_TOKEN_ENV}`);
        expect(reasonText).toContain(`set ${WRONG_TOKEN_ENV} to an admin API token`);
        expect(reasonText).toContain(`environment "${environmentOf(EAST)}"`);
        expect(reasonText, 'the region with a good token is not blamed').not.toContain(`${WEST}:`);
      }
      console.log(`preflight reason: ${reason}`);
      expect(auditOf(status, 'flag-snapshot')).toEqual([]);
      expect(auditOf(status, 'flag')).toEqual([]);
      expect(status.compensation).toEqual([]);
      for (const r of REGIONS) expect(regionOf(status, r)).toMatchObject({ phase: 'Cancelled', weight: 0 });
    });

    expect(Date.now() - started, 'refused at once, not retried').toBeLessThan(15_000);
    expect(await Promise.all(REGIONS.map((r) => readBack(key, r)))).toEqual(configBefore);
    expect(await feature(key)).toEqual(featureBefore);
    expect(await eventsOf(key)).toEqual(eventsBefore);
    console.log(`preflight failure took ${Date.now() - started} ms`);
  }, 120_000);
});
