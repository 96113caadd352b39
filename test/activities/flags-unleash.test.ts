import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unleashDriver, type UnleashFlagState, type UnleashStrategy } from '../../activities/flags/unleash';
import type { FlagDriver } from '../../activities/flags/types';
import type { FlagSpec, UnleashProvider } from '../../domain/flags';
import { freePort } from '../support/processes';
import { SECRETS } from '../support/secrets';
import { startUnleash, type RunningUnleash } from '../support/unleash';

const REGION = 'eu-west';
const TOKEN_ENV = 'UNLEASH_EU_WEST_TOKEN';
const FLAG: FlagSpec = { key: 'checkout-path', variants: { classic: 'classic', fast: 'fast' }, killSwitch: 'classic', defaultVariant: 'classic' };
const USERS = Array.from({ length: 1000 }, (_, i) => `user-${i}`);

let unleash: RunningUnleash;
let provider: UnleashProvider;
let driver: FlagDriver<UnleashProvider>;

/** The admin API as someone other than Meridian uses it. */
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

const flagPath = (key = FLAG.key) => `/api/admin/projects/${unleash.project}/features/${key}`;
const envPath = (key = FLAG.key) => `${flagPath(key)}/environments/${provider.environment}`;

/** The flag in the region's environment, as the admin API shows it (with segments). */
async function readBack(key = FLAG.key): Promise<{ enabled: boolean; strategies: UnleashStrategy[] }> {
  const feature = await admin<{ environments: { name: string; enabled: boolean; strategies: UnleashStrategy[] }[] }>('GET', flagPath(key));
  const here = feature.environments.find((e) => e.name === provider.environment)!;
  return { enabled: here.enabled, strategies: [...here.strategies].sort((a, b) => (a.sortOrder ?? 0) - (b.sortOrder ?? 0)) };
}

async function eventCount(key = FLAG.key): Promise<number> {
  const { events } = await admin<{ events: unknown[] }>('GET', `/api/admin/events?feature=${encodeURIComponent(key)}`);
  return events.length;
}

/**
 * Each user's variant of the flag, evaluated by Unleash's playground, which runs the server SDK's
 * own evaluation over the environment's configuration: `disabled` when the flag is off for them.
 */
async function evaluate(users: string[], key = FLAG.key): Promise<Map<string, string>> {
  const body = { projects: [unleash.project], environments: [provider.environment], context: { appName: 'checkout', userId: users.join(',') } };
  const { features } = await admin<{
    features: { name: string; environments: Record<string, { context: { userId: string }; isEnabled: boolean; variant: { name: string } }[]> }[];
  }>('POST', '/api/admin/playground/advanced', body);
  const results = features.find((f) => f.name === key)!.environments[provider.environment]!;
  return new Map(results.map((r) => [r.context.userId, r.isEnabled ? r.variant.name : 'disabled']));
}

const count = (m: Map<string, string>, variant: string) => [...m.values()].filter((v) => v === variant).length;

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

beforeAll(async () => {
  unleash = await startUnleash({ regions: [REGION, 'us-east'] });
  provider = { type: 'unleash', url: unleash.url, project: unleash.project, environment: unleash.environments[REGION]!, tokenEnv: TOKEN_ENV };
  driver = unleashDriver({ env: { [TOKEN_ENV]: unleash.adminToken } });
}, 90_000);

afterAll(async () => {
  await unleash?.stop();
});

