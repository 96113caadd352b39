/**
 * `npm run chaos`: the chaos campaign. Starts a local Temporal cluster on PostgreSQL (cluster/) in a
 * temporary folder, runs each row against it, prints a table and writes chaos/report.json; exits 1
 * when any rollout ended inconsistent, applied a keyed operation twice or got stuck.
 *
 *   npm run chaos                               (every row, full size)
 *   npm run chaos -- --rows R1,R2 --size ci     (some rows, the short variant the tests run)
 *   npm run chaos -- --json --port 7233         (the report on stdout; the cluster on Temporal's own ports)
 */
import '../lib/require-node.js';
import { randomInt } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { killClusterSync, portsFrom, startCluster, stopCluster, type ClusterPorts, type ClusterState } from '../cluster/index';
import { portFree } from '../lib/ports';
import { ROWS } from './rows/index';
import type { CampaignSize, RowId, RowResult } from './types';

const REPORT_FILE = join(import.meta.dirname, 'report.json');
const SIZES: readonly CampaignSize[] = ['ci', 'full'];
/** Where the cluster's ports are taken from when --port is not given. */
const LOW_PORTS: [number, number] = [22_000, 32_000];

interface Options {
  rows: RowId[];
  size: CampaignSize;
  json: boolean;
  port?: number;
}

const err = (line: string) => process.stderr.write(`${line}\n`);

function rowList(value: string): RowId[] {
  const ids = value.split(',').map((v) => v.trim().toUpperCase()).filter(Boolean);
  const unknown = ids.filter((id) => !(id in ROWS));
  if (unknown.length > 0 || ids.length === 0) {
    throw new InvalidArgumentError(`unknown row ${unknown.join(', ') || '(none given)'}; the rows are ${Object.keys(ROWS).join(', ')}`);
  }
  return ids as RowId[];
}

function parseArgs(argv: string[]): Options {
  const program = new Command('chaos')
    .description('The chaos campaign: rollouts on a local Temporal cluster while workers and servers are killed; checks every end state from outside.')
    .option('--rows <ids>', `rows to run, comma-separated (default: ${Object.keys(ROWS).join(',')})`, rowList)
    .addOption(new Option('--size <size>', 'ci: the short variant the tests run; full: the campaign').choices(SIZES).default('full'))
    .option('--json', 'print the report as JSON instead of the table')
    .option('--port <port>', 'the cluster frontend\'s port, the others around it as `npm run cluster` lays them out (default: free ports)', (v) => {
      const port = Number(v);
      if (!Number.isInteger(port) || port < 1024 || port > 65_000) throw new InvalidArgumentError('it must be a port number from 1024 to 65000.');
      return port;
    })
    .exitOverride();
  program.parse(argv);
  const opts = program.opts<{ rows?: RowId[]; size: CampaignSize; json?: boolean; port?: number }>();
  return { rows: opts.rows ?? (Object.keys(ROWS) as RowId[]), size: opts.size, json: Boolean(opts.json), port: opts.port };
}

/**
 * Free loopback ports below 32768: the server keeps each service's membership port in a PostgreSQL
 * smallint, so the OS's ephemeral ports (freePorts) do not fit. The scan starts at a random port so
 * two campaigns seldom race for the same ones.
 */
async function lowFreePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  const start = LOW_PORTS[0] + randomInt(LOW_PORTS[1] - LOW_PORTS[0]);
  for (let i = 0; ports.length < count && i < LOW_PORTS[1] - LOW_PORTS[0]; i++) {
    const port = LOW_PORTS[0] + ((start - LOW_PORTS[0] + i) % (LOW_PORTS[1] - LOW_PORTS[0]));
    if (await portFree(port)) ports.push(port);
  }
  if (ports.length < count) throw new Error(`fewer than ${count} free ports in ${LOW_PORTS.join('-')}; pick the cluster's ports with --port`);
  return ports;
}

async function clusterPorts(port: number | undefined): Promise<ClusterPorts> {
  if (port !== undefined) return portsFrom(port);
  const [frontend, frontendHttp, postgres, history, matching, worker, ...m] = await lowFreePorts(10);
  return {
    frontend: frontend!,
    frontendHttp: frontendHttp!,
    postgres: postgres!,
    grpc: { frontend: frontend!, history: history!, matching: matching!, worker: worker! },
    membership: { frontend: m[0]!, history: m[1]!, matching: m[2]!, worker: m[3]! },
  };
}

