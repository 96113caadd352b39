import { ApplicationFailure } from '@temporalio/common';
import type { UnleashProvider } from '../../domain/flags';
import { FAILURE } from '../../domain/vocabulary';
import { checkChange, checkFlag } from './checks';
import type { FlagChange, FlagDrift, FlagDriver, FlagSnapshot, FlagWrite, JsonValue } from './types';

/**
 * Unleash through its admin API, one environment of one project per region (`provider.environment`,
 * `provider.project`). Meridian owns one strategy of the flag in that environment and no other:
 *
 *   { name: "flexibleRollout", title: "Meridian rollout (key <key of this change>)",
 *     parameters: { rollout: "<fraction>", stickiness: "default", groupId: "<flag key>" },
 *     variants: [{ name: "<variant>", weight: 1000, payload: <its value> }] }
 *
 * appended after the flag's own strategies, which stay exactly as they were: a user their rules
 * match keeps what those rules give. `stickiness: default` buckets by userId, else sessionId, and
 * the bucket of a user depends only on groupId and that id, so a user in the rollout stays in it
 * as the fraction grows. Unleash buckets into 100 slots: a fraction is exact to 1%.
 *
 * A user neither their rules nor the rollout take sees the flag disabled, which OpenFeature's
 * Unleash provider resolves to the caller's default value, the service's `defaultVariant`. The kill
 * switch turns the environment off: every user then gets that default, so for Unleash a flag's
 * `killSwitch` and `defaultVariant` must have the same value in the service.
 *
 * The token is an admin API token read from the variable `provider.tokenEnv` of the worker's
 * environment at each call, so a fixed token takes effect on the next retry.
 */
export interface UnleashDriverOptions {
  /** Where `tokenEnv` is looked up; the worker's environment unless a test says otherwise. */
  env?: NodeJS.ProcessEnv;
  /** Per request; a slower answer is a retryable failure. */
  timeoutMs?: number;
}

/** What the title of Meridian's strategy starts with; the rest carries the key of the change. */
export const MERIDIAN_TITLE = 'Meridian rollout';

export interface UnleashConstraint {
  contextName: string;
  operator: string;
  values?: string[];
  value?: string;
  inverted?: boolean;
  caseInsensitive?: boolean;
}

export interface UnleashVariant {
  name: string;
  weight: number;
  weightType?: string;
  stickiness?: string;
  payload?: { type: string; value: string };
  overrides?: { contextName: string; values: string[] }[];
}

export interface UnleashStrategy {
  id: string;
  name: string;
  title?: string | null;
  disabled?: boolean | null;
  sortOrder?: number;
  constraints: UnleashConstraint[];
  parameters: Record<string, string>;
  variants: UnleashVariant[];
  segments: number[];
}

/**
 * A flag's configuration in one environment, what `FlagSnapshot.definition` holds for Unleash:
 * whether it is on there, every strategy in order with its constraints, segment ids, parameters and
 * variants, and the flag's own variants (legacy, per environment).
 */
export interface UnleashFlagState {
  project: string;
  environment: string;
  enabled: boolean;
  strategies: UnleashStrategy[];
  variants: UnleashVariant[];
}