describe('Unleash flag driver, on a real Unleash 7 and PostgreSQL', () => {
  it('Unleash OSS offers only development and production, and cannot create an environment per region', async () => {
    const { environments } = await admin<{ environments: { name: string }[] }>('GET', '/api/admin/environments');
    expect(environments.map((e) => e.name)).toEqual(['development', 'production']);
    await expect(admin('POST', '/api/admin/environments', { name: REGION, type: 'production' })).rejects.toThrow(/404/);
    expect(unleash.environments).toEqual({ [REGION]: 'development', 'us-east': 'production' });
  });

  it('rolls out 10% then 50%, sticky, beside an untouched targeting rule; kill switch; exact restore; idempotent by key; drift', async () => {
    // The flag as its owners set it up: internal users (a constraint and a segment) get "fast".
    await admin('POST', `/api/admin/projects/${unleash.project}/features`, { name: FLAG.key, type: 'release' });
    const segment = await admin<{ id: number }>('POST', '/api/admin/segments', {
      name: 'staff',
      constraints: [{ contextName: 'userId', operator: 'IN', values: ['alice', 'bob'] }],
    });
    await admin('POST', `${envPath()}/strategies`, {
      name: 'default',
      title: 'internal users',
      constraints: [{ contextName: 'userId', operator: 'IN', values: ['alice', 'carol'], caseInsensitive: false, inverted: false }],
      segments: [segment.id],
      parameters: {},
      variants: [{ name: 'fast', weight: 1000, weightType: 'variable', stickiness: 'default', payload: { type: 'string', value: 'fast' } }],
    });
    await admin('POST', `${envPath()}/on`);
    const before = await readBack();
    const userRule = before.strategies[0]!;
    expect((await evaluate(['alice', 'carol'])).get('alice')).toBe('fast');

    const snapshot = await driver.snapshot(provider, FLAG.key);
    const definition = snapshot.definition as unknown as UnleashFlagState;
    expect(snapshot).toMatchObject({ kind: 'unleash', flagKey: FLAG.key });
    expect(definition).toMatchObject({ project: 'default', environment: 'development', enabled: true, variants: [] });
    expect(definition.strategies).toEqual([{ ...userRule, segments: [segment.id] }]);

    // 10%: Meridian's strategy after the user's rule, which is unchanged.
    await driver.apply(provider, { flag: FLAG, variant: 'fast', fraction: 10 }, 'rollout-1/eu-west/step-0');
    let now = await readBack();
    expect(now.enabled).toBe(true);
    expect(now.strategies).toHaveLength(2);
    expect(now.strategies[0]).toEqual(userRule);
    const meridian = now.strategies[1]!;
    expect(meridian).toMatchObject({
      name: 'flexibleRollout',
      title: 'Meridian rollout (key rollout-1/eu-west/step-0)',
      parameters: { rollout: '10', stickiness: 'default', groupId: FLAG.key },
      variants: [{ name: 'fast', weight: 1000, payload: { type: 'string', value: 'fast' } }],
      constraints: [],
    });
    const at10 = await evaluate(USERS);
    expect(count(at10, 'fast')).toBeGreaterThan(60);
    expect(count(at10, 'fast')).toBeLessThan(140);
    expect(count(at10, 'fast') + count(at10, 'disabled')).toBe(USERS.length);

    // The same key again: nothing written, not even an event.
    const events = await eventCount();
    await driver.apply(provider, { flag: FLAG, variant: 'fast', fraction: 10 }, 'rollout-1/eu-west/step-0');
    expect(await readBack()).toEqual(now);
    expect(await eventCount()).toBe(events);

    // 50%: the same strategy, updated in place; every user on "fast" at 10% still is.
    await driver.apply(provider, { flag: FLAG, variant: 'fast', fraction: 50 }, 'rollout-1/eu-west/step-1');
    now = await readBack();
    expect(now.strategies).toHaveLength(2);
    expect(now.strategies[0]).toEqual(userRule);
    expect(now.strategies[1]).toMatchObject({ id: meridian.id, parameters: { rollout: '50' }, title: 'Meridian rollout (key rollout-1/eu-west/step-1)' });
    const at50 = await evaluate(USERS);
    expect(count(at50, 'fast')).toBeGreaterThan(440);
    expect(count(at50, 'fast')).toBeLessThan(560);
    for (const [user, variant] of at10) if (variant === 'fast') expect(at50.get(user)).toBe('fast');

    // Drift: none after Meridian's own write; then someone else moves the rollout to 80%.
    const write = { action: 'apply' as const, flag: FLAG, variant: 'fast', fraction: 50 };
    expect(await driver.drift(provider, write)).toEqual({ drifted: false, differences: [] });
    await admin('PUT', `${envPath()}/strategies/${meridian.id}`, { ...now.strategies[1], id: undefined, parameters: { ...now.strategies[1]!.parameters, rollout: '80' } });
    const drift = await driver.drift(provider, write);
    expect(drift.drifted).toBe(true);
    expect(drift.differences).toEqual([expect.stringMatching(/parameters: expected .*"rollout":"50".*found .*"rollout":"80"/)]);

    // Kill switch: the environment off, nobody on "fast", including the user's own rule; twice is once.
    await driver.killSwitch(provider, FLAG, 'rollout-1/eu-west/kill');
    expect((await readBack()).enabled).toBe(false);
    expect(count(await evaluate([...USERS, 'alice']), 'fast')).toBe(0);
    expect(await driver.drift(provider, { action: 'killSwitch', flag: FLAG })).toEqual({ drifted: false, differences: [] });
    const afterKill = await eventCount();
    await driver.killSwitch(provider, FLAG, 'rollout-1/eu-west/kill');
    expect(await eventCount()).toBe(afterKill);

    // Restore: the whole configuration as snapshotted, ids included; a repeat writes nothing.
    await driver.restore(provider, snapshot, 'rollout-1/eu-west/restore');
    expect((await driver.snapshot(provider, FLAG.key)).definition).toEqual(snapshot.definition);
    expect(await readBack()).toEqual(before);
    expect((await evaluate(['alice', 'user-1'])).get('alice')).toBe('fast');
    const afterRestore = await eventCount();
    await driver.restore(provider, snapshot, 'rollout-1/eu-west/restore');
    expect(await eventCount()).toBe(afterRestore);

    // A rule deleted since the snapshot comes back equal but under a new id: Unleash assigns ids.
    await admin('DELETE', `${envPath()}/strategies/${userRule.id}`);
    await driver.restore(provider, snapshot, 'rollout-1/eu-west/restore-2');
    const again = (await driver.snapshot(provider, FLAG.key)).definition as unknown as UnleashFlagState;
    expect(again.strategies[0]!.id).not.toBe(userRule.id);
    expect({ ...again, strategies: again.strategies.map((s) => ({ ...s, id: '' })) }).toEqual({
      ...definition,
      strategies: definition.strategies.map((s) => ({ ...s, id: '' })),
    });
  });

  it('creates a flag that did not exist, and restoring its empty snapshot leaves it off with no strategy', async () => {
    const flag: FlagSpec = { ...FLAG, key: 'new-search' };
    const snapshot = await driver.snapshot(provider, flag.key);
    expect(snapshot).toEqual({ kind: 'unleash', flagKey: flag.key, definition: null });
    await driver.apply(provider, { flag, variant: 'fast', fraction: 25 }, 'rollout-2/eu-west/step-0');
    expect((await readBack(flag.key)).strategies).toMatchObject([{ parameters: { rollout: '25' } }]);
    await driver.restore(provider, snapshot, 'rollout-2/eu-west/restore');
    expect(await readBack(flag.key)).toEqual({ enabled: false, strategies: [] });
    expect(count(await evaluate(USERS.slice(0, 100), flag.key), 'fast')).toBe(0);
  });

  it('a wrong or missing token fails non-retryable and says what to set; a server that is down is retryable', async () => {
    const change = { flag: FLAG, variant: 'fast', fraction: 10 };
    const wrong = await failureOf(unleashDriver({ env: { [TOKEN_ENV]: SECRETS.unleashWrongToken } }).apply(provider, change, 'k'));
    expect(wrong.nonRetryable).toBe(true);
    expect(wrong.type).toBe('FlagProviderUnauthorized');
    expect(wrong.message).toBe(
      `Unleash at ${unleash.url} (project "default", environment "development") refused the token in ${TOKEN_ENV} (401 You must log in to use Unleash.): set ${TOKEN_ENV} to an admin API token of that Unleash`,
    );
    const backend = await failureOf(unleashDriver({ env: { [TOKEN_ENV]: unleash.backendTokens.development! } }).snapshot(provider, FLAG.key));
    expect(backend.nonRetryable).toBe(true);
    expect(backend.message).toContain(`set ${TOKEN_ENV} to an admin API token`);

    const missing = await failureOf(unleashDriver({ env: {} }).killSwitch(provider, FLAG, 'k'));
    expect(missing.nonRetryable).toBe(true);
    expect(missing.message).toContain(`${TOKEN_ENV} is not set in the worker's environment: set ${TOKEN_ENV} to an admin API token`);

    const down = { ...provider, url: `http://127.0.0.1:${await freePort()}` };
    const unreachable = await failureOf(driver.killSwitch(down, FLAG, 'k'));
    expect(unreachable.nonRetryable).toBe(false);
    expect(unreachable.type).toBe('FlagProviderUnavailable');
    expect(unreachable.message).toContain(`Unleash at ${down.url} (project "default", environment "development") is not reachable`);

    const noEnv = await failureOf(driver.snapshot({ ...provider, environment: REGION }, FLAG.key));
    expect(noEnv.nonRetryable).toBe(true);
    expect(noEnv.message).toContain(`no environment "${REGION}"`);
  });
});