/** A row that threw is reported as a row with that problem and no rollouts. */
async function runRow(id: RowId, cluster: ClusterState, opts: Options, workDir: string): Promise<RowResult> {
  const started = Date.now();
  const log = (line: string) => err(`[${id} +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`);
  mkdirSync(workDir, { recursive: true });
  try {
    return await ROWS[id]({ cluster, size: opts.size, workDir, log });
  } catch (e) {
    log(`failed: ${(e as Error).stack ?? e}`);
    const seconds = (Date.now() - started) / 1000;
    return { row: id, fault: '', faults: {}, rollouts: 0, consistent: 0, inconsistent: 0, duplicates: 0, stuck: 0, seconds, checks: [], problems: [`the row failed: ${(e as Error).message}`] };
  }
}

function failed(r: RowResult): boolean {
  return r.inconsistent + r.duplicates + r.stuck > 0 || (r.problems?.length ?? 0) > 0;
}

const HEADER = ['row', 'fault', 'faults injected', 'rollouts', 'consistent', 'inconsistent', 'duplicates', 'stuck', 'seconds'];

/** The table, then each problem under the row it belongs to. */
function renderTable(rows: RowResult[]): string {
  const cells = rows.map((r) => [
    r.row,
    r.fault,
    Object.entries(r.faults).map(([k, n]) => `${k} ${n}`).join(', '),
    ...[r.rollouts, r.consistent, r.inconsistent, r.duplicates, r.stuck].map(String),
    r.seconds.toFixed(0),
  ]);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => (i >= 3 ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [line(HEADER), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)];
  for (const r of rows) {
    for (const p of r.problems ?? []) out.push(`${r.row}: ${p}`);
    for (const c of r.checks) for (const p of c.problems) out.push(`${r.row} ${c.rolloutId} (${c.scenario}): ${p}`);
  }
  return `${out.join('\n')}\n`;
}

/** Starts the cluster, runs the rows, stops the cluster; its logs are kept in `base` when anything failed. */
async function campaign(opts: Options, base: string): Promise<RowResult[]> {
  const dir = join(base, 'cluster');
  const onExit = () => killClusterSync(dir);
  process.once('exit', onExit);
  let results: RowResult[] | undefined;
  try {
    const cluster = await startCluster({ dir, ports: await clusterPorts(opts.port), log: err });
    err(`cluster up at ${cluster.address} in ${(cluster.startupMs / 1000).toFixed(1)} s`);
    results = [];
    for (const id of opts.rows) results.push(await runRow(id, cluster, opts, join(base, 'rows', id)));
    return results;
  } finally {
    if ((!results || results.some(failed)) && existsSync(join(dir, 'logs'))) cpSync(join(dir, 'logs'), join(base, 'cluster-logs'), { recursive: true });
    await stopCluster(dir);
    process.removeListener('exit', onExit);
  }
}

async function main(argv: string[]): Promise<number> {
  let opts: Options;
  try {
    opts = parseArgs(argv);
  } catch (e) {
    const code = (e as { code?: string }).code;
    return code === 'commander.helpDisplayed' ? 0 : 2;
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  const base = mkdtempSync(join(tmpdir(), 'meridian-chaos-'));
  const results = await campaign(opts, base).catch((e: unknown) => {
    err(`the cluster's logs and the rows' files are kept in ${base}`);
    throw e;
  });
  const report = { at: new Date().toISOString(), size: opts.size, rows: results };
  writeFileSync(REPORT_FILE, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderTable(results));
  const bad = results.some(failed);
  if (bad) err(`worker logs, fleet files and the cluster's logs are kept in ${base}`);
  else rmSync(base, { recursive: true, force: true });
  err(`report written to ${REPORT_FILE}`);
  return bad ? 1 : 0;
}

main(process.argv).then(
  (code) => process.exit(code),
  (e: unknown) => {
    err(`chaos: ${(e as Error).message}`);
    process.exit(1);
  },
);
