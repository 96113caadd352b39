import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SimulatedFleet } from '../activities/fleet/index';
import { FLAGD_DIR_ENV } from '../activities/flags/activities';
import type { FlagType } from '../demo-service/flag';
import { startLoad, type Load } from '../demo-service/load';
import { startPrometheus } from '../demo-service/prometheus';
import { startDemoService, type RunningDemoService } from '../demo-service/server';
import { metricFaultApplies, parseFault, type MetricFault } from '../domain/faults';
import type { FlagSpec } from '../domain/flags';
import type { RolloutPlan } from '../domain/plan';
import type { MetricSpec } from '../domain/spec';
import type { AuditEntry, RolloutStatus } from '../domain/status';
import { auditData } from '../domain/vocabulary';
import { exportTool, missingLine } from '../lib/tools';
import { CliError, ExitCode } from './exit-codes';
import { clockTime } from './render';
import { sampleMetrics, type Sample as DemoSample } from './demo-samples';

export const FLAGS_DEMO_SPEC = fileURLToPath(new URL('../examples/flags.yaml', import.meta.url));
/** Where the flags demo keeps each region's flagd flag file, and what its services counted (`report.json`), from one run to the next. */
export const DEMO_FLAGS_DIR = '.meridian/demo-flags';
export const DEMO_FLAGS_REPORT = 'report.json';
/** flagd's in-process provider watches its file with fs.watchFile, which polls every 5 s. */
export const FLAGD_POLL_MS = 5_000;
/** A kill switch later than this at the service is not what the demo expects. */
const KILL_IN_EFFECT_WITHIN_MS = FLAGD_POLL_MS + 2_000;
/** Load into each region's service: connections, users named in `x-user`, and its bounds. */
const LOAD = { concurrency: 4, users: 1_000, maxRequests: 5_000_000, maxDurationMs: 15 * 60_000 };
/** The window before the breach verdict that "before the breach" counts: the error rate's own rate window. */
const BEFORE_MS = 3_000;

/** One region's service, the only instance the region's users reach; its labels in Prometheus are `region`. */
const ERROR_RATE = 'sum(rate(http_requests_total{region="{{region}}",code=~"5.."}[3s])) / sum(rate(http_requests_total{region="{{region}}"}[3s]))';
const P99_MS = '1000 * histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{region="{{region}}"}[3s])))';
const QUERIES: Record<string, string> = { error_rate: ERROR_RATE, latency_p99_ms: P99_MS };

/** A region's flag file before the rollout: the new path shipped dark, and a flag the rollout never touches. */
export function initialFlagFile(flag: FlagSpec): string {
  const other = { state: 'ENABLED', variants: { light: 'light', dark: 'dark' }, defaultVariant: 'light' };
  const dark = { state: 'ENABLED', variants: { ...flag.variants }, defaultVariant: flag.killSwitch, metadata: { owner: 'checkout-team' } };
  return `${JSON.stringify({ flags: { 'checkout-theme': other, [flag.key]: dark } }, null, 2)}\n`;
}

/** What one region's service counted, as the demo writes it to `report.json` and prints it. */
export interface RegionFlagReport {
  region: string;
  flagFile: string;
  /** Requests on the new path, and all requests, in the BEFORE_MS before the breach verdict. */
  beforeBreach?: { newPath: number; all: number };
  /** When the region's first kill switch was recorded (the `undo` entry), and how long its provider took. */
  killSwitchAt?: string;
  killSwitchTookMs?: number;
  /** The service's last request on the new path after the kill switch: when the switch was in effect there. */
  newPathLastAt?: string;
  /** Requests on the new path, and all requests, from then to the end of the demo's load. */
  afterKillSwitch?: { newPath: number; all: number };
  /** Every request the service answered during the rollout, and those on the new path. */
  total: { newPath: number; all: number };
  /** Requests on the new path, and all requests, in the last BEFORE_MS of the load. */
  atEnd: { newPath: number; all: number };
  /** The flag file at the end is byte for byte what it was before the rollout. */
  fileAsBefore: boolean;
}

