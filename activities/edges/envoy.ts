import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { EdgeShares, EdgeSpec } from '../../domain/edges';
import { FAILURE } from '../../domain/vocabulary';
import { counter, digestDifferences, liveConfig, liveDigest, readStats, waitFor, WaitAborted } from './envoy-admin';
import {
  bootstrapConfig,
  CDS_FILE,
  canaryCluster,
  EDGE_ROUTE,
  fileVersion,
  INITIAL_VERSION,
  LDS_FILE,
  readRouting,
  regionCluster,
  renderFiles,
  resourceFiles,
  routeFile,
  routingProblems,
  stableCluster,
  type BootstrapOptions,
} from './envoy-resources';
import type { EdgeDrift, EdgeDriver, EdgeSnapshot, EdgeStats } from './types';

export type { BootstrapOptions } from './envoy-resources';

/** The bootstrap's file name inside `configDir`; Envoy does not watch it. */
export const BOOTSTRAP_FILE = 'bootstrap.json';

/** How long `apply` and `restore` wait for Envoy to serve what they wrote. */
const APPLY_TIMEOUT_MS = 15_000;

/**
 * Writes the Envoy bootstrap of `edge` into its `configDir`, and the resource files at the edge's
 * normal shares without mirrors where none are there yet (Envoy refuses to start without them).
 * Returns the bootstrap's path, for `envoy -c`.
 */
export function writeEnvoyBootstrap(edge: EdgeSpec, options: BootstrapOptions): string {
  const dir = edge.provider.configDir;
  mkdirSync(dir, { recursive: true });
  const normal = { shares: Object.fromEntries(edge.routes.map((r) => [r.region, r.share])) };
  for (const [name, text] of Object.entries(renderFiles(edge, normal, INITIAL_VERSION))) {
    if (readFile(dir, name) === undefined) writeAtomically(dir, name, text);
  }
  writeAtomically(dir, BOOTSTRAP_FILE, `${JSON.stringify(bootstrapConfig(edge, options), null, 2)}\n`);
  return join(dir, BOOTSTRAP_FILE);
}

function readFile(dir: string, name: string): string | undefined {
  try {
    return readFileSync(join(dir, name), 'utf8');
  } catch {
    return undefined;
  }
}

/** Envoy reloads a watched file when one is moved onto it, and may read a file written in place half-done. */
function writeAtomically(dir: string, name: string, text: string): void {
  const partial = join(dir, `.${name}.${process.pid}.tmp`);
  writeFileSync(partial, text);
  renameSync(partial, join(dir, name));
}