export function unleashDriver(options: UnleashDriverOptions = {}): FlagDriver<UnleashProvider> {
  const env = options.env ?? process.env;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const api = (provider: UnleashProvider) => new AdminApi(provider, env[provider.tokenEnv], timeoutMs);

  return {
    kind: 'unleash',

    async snapshot(provider, flagKey) {
      const state = await api(provider).state(flagKey);
      return { kind: 'unleash', flagKey, definition: state === undefined ? null : (state as unknown as JsonValue) };
    },

    async apply(provider, change, key) {
      checkChange(change);
      const a = api(provider);
      const flagKey = change.flag.key;
      let state = await a.state(flagKey);
      if (state === undefined) {
        await a.createFlag(flagKey);
        state = await a.mustState(flagKey);
      }
      const ours = state.strategies.find(isMeridian);
      if (ours?.title !== titleFor(key)) {
        const wanted = rolloutStrategy(change, key);
        if (ours) {
          await a.updateStrategy(flagKey, ours.id, { ...wanted, sortOrder: ours.sortOrder ?? 0 });
        } else {
          const last = Math.max(-1, ...state.strategies.map((s) => s.sortOrder ?? 0));
          await a.addStrategy(flagKey, { ...wanted, sortOrder: last + 1 });
        }
      }
      // Checked on a repeat too: an attempt may have written the strategy and stopped before this.
      if (!state.enabled) await a.setEnabled(flagKey, true);
    },

    async killSwitch(provider, flag, _key) {
      checkFlag(flag);
      // Turning the environment off needs nothing but this call, and is a no-op when it is off.
      const a = api(provider);
      const state = await a.state(flag.key);
      if (state?.enabled) await a.setEnabled(flag.key, false);
    },

    async restore(provider, snapshot, _key) {
      if (snapshot.kind !== 'unleash') {
        throw ApplicationFailure.nonRetryable(`a ${snapshot.kind} snapshot cannot be restored into Unleash`, FAILURE.invalidFlagSnapshot);
      }
      const a = api(provider);
      const wanted = snapshot.definition === null ? undefined : asState(snapshot.definition, snapshot.flagKey);
      if (wanted && (wanted.project !== provider.project || wanted.environment !== provider.environment)) {
        throw ApplicationFailure.nonRetryable(
          `the snapshot of flag "${snapshot.flagKey}" is of ${wanted.project}/${wanted.environment}, not ${provider.project}/${provider.environment}`,
          FAILURE.invalidFlagSnapshot,
        );
      }
      const current = await a.state(snapshot.flagKey);
      // The flag did not exist: it stays (other environments may use it) but is off here, with no strategy.
      if (current === undefined) {
        if (wanted === undefined) return;
        await a.createFlag(snapshot.flagKey);
      }
      await a.restoreTo(snapshot.flagKey, wanted ?? { project: provider.project, environment: provider.environment, enabled: false, strategies: [], variants: [] });
    },

    async drift(provider, expected) {
      const state = await api(provider).state(expected.flag.key);
      return driftOf(state, expected, provider);
    },
  };
}

class AdminApi {
  private readonly base: string;
  private readonly provider: UnleashProvider;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(provider: UnleashProvider, token: string | undefined, timeoutMs: number) {
    this.provider = provider;
    this.token = token;
    this.timeoutMs = timeoutMs;
    this.base = provider.url.replace(/\/+$/, '');
  }

  private where(): string {
    return `Unleash at ${this.base} (project "${this.provider.project}", environment "${this.provider.environment}")`;
  }

  private flagPath(flagKey: string): string {
    return `/api/admin/projects/${encodeURIComponent(this.provider.project)}/features/${encodeURIComponent(flagKey)}`;
  }

  private envPath(flagKey: string): string {
    return `${this.flagPath(flagKey)}/environments/${encodeURIComponent(this.provider.environment)}`;
  }

  /** The response body, or undefined on 404 when `missingOk`. */
  async call(method: string, path: string, body?: unknown, missingOk = false): Promise<unknown> {
    if (!this.token) {
      throw ApplicationFailure.nonRetryable(
        `${this.where()}: ${this.provider.tokenEnv} is not set in the worker's environment: set ${this.provider.tokenEnv} to an admin API token of that Unleash`,
        FAILURE.flagProviderUnauthorized,
      );
    }
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: { Authorization: this.token, 'Content-Type': 'application/json', Accept: 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw ApplicationFailure.retryable(`${this.where()} is not reachable (${method} ${path}: ${cause})`, FAILURE.flagProviderUnavailable);
    }
    const text = await res.text();
    if (res.ok) return text ? JSON.parse(text) : undefined;
    if (res.status === 404 && missingOk) return undefined;
    const detail = unleashMessage(text) ?? res.statusText;
    if (res.status === 401 || res.status === 403) {
      throw ApplicationFailure.nonRetryable(
        `${this.where()} refused the token in ${this.provider.tokenEnv} (${res.status} ${detail}): set ${this.provider.tokenEnv} to an admin API token of that Unleash`,
        FAILURE.flagProviderUnauthorized,
      );
    }
    if (res.status >= 500 || res.status === 429 || res.status === 408) {
      throw ApplicationFailure.retryable(`${this.where()} answered ${method} ${path} with ${res.status}: ${detail}`, FAILURE.flagProviderUnavailable);
    }
    throw ApplicationFailure.nonRetryable(`${this.where()} refused ${method} ${path} (${res.status}): ${detail}`, FAILURE.flagProviderRejected);
  }

