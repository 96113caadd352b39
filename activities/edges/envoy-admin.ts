import { createHash } from 'node:crypto';
/** Reading an Envoy through its admin interface: stats, and the configuration it serves. */

const REQUEST_TIMEOUT_MS = 5_000;

async function get(admin: string, path: string): Promise<string> {
  const url = new URL(path, admin);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (err) {
    throw new Error(`Envoy admin at ${admin} did not answer ${url.pathname}: ${(err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) throw new Error(`Envoy admin at ${admin} answered ${url.pathname} with ${res.status}: ${text.trim().slice(0, 200)}`);
  return text;
}

/** Every stat of the text `/stats` page, by name; counters and gauges as numbers, `*_text` stats as their string. */
export async function readStats(admin: string, filter?: string): Promise<Map<string, number | string>> {
  const text = await get(admin, filter ? `/stats?filter=${encodeURIComponent(filter)}` : '/stats');
  const stats = new Map<string, number | string>();
  for (const line of text.split('\n')) {
    const at = line.indexOf(': ');
    if (at < 0) continue;
    const name = line.slice(0, at);
    const value = line.slice(at + 2).trim();
    if (/^-?\d+$/.test(value)) stats.set(name, Number(value));
    else if (value.startsWith('"')) stats.set(name, JSON.parse(value) as string);
  }
  return stats;
}

export const counter = (stats: Map<string, number | string>, name: string): number => {
  const v = stats.get(name);
  return typeof v === 'number' ? v : 0;
};

/** Fields that change with every update but say nothing about what is served. */
const VOLATILE = new Set(['version_info', 'last_updated']);
/** Lists of named resources, whose order in the dump is the proxy's, not the configuration's. */
const NAMED_LISTS = new Set(['dynamic_active_clusters', 'dynamic_warming_clusters', 'dynamic_listeners', 'dynamic_route_configs', 'static_clusters', 'static_listeners', 'static_route_configs']);

function resourceName(entry: unknown): string {
  const e = entry as Record<string, Record<string, unknown> | string | undefined>;
  if (typeof e.name === 'string') return e.name;
  for (const inner of [e.cluster, e.route_config, (e.active_state as Record<string, unknown> | undefined)?.listener, e.listener]) {
    const name = (inner as { name?: unknown } | undefined)?.name;
    if (typeof name === 'string') return name;
  }
  return '';
}

function canonical(value: unknown, key?: string): unknown {
  if (Array.isArray(value)) {
    const items = value.map((v) => canonical(v));
    return key && NAMED_LISTS.has(key) ? items.sort((a, b) => resourceName(a).localeCompare(resourceName(b))) : items;
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      if (!VOLATILE.has(k)) out[k] = canonical((value as Record<string, unknown>)[k], k);
    }
    return out;
  }
  return value;
}

type Dump = { configs?: Record<string, unknown>[] };
const BOOTSTRAP_DUMP = 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump';

/**
 * `/config_dump` as canonical JSON: keys sorted, named resources by name, version and update-time
 * fields removed, and without the node's list of extensions compiled into the binary (most of the
 * dump, and no part of the configuration).
 */
export async function liveConfig(admin: string): Promise<string> {
  const dump = JSON.parse(await get(admin, '/config_dump')) as Dump;
  for (const section of dump.configs ?? []) {
    if (section['@type'] === BOOTSTRAP_DUMP) delete (section.bootstrap as { node?: { extensions?: unknown } } | undefined)?.node?.extensions;
  }
  return `${JSON.stringify(canonical(dump), null, 1)}\n`;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * What a snapshot keeps of the live configuration: a hash of the whole canonical dump, of its
 * bootstrap, and of each dynamic resource by `kind name`. Equal digests mean equal canonical dumps,
 * and the resource hashes say which resources differ, at a few hundred bytes instead of the dump's
 * kilobytes in workflow history.
 */
export function liveDigest(live: string): string {
  const resources = Object.fromEntries([...liveResources(live)].sort(([a], [b]) => a.localeCompare(b)).map(([name, json]) => [name, sha256(json)]));
  return JSON.stringify({ all: sha256(live), bootstrap: sha256(liveBootstrap(live) ?? ''), resources });
}

/** How two live digests differ: resources gone, added or changed, and a bootstrap that changed. */
export function digestDifferences(expected: string, actual: string): string[] {
  type Digest = { all: string; bootstrap: string; resources: Record<string, string> };
  const [want, have] = [JSON.parse(expected) as Digest, JSON.parse(actual) as Digest];
  if (want.all === have.all) return [];
  const lines: string[] = [];
  for (const [name, hash] of Object.entries(want.resources)) {
    if (!(name in have.resources)) lines.push(`live ${name} is gone`);
    else if (have.resources[name] !== hash) lines.push(`live ${name} differs from what Meridian left`);
  }
  for (const name of Object.keys(have.resources)) if (!(name in want.resources)) lines.push(`live ${name} was added`);
  if (want.bootstrap !== have.bootstrap) lines.push('live bootstrap differs: Envoy was restarted with another bootstrap or build');
  return lines.length ? lines : ['live configuration differs from what Meridian left'];
}

/** The bootstrap section of a canonical config dump, as JSON. */
export function liveBootstrap(live: string): string {
  return JSON.stringify((JSON.parse(live) as Dump).configs?.find((c) => c['@type'] === BOOTSTRAP_DUMP));
}

/** The dynamic resources of a canonical config dump, as `kind name` → their JSON, to tell which differ. */
export function liveResources(live: string): Map<string, string> {
  const dump = JSON.parse(live) as Dump;
  const resources = new Map<string, string>();
  const kinds: Record<string, string> = {
    dynamic_active_clusters: 'cluster',
    dynamic_warming_clusters: 'warming cluster',
    dynamic_listeners: 'listener',
    dynamic_route_configs: 'route config',
  };
  for (const section of dump.configs ?? []) {
    for (const [list, kind] of Object.entries(kinds)) {
      for (const entry of (section[list] as unknown[] | undefined) ?? []) resources.set(`${kind} ${resourceName(entry)}`, JSON.stringify(entry));
    }
  }
  return resources;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns undefined (done), or throws what it last said after `timeoutMs`. */
export async function waitFor(what: string, check: () => Promise<string | undefined>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string | undefined = 'not checked yet';
  for (;;) {
    try {
      last = await check();
    } catch (err) {
      if (err instanceof WaitAborted) throw err.cause;
      last = (err as Error).message;
    }
    if (last === undefined) return;
    if (Date.now() >= deadline) throw new Error(`${what} not done after ${timeoutMs} ms: ${last}`);
    await sleep(50);
  }
}

/** Thrown inside a {@link waitFor} check to stop waiting at once with `cause`. */
export class WaitAborted extends Error {
  override cause: Error;
  constructor(cause: Error) {
    super(cause.message);
    this.cause = cause;
  }
}