export interface FlagsReport {
  verdictAt?: string;
  /** The kinds of the saga's planned undo steps, in order. */
  compensation: string[];
  /** The undo entries of the audit trail (`undo`, `undo-failed`, `traffic-cut`), by kind or action, in order. */
  undoOrder: string[];
  regions: RegionFlagReport[];
}

export interface FlagDemo {
  /** The plan with its simulated metrics as PromQL over the demo services. */
  plan: RolloutPlan;
  /** The folder of the flag files (MERIDIAN_FLAGD_DIR for the worker). */
  dir: string;
  /** Keeps the load on until every kill switch can have taken effect, stops it, and says what each region's service saw. */
  report(status: RolloutStatus, expectRollback: boolean): Promise<{ lines: string[]; problems: string[] }>;
  /** Stops the load, Prometheus and the services, and gives the worker back its own MERIDIAN_FLAGD_DIR; safe to call twice. */
  stop(): Promise<void>;
}

/** The Prometheus binary lib/tools.ts finds; when there is none, a CliError saying how to get it and why the demo needs it. */
export function prometheusBinary(): string {
  const prometheus = exportTool('prometheus');
  if (!prometheus) {
    throw new CliError(`${missingLine('prometheus')}. The flags demo judges the new path's real errors, which only Prometheus over its services sees`, ExitCode.Unexpected);
  }
  return prometheus;
}

interface Region {
  name: string;
  file: string;
  url: string;
  load?: Load;
}

/**
 * The flags demo for real, on loopback: a flagd flag file per region in DEMO_FLAGS_DIR (the
 * worker's MERIDIAN_FLAGD_DIR while the demo runs), a demo-service instance per region that reads
 * its region's file through OpenFeature with flagd's in-process provider, a load of named users
 * into each, Prometheus scraping them, and the spec's `error_rate` faults as the new path's real
 * error rate in their region.
 */