  /** The flag in this environment, undefined when the project has no such flag. */
  async state(flagKey: string): Promise<UnleashFlagState | undefined> {
    // The flag's own resource lists each environment's strategies with their segments; the
    // environment's resource leaves segments out.
    const feature = (await this.call('GET', this.flagPath(flagKey), undefined, true)) as
      | { archived?: boolean; variants?: UnleashVariant[]; environments?: { name: string; enabled: boolean; strategies?: RawStrategy[]; variants?: UnleashVariant[] }[] }
      | undefined;
    if (feature === undefined) return undefined;
    const here = feature.environments?.find((e) => e.name === this.provider.environment);
    if (!here) {
      const known = (feature.environments ?? []).map((e) => e.name).join(', ') || 'none';
      throw ApplicationFailure.nonRetryable(
        `${this.where()}: the project has no environment "${this.provider.environment}" (it has: ${known}). Unleash OSS serves only development and production; more environments need Unleash Enterprise or one Unleash per region`,
        FAILURE.flagEnvironmentMissing,
      );
    }
    const strategies = (here.strategies ?? []).map(normalStrategy).sort((a, b) => (a.sortOrder ?? 0) - (b.sortOrder ?? 0));
    return {
      project: this.provider.project,
      environment: this.provider.environment,
      enabled: here.enabled,
      strategies,
      variants: here.variants ?? feature.variants ?? [],
    };
  }

  async mustState(flagKey: string): Promise<UnleashFlagState> {
    const state = await this.state(flagKey);
    if (!state) throw ApplicationFailure.retryable(`${this.where()}: flag "${flagKey}" is not there right after it was created`, FAILURE.flagProviderUnavailable);
    return state;
  }

  async createFlag(flagKey: string): Promise<void> {
    await this.call('POST', `/api/admin/projects/${encodeURIComponent(this.provider.project)}/features`, {
      name: flagKey,
      type: 'release',
      description: 'Created by Meridian for a rollout',
    });
  }

  async setEnabled(flagKey: string, on: boolean): Promise<void> {
    await this.call('POST', `${this.envPath(flagKey)}/${on ? 'on' : 'off'}`);
  }

  async addStrategy(flagKey: string, strategy: Omit<UnleashStrategy, 'id'>): Promise<string> {
    const created = (await this.call('POST', `${this.envPath(flagKey)}/strategies`, strategyBody(strategy))) as { id: string };
    return created.id;
  }

  async updateStrategy(flagKey: string, id: string, strategy: Omit<UnleashStrategy, 'id'>): Promise<void> {
    await this.call('PUT', `${this.envPath(flagKey)}/strategies/${encodeURIComponent(id)}`, strategyBody(strategy));
  }

  async deleteStrategy(flagKey: string, id: string): Promise<void> {
    await this.call('DELETE', `${this.envPath(flagKey)}/strategies/${encodeURIComponent(id)}`, undefined, true);
  }

  /**
   * Makes the environment equal `wanted`, writing only what differs: strategies the snapshot does
   * not have are deleted, changed ones put back under their id, missing ones created (under a new
   * id: Unleash assigns strategy ids), then the order and the on/off state. Off goes first and on
   * last, so no user sees a half-restored flag enabled. Not kept: the id of a strategy deleted since
   * the snapshot, and the flag's legacy per-environment variants where Unleash no longer accepts
   * writes of them (it refuses them for flags that have none).
   */
  async restoreTo(flagKey: string, wanted: UnleashFlagState): Promise<void> {
    let current = await this.mustState(flagKey);
    if (!wanted.enabled && current.enabled) await this.setEnabled(flagKey, false);
    const wantedIds = new Set(wanted.strategies.map((s) => s.id));
    for (const s of current.strategies) if (!wantedIds.has(s.id)) await this.deleteStrategy(flagKey, s.id);
    const byId = new Map(current.strategies.map((s) => [s.id, s]));
    const ids: string[] = [];
    for (const s of wanted.strategies) {
      const have = byId.get(s.id);
      if (!have) ids.push(await this.addStrategy(flagKey, s));
      else {
        if (canonical(content(have)) !== canonical(content(s))) await this.updateStrategy(flagKey, s.id, s);
        ids.push(s.id);
      }
    }
    current = await this.mustState(flagKey);
    const order = wanted.strategies.map((s, i) => ({ id: ids[i]!, sortOrder: s.sortOrder ?? i }));
    const now = new Map(current.strategies.map((s) => [s.id, s.sortOrder ?? 0]));
    if (order.some((o) => now.get(o.id) !== o.sortOrder)) await this.call('POST', `${this.envPath(flagKey)}/strategies/set-sort-order`, order);
    if (canonical(current.variants) !== canonical(wanted.variants)) await this.call('PUT', `${this.envPath(flagKey)}/variants`, wanted.variants);
    if (wanted.enabled && !current.enabled) await this.setEnabled(flagKey, true);
  }
}

interface RawStrategy {
  id: string;
  name: string;
  title?: string | null;
  disabled?: boolean | null;
  sortOrder?: number;
  constraints?: UnleashConstraint[];
  parameters?: Record<string, string>;
  variants?: UnleashVariant[];
  segments?: number[];
}