/** The edge's resource files as they are: the ones its routes need, and any other route file left there. */
function readFiles(edge: EdgeSpec): Record<string, string> {
  const dir = edge.provider.configDir;
  const names = new Set(resourceFiles(edge));
  for (const name of listDir(dir)) if (/^rds-.+\.json$/.test(name)) names.add(name);
  const files: Record<string, string> = {};
  for (const name of [...names].sort()) {
    const text = readFile(dir, name);
    if (text !== undefined) files[name] = text;
  }
  return files;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The stat that holds the version Envoy serves for each resource file, by file name. */
function versionStats(files: string[]): Map<string, string> {
  const stats = new Map<string, string>();
  for (const name of files) {
    if (name === CDS_FILE) stats.set(name, 'cluster_manager.cds');
    else if (name === LDS_FILE) stats.set(name, 'listener_manager.lds');
    else {
      const route = /^rds-(.+)\.json$/.exec(name)?.[1];
      if (route) stats.set(name, `http.${route}.rds.${route}`);
    }
  }
  return stats;
}

/**
 * Waits until Envoy serves version `want[file]` of every file; fails at once, non-retryable, when
 * Envoy rejects one of them (its `update_rejected` went up since `before`).
 */
async function waitForVersions(edge: EdgeSpec, want: Record<string, string>, before: Map<string, number | string>): Promise<void> {
  const stats = versionStats(Object.keys(want));
  await waitFor(
    `edge "${edge.name}": Envoy serving the new configuration`,
    async () => {
      const now = await readStats(edge.provider.admin);
      const behind: string[] = [];
      for (const [file, prefix] of stats) {
        if (counter(now, `${prefix}.update_rejected`) > counter(before, `${prefix}.update_rejected`)) {
          throw new WaitAborted(
            ApplicationFailure.nonRetryable(`edge "${edge.name}": Envoy rejected ${file} (${prefix}.update_rejected went up; its log says why)`, FAILURE.edgeConfigRejected),
          );
        }
        const serving = now.get(`${prefix}.version_text`);
        if (serving !== want[file]) behind.push(`${file} at ${JSON.stringify(serving ?? null)}, not ${JSON.stringify(want[file])}`);
      }
      return behind.length ? behind.join('; ') : undefined;
    },
    APPLY_TIMEOUT_MS,
  );
}

/**
 * Writes `files` (those that differ from what is there), clusters first, then listeners, then route
 * configs, each tier once Envoy serves the one before, so no route points at a cluster Envoy lacks.
 */
async function writeInTiers(edge: EdgeSpec, files: Record<string, string>): Promise<void> {
  const dir = edge.provider.configDir;
  const tiers = [[CDS_FILE], [LDS_FILE], Object.keys(files).filter((n) => n !== CDS_FILE && n !== LDS_FILE && n !== routeFile(EDGE_ROUTE)), [routeFile(EDGE_ROUTE)]];
  for (const tier of tiers) {
    const changed = tier.filter((name) => files[name] !== undefined && readFile(dir, name) !== files[name]);
    if (changed.length === 0) continue;
    const before = await readStats(edge.provider.admin);
    for (const name of changed) writeAtomically(dir, name, files[name]!);
    await waitForVersions(edge, Object.fromEntries(changed.map((n) => [n, fileVersion(files[n]) ?? ''])), before);
  }
}

async function snapshot(edge: EdgeSpec): Promise<EdgeSnapshot> {
  const files = readFiles(edge);
  const missing = resourceFiles(edge).filter((name) => files[name] === undefined);
  if (missing.length) {
    throw ApplicationFailure.nonRetryable(
      `edge "${edge.name}": ${missing.join(', ')} missing from ${edge.provider.configDir}; write the edge's bootstrap first`,
      FAILURE.edgeNotConfigured,
    );
  }
  return { version: fileVersion(files[routeFile(EDGE_ROUTE)]) ?? '', files, routing: readRouting(edge, files), live: liveDigest(await liveConfig(edge.provider.admin)) };
}

async function apply(edge: EdgeSpec, routing: EdgeShares, key: string): Promise<EdgeSnapshot> {
  const problems = routingProblems(edge, routing);
  if (problems.length) throw ApplicationFailure.nonRetryable(`edge "${edge.name}": ${problems.join('; ')}`, FAILURE.invalidEdgeRouting);
  const current = readFiles(edge);
  const files = renderFiles(edge, routing, key);
  const done = Object.keys(files).every((name) => fileVersion(current[name]) === key);
  if (!done) await writeInTiers(edge, files);
  else await waitForVersions(edge, Object.fromEntries(Object.keys(files).map((n) => [n, key])), await readStats(edge.provider.admin));
  return snapshot(edge);
}

/** `apply` writes its files in tiers, the edge route last, so a change cut short may have written any of them. */
async function started(edge: EdgeSpec, key: string): Promise<boolean> {
  return Object.values(readFiles(edge)).some((text) => fileVersion(text) === key);
}

async function restore(edge: EdgeSpec, saved: EdgeSnapshot, key: string): Promise<void> {
  await writeInTiers(edge, saved.files);
  for (const name of Object.keys(readFiles(edge))) {
    if (saved.files[name] === undefined) rmSync(join(edge.provider.configDir, name), { force: true });
  }
  await waitFor(
    `edge "${edge.name}": restore ${key} to version ${saved.version}`,
    async () => {
      const differences = digestDifferences(saved.live, liveDigest(await liveConfig(edge.provider.admin)));
      return differences.length ? differences.join('; ') : undefined;
    },
    APPLY_TIMEOUT_MS,
  );
}

function routingDifferences(file: string, expected: EdgeShares, actual: EdgeShares): string[] {
  const lines: string[] = [];
  const regions = new Set([...Object.keys(expected.shares), ...Object.keys(actual.shares)]);
  for (const region of regions) {
    const [want, have] = [expected.shares[region] ?? 0, actual.shares[region] ?? 0];
    if (file === routeFile(EDGE_ROUTE) && want !== have) lines.push(`${file}: ${region} has share ${have}, Meridian left ${want}`);
    const [wantMirror, haveMirror] = [expected.mirrors?.[region] ?? 0, actual.mirrors?.[region] ?? 0];
    if (file === routeFile(regionCluster(region)) && wantMirror !== haveMirror) {
      lines.push(`${file}: ${region} mirrors ${haveMirror}% to its canary, Meridian left ${wantMirror}%`);
    }
  }
  return lines;
}

function fileDifferences(edge: EdgeSpec, expected: Record<string, string>, actual: Record<string, string>): string[] {
  const lines: string[] = [];
  for (const name of [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort()) {
    const [want, have] = [expected[name], actual[name]];
    if (want === have) continue;
    if (have === undefined) lines.push(`${name} is gone`);
    else if (want === undefined) lines.push(`${name} was added`);
    else {
      let detail: string[] = [];
      try {
        detail = routingDifferences(name, readRouting(edge, { [name]: want }), readRouting(edge, { [name]: have }));
      } catch {
        detail = [`${name} is not valid JSON`];
      }
      const [wantVersion, haveVersion] = [fileVersion(want), fileVersion(have)];
      if (wantVersion !== haveVersion) detail.push(`${name}: version ${JSON.stringify(haveVersion ?? null)}, Meridian left ${JSON.stringify(wantVersion)}`);
      lines.push(...(detail.length ? detail : [`${name} changed`]));
    }
  }
  return lines;
}

async function drift(edge: EdgeSpec, expected: EdgeSnapshot): Promise<EdgeDrift> {
  const differences = [...fileDifferences(edge, expected.files, readFiles(edge)), ...digestDifferences(expected.live, liveDigest(await liveConfig(edge.provider.admin)))];
  return { drifted: differences.length > 0, differences };
}

async function stats(edge: EdgeSpec): Promise<EdgeStats> {
  const all = await readStats(edge.provider.admin, '^cluster\\.[^.]+\\.upstream_rq_(total|2xx|5xx)$');
  const of = (cluster: string) => ({
    requests: counter(all, `cluster.${cluster}.upstream_rq_total`),
    '2xx': counter(all, `cluster.${cluster}.upstream_rq_2xx`),
    '5xx': counter(all, `cluster.${cluster}.upstream_rq_5xx`),
  });
  const regions: EdgeStats['regions'] = {};
  for (const r of edge.routes) {
    regions[r.region] = {
      requests: counter(all, `cluster.${regionCluster(r.region)}.upstream_rq_total`),
      stable: of(stableCluster(r.region)),
      ...(r.canaryAddress ? { mirror: of(canaryCluster(r.region)) } : {}),
    };
  }
  return { regions };
}

/**
 * The Envoy edge: Envoy reads the edge's clusters, internal listeners and route configs from
 * files in `configDir` (envoy-resources.ts has the layout) and reloads each when it is replaced.
 * `apply` with a key the files already carry writes nothing.
 */
export function envoyEdgeDriver(): EdgeDriver {
  return { kind: 'envoy', snapshot, apply, started, restore, drift, stats };
}