export async function startFlagDemo(plan: RolloutPlan, fleetFile: string, log: (line: string) => void): Promise<FlagDemo> {
  const flag = demoFlag(plan);
  const dir = resolve(DEMO_FLAGS_DIR);
  mkdirSync(dir, { recursive: true });
  const cleanup: (() => Promise<unknown> | unknown)[] = [];
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= (async () => {
    for (const undo of cleanup.reverse()) await undo();
  })());
  try {
    const regions = writeFlagFiles(plan, flag.spec, dir);
    const previous = process.env[FLAGD_DIR_ENV];
    process.env[FLAGD_DIR_ENV] = dir;
    cleanup.push(() => (previous === undefined ? delete process.env[FLAGD_DIR_ENV] : (process.env[FLAGD_DIR_ENV] = previous)));
    log(`flag files: ${dir} (MERIDIAN_FLAGD_DIR of the demo's worker), one per region: ${regions.map((r) => basename(r.file)).join(', ')}`);

    const service = await startDemoService({
      versions: regions.map((r) => ({ version: r.name, flag: { file: r.file, key: flag.spec.key, newPathVariant: flag.newPath, type: flag.type } })),
    });
    cleanup.push(() => service.close());
    for (const v of service.versions) regions.find((r) => r.name === v.version)!.url = v.url;
    const prom = await startPrometheus(regions.map((r) => ({ url: r.url, labels: { region: r.name } })));
    cleanup.push(() => prom.stop());
    log(`demo service: one instance per region, each reading its flag file through OpenFeature (flagd in-process provider); scraped every 1s by Prometheus at ${prom.address}`);
    for (const r of regions) {
      r.load = startLoad({ ...LOAD, urls: [r.url], userPrefix: `${r.name}-user-` });
      cleanup.push(() => r.load!.stop());
    }
    log(`load: ${LOAD.concurrency} connections and ${LOAD.users} users into each region's service, until the rollout ends`);
    const faults = newPathFaults(plan, service, fleetFile, log);
    cleanup.push(() => faults.stop());
    const samples = sampleServed(service);
    cleanup.push(() => samples.stop());

    await prom.waitForTargets();
    // Rates over 3s need a few scrapes of traffic before the first query.
    await new Promise((r) => setTimeout(r, 4_000));
    return {
      plan: { ...plan, metrics: onPrometheus(plan.metrics, prom.address) },
      dir,
      report: async (status, expectRollback) => {
        await holdUntilKillSwitchesCount(status);
        const [, taken] = await Promise.all([Promise.all(regions.map((r) => r.load!.stop())), samples.stop()]);
        const data = flagsReport(status, regions, taken, flag.spec);
        writeFileSync(join(dir, DEMO_FLAGS_REPORT), `${JSON.stringify(data, null, 2)}\n`);
        return summarize(data, status, flag.spec, expectRollback);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The spec's one flag the services read, the variant its steps roll out (the new path), and the type of its values. */
function demoFlag(plan: RolloutPlan): { spec: FlagSpec; newPath: string; type: FlagType } {
  const spec = plan.flags?.flags[0];
  if (!spec) throw new CliError('the flags demo needs a spec with flags', ExitCode.Usage);
  const steps = Object.values(plan.regions).flatMap((r) => r.steps);
  const newPath = steps.flatMap((s) => (s.kind === 'flag' && s.flag === spec.key && s.variant !== spec.killSwitch ? [s.variant] : []))[0] ?? 'on';
  const type = typeof spec.variants[newPath] as FlagType;
  return { spec, newPath, type };
}

/** Each region's flag file, written afresh as it is before the rollout; every region needs a flagd provider. */
function writeFlagFiles(plan: RolloutPlan, flag: FlagSpec, dir: string): Region[] {
  return Object.keys(plan.regions).map((name) => {
    const provider = plan.flags?.regions[name]?.provider;
    if (provider?.type !== 'flagd') throw new CliError(`the flags demo runs flagd flag files; region ${name} has ${provider ? `a ${provider.type} provider` : 'no flag provider'}`, ExitCode.Usage);
    const file = join(dir, `${provider.file}.json`);
    writeFileSync(file, initialFlagFile(flag));
    return { name, file, url: '' };
  });
}

/**
 * The spec's `error_rate` faults made real on the new path: while a fault holds (its weight
 * condition, against the simulated fleet's canary weight), its region's service fails that share
 * of the requests the flag sends down the new path, and none of the others.
 */
function newPathFaults(plan: RolloutPlan, service: RunningDemoService, fleetFile: string, log: (line: string) => void): { stop(): void } {
  const parsed = (plan.simulation?.faults ?? []).map(parseFault).filter((f): f is MetricFault => !('error' in f) && f.kind === 'metric');
  const faults = parsed.filter((f) => f.metric === 'error_rate' && f.role !== 'stable' && f.value !== 'nodata');
  const ignored = parsed.filter((f) => !faults.includes(f));
  if (ignored.length > 0) log(`faults the flags demo does not make real (only error_rate faults, on the new path): ${ignored.length}`);
  for (const f of faults) log(`fault made real: ${f.region}'s new path fails ${Math.round((f.value as number) * 100)}% of its requests${f.when === 'always' ? '' : ` while its canary weight is ${f.when.compare} ${f.when.weight}%`}`);
  const fleet = new SimulatedFleet(fleetFile);
  const apply = () => {
    for (const f of faults) {
      const region = fleet.region(plan.service, f.region);
      const on = f.when === 'always' || (region !== undefined && metricFaultApplies(f, region.weight));
      service.set(f.region, { newPathErrorRate: on ? (f.value as number) : 0 });
    }
  };
  apply();
  const timer = setInterval(apply, 200);
  return { stop: () => clearInterval(timer) };
}

/** The plan's simulated error_rate and latency_p99_ms as PromQL over each region's service. */
function onPrometheus(metrics: Record<string, MetricSpec>, address: string): Record<string, MetricSpec> {
  const out: Record<string, MetricSpec> = {};
  for (const [key, m] of Object.entries(metrics)) {
    const query = m.provider.type === 'simulated' ? QUERIES[m.name] : undefined;
    out[key] = query ? { ...m, provider: { type: 'prometheus', address, query, timeout: 5_000 } } : m;
  }
  return out;
}

/** Requests on the new path and all requests each region's service counted (`flag_path_total`), sampled. */
type Sample = DemoSample<{ newPath: number; all: number }>;

const sampleServed = (service: RunningDemoService) => sampleMetrics(service, pathCounts);

function pathCounts(text: string): { newPath: number; all: number } {
  const counts = { newPath: 0, all: 0 };
  for (const m of text.matchAll(/^flag_path_total\{([^}]*)\} (\S+)$/gm)) {
    counts.all += Number(m[2]);
    if (m[1]!.includes('path="new"')) counts.newPath += Number(m[2]);
  }
  return counts;
}

const killSwitchEntries = (status: RolloutStatus) => status.audit.filter((a) => auditData(a, 'undo')?.undo === 'killSwitch');

/** The load runs on until the last kill switch is older than flagd's poll and a margin, so its effect is in the counts. */
async function holdUntilKillSwitchesCount(status: RolloutStatus): Promise<void> {
  const last = Math.max(0, ...killSwitchEntries(status).map((a) => Date.parse(a.at)));
  const wait = last + KILL_IN_EFFECT_WITHIN_MS - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

/** Counts between the last sample at or before `from` and the last sample at or before `to`. */
function between(samples: Sample[], region: string, from: number, to: number): { newPath: number; all: number } {
  const at = (t: number) => [...samples].reverse().find((s) => s.at <= t) ?? samples[0];
  const [a, b] = [at(from)?.values[region], at(to)?.values[region]];
  return { newPath: (b?.newPath ?? 0) - (a?.newPath ?? 0), all: (b?.all ?? 0) - (a?.all ?? 0) };
}

/** The time of the last sample at which the region's new-path count rose, at or after `from`. */
function lastNewPathRise(samples: Sample[], region: string, from: number): number | undefined {
  let last: number | undefined;
  for (let i = 1; i < samples.length; i++) {
    if (samples[i]!.at < from) continue;
    if (samples[i]!.values[region]!.newPath > samples[i - 1]!.values[region]!.newPath) last = samples[i]!.at;
  }
  return last;
}

function flagsReport(status: RolloutStatus, regions: Region[], samples: Sample[], flag: FlagSpec): FlagsReport {
  const verdict = status.audit.find((a) => a.action === 'analysis-failed');
  const verdictAt = verdict ? Date.parse(verdict.at) : undefined;
  const end = samples.at(-1)?.at ?? Date.now();
  const start = samples[0]?.at ?? 0;
  const undoOrder = status.audit.flatMap((a) => (a.action === 'undo' || a.action === 'undo-failed' ? [String(a.data?.undo)] : a.action === 'traffic-cut' ? ['traffic-cut'] : []));
  return {
    ...(verdict ? { verdictAt: verdict.at } : {}),
    compensation: status.compensation.map((r) => r.undo.kind),
    undoOrder,
    regions: regions.map((r) => {
      const kill = killSwitchEntries(status).find((a) => a.region === r.name);
      const killAt = kill ? Date.parse(kill.at) : undefined;
      const lastNew = killAt === undefined ? undefined : (lastNewPathRise(samples, r.name, killAt) ?? killAt);
      return {
        region: r.name,
        flagFile: basename(r.file),
        ...(verdictAt !== undefined ? { beforeBreach: between(samples, r.name, verdictAt - BEFORE_MS, verdictAt) } : {}),
        ...(kill ? { killSwitchAt: kill.at, killSwitchTookMs: auditData(kill, 'undo')?.tookMs } : {}),
        ...(lastNew !== undefined ? { newPathLastAt: new Date(lastNew).toISOString(), afterKillSwitch: between(samples, r.name, lastNew, end) } : {}),
        total: between(samples, r.name, start, end),
        atEnd: between(samples, r.name, end - BEFORE_MS, end),
        fileAsBefore: readFileSync(r.file, 'utf8') === initialFlagFile(flag),
      };
    }),
  };
}

const percent = (c: { newPath: number; all: number }) => (c.all === 0 ? 'no requests' : `${((100 * c.newPath) / c.all).toFixed(1)}% of ${c.all.toLocaleString('en-US')} requests`);
const secondsBetween = (a: string, b: string) => ((Date.parse(b) - Date.parse(a)) / 1000).toFixed(1);

/** The summary lines, and what is not as the demo expects. */
function summarize(data: FlagsReport, status: RolloutStatus, flag: FlagSpec, expectRollback: boolean): { lines: string[]; problems: string[] } {
  const lines = ['Flags (real flag files, real services, real metrics on Prometheus; traffic steps move the simulated fleet):'];
  const problems: string[] = [];
  const verdict = status.audit.find((a) => a.action === 'analysis-failed');
  if (verdict) lines.push(`  breach verdict: ${clockTime(verdict.at)} ${verdict.reason}`);
  const kills = data.undoOrder.findIndex((k) => k !== 'killSwitch');
  const first = kills < 0 ? data.undoOrder.length : kills;
  if (first > 0) lines.push(`  first undo: the kill switch of ${flag.key} (${flag.killSwitch} for everyone), in ${first} region${first === 1 ? '' : 's'} at once, before anything else`);
  for (const r of data.regions) lines.push(...regionLines(r, status, flag, problems));
  if (!expectRollback) return { lines, problems };
  if (first === 0) problems.push(`the first undo was ${data.undoOrder[0] ?? 'nothing'}, not a kill switch`);
  if (data.compensation[0] !== 'killSwitch') problems.push(`the saga planned ${data.compensation[0] ?? 'nothing'} first, not the kill switches`);
  return { lines, problems };
}

function regionLines(r: RegionFlagReport, status: RolloutStatus, flag: FlagSpec, problems: string[]): string[] {
  const changes = status.audit.filter((a) => a.region === r.region && a.action === 'flag');
  if (changes.length === 0) {
    if (r.total.newPath > 0) problems.push(`${r.region} served ${r.total.newPath} requests on the new path without a flag step`);
    return [`  ${r.region}: flag never changed; ${percent(r.total)} on the new path`];
  }
  const lines = [`  ${r.region} (${r.flagFile}):`];
  lines.push(`    ${changes.map(flagChange).join('; ')}`);
  if (r.beforeBreach) lines.push(`    before the breach: ${percent(r.beforeBreach)} on the new path (the ${BEFORE_MS / 1000} s before the verdict)`);
  if (r.killSwitchAt && r.newPathLastAt && r.afterKillSwitch) {
    const took = r.killSwitchTookMs === undefined ? '' : ` (written in ${r.killSwitchTookMs} ms)`;
    lines.push(`    kill switch at ${clockTime(r.killSwitchAt)}${took}; in effect at the service ${secondsBetween(r.killSwitchAt, r.newPathLastAt)} s later (its last new-path request)`);
    lines.push(`    after the kill switch: ${percent(r.afterKillSwitch)} on the new path, to the end`);
    if (Date.parse(r.newPathLastAt) - Date.parse(r.killSwitchAt) > KILL_IN_EFFECT_WITHIN_MS) problems.push(`${r.region}'s service still took the new path ${secondsBetween(r.killSwitchAt, r.newPathLastAt)} s after the kill switch`);
    if (r.afterKillSwitch.all === 0) problems.push(`${r.region}'s service served nothing after the kill switch took effect`);
  }
  if (status.phase !== 'RolledBack') lines.push(`    at the end: ${percent(r.atEnd)} on the new path (the last ${BEFORE_MS / 1000} s)`);
  if (status.phase === 'RolledBack') {
    lines.push(`    at the end: ${r.flagFile} ${r.fileAsBefore ? 'is byte for byte as before the rollout' : 'is NOT as before the rollout'}`);
    if (!r.fileAsBefore) problems.push(`${r.flagFile} did not end as it was before the rollout`);
    if (!r.killSwitchAt) problems.push(`no kill switch in ${r.region}, which changed the flag`);
  }
  return lines;
}

function flagChange(a: AuditEntry): string {
  const d = auditData(a, 'flag')!;
  const capped = d.requested !== undefined ? ` (asked ${d.requested}%, the region's cap)` : '';
  return `${clockTime(a.at)} ${d.variant} for ${d.fraction}% of users${capped}`;
}