function normalStrategy(s: RawStrategy): UnleashStrategy {
  return {
    id: s.id,
    name: s.name,
    title: s.title ?? null,
    disabled: s.disabled ?? false,
    sortOrder: s.sortOrder ?? 0,
    constraints: s.constraints ?? [],
    parameters: s.parameters ?? {},
    variants: s.variants ?? [],
    segments: s.segments ?? [],
  };
}

/** What a strategy does, without its id and position. */
function content(s: Omit<UnleashStrategy, 'id'>): JsonValue {
  const { name, title, disabled, constraints, parameters, variants, segments } = s;
  return { name, title: title ?? null, disabled: disabled ?? false, constraints, parameters, variants, segments } as unknown as JsonValue;
}

function strategyBody(s: Omit<UnleashStrategy, 'id'> & { id?: string }): unknown {
  const { id: _id, ...rest } = s;
  return { ...rest, title: rest.title ?? undefined, disabled: rest.disabled ?? false };
}

const titleFor = (key: string) => `${MERIDIAN_TITLE} (key ${key})`;
const isMeridian = (s: UnleashStrategy) => typeof s.title === 'string' && s.title.startsWith(MERIDIAN_TITLE);

/** The strategy Meridian writes for `change`, keyed in its title. */
export function rolloutStrategy(change: FlagChange, key: string): Omit<UnleashStrategy, 'id'> {
  const value = change.flag.variants[change.variant]!;
  return {
    name: 'flexibleRollout',
    title: titleFor(key),
    disabled: false,
    constraints: [],
    parameters: { rollout: String(change.fraction), stickiness: 'default', groupId: change.flag.key },
    variants: [{ name: change.variant, weight: 1000, weightType: 'variable', stickiness: 'default', payload: payloadOf(value) }],
    segments: [],
  };
}

/**
 * A variant's payload. Unleash takes a `json` payload only as an object or array, so a boolean goes
 * as the string `true`/`false`; a boolean flag's value is whether the strategy matched, so its
 * payload is only for people reading it.
 */
function payloadOf(value: string | number | boolean): { type: string; value: string } {
  if (typeof value === 'number') return { type: 'number', value: String(value) };
  return { type: 'string', value: String(value) };
}

function driftOf(state: UnleashFlagState | undefined, expected: FlagWrite, provider: UnleashProvider): FlagDrift {
  const flagKey = expected.flag.key;
  if (state === undefined) return { drifted: true, differences: [`flag "${flagKey}" is gone from project ${provider.project}`] };
  const differences: string[] = [];
  if (expected.action === 'killSwitch') {
    if (state.enabled) differences.push(`${provider.environment}.enabled: expected false, found true`);
    return { drifted: differences.length > 0, differences };
  }
  if (!state.enabled) differences.push(`${provider.environment}.enabled: expected true, found false`);
  const ours = state.strategies.filter(isMeridian);
  if (ours.length === 0) differences.push(`strategy "${MERIDIAN_TITLE}": gone`);
  if (ours.length > 1) differences.push(`strategy "${MERIDIAN_TITLE}": ${ours.length} of them, expected one`);
  const found = ours[0];
  if (found) {
    const wanted = rolloutStrategy(expected, '') as unknown as Record<string, JsonValue>;
    const have = found as unknown as Record<string, JsonValue>;
    for (const field of ['name', 'disabled', 'constraints', 'parameters', 'variants', 'segments'] as const) {
      if (canonical(wanted[field]) !== canonical(have[field])) differences.push(`strategy "${found.title}".${field}: expected ${short(wanted[field])}, found ${short(have[field])}`);
    }
  }
  return { drifted: differences.length > 0, differences };
}

function asState(definition: JsonValue, flagKey: string): UnleashFlagState {
  const d = definition as unknown as Partial<UnleashFlagState> | null;
  if (!d || typeof d !== 'object' || typeof d.enabled !== 'boolean' || !Array.isArray(d.strategies) || typeof d.environment !== 'string') {
    throw ApplicationFailure.nonRetryable(`the snapshot of flag "${flagKey}" is not an Unleash flag configuration`, FAILURE.invalidFlagSnapshot);
  }
  return { project: String(d.project), environment: d.environment, enabled: d.enabled, strategies: d.strategies.map(normalStrategy), variants: d.variants ?? [] };
}


function unleashMessage(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { message?: string; details?: { message?: string }[] };
    return body.details?.[0]?.message ?? body.message;
  } catch {
    return text.slice(0, 200) || undefined;
  }
}

/** JSON with object keys sorted, for comparing what Unleash returns with what was written. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}

function short(value: unknown): string {
  const text = JSON.stringify(value) ?? 'nothing';
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}
