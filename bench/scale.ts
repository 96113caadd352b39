/**
 * Scale: N concurrent rollouts of five simulated regions each, served by three `meridian worker`
 * processes on one task queue sharing one fleet file, first on the local production-shape cluster
 * (cluster/: Temporal's services as processes of their own, on PostgreSQL), then on the dev server
 * (`temporal server start-dev` on a SQLite file), with the ratio cluster / dev server of each figure.
 *
 *   MERIDIAN_BENCH_ONLY=scale npm run bench                     (1,000 rollouts; about 32 min on 2 cores)
 *   MERIDIAN_BENCH_SCALE_ROLLOUTS=100 MERIDIAN_BENCH_ONLY=scale npm run bench   (7-12 min)
 *   MERIDIAN_BENCH_SCALE_DEADLINE=20m ...   (how long each server gets for the load; 15m by default)
 *   MERIDIAN_BENCH_SCALE_WORKERS=1 ...      (worker processes; 3 by default)
 *   MERIDIAN_BENCH_SCALE_KEEP=1 ...         (keep the worker and server logs and the fleet files)
 *
 * Each rollout: waves of 2 and 3 regions, setWeight 50, analysis every 500 ms for 1 s, promote. The
 * client starts all N, 32 at a time. Once they are started, 20 more rollouts that hold at weight 30
 * (started before the load) are aborted 500 ms apart; each abort is timed from the client's `abort`
 * call until the fleet shows weight 0 in all five regions, and per region from the fleet's journal.
 * A server that cannot finish the load by the deadline is reported with what it completed. Then the
 * workers stop and the histories are read: events per rollout (the rollout's and its five region
 * stages'), workflow task failures and timeouts, activity and heartbeat timeouts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Client, Connection, isGrpcServiceError, WorkflowExecutionAlreadyStartedError, type WorkflowExecutionInfo } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';
import { SimulatedFleet } from '../activities/fleet';
import { RolloutClient, RolloutCommandError } from '../client/rollout-client';
import { killClusterSync, portsFrom, SERVICES, startCluster, stopCluster, type ClusterPorts } from '../cluster/index';
import { allPorts } from '../cluster/paths';
import { usage } from '../cluster/services';
import { TRAFFIC_CUT_KEY_SUFFIX } from '../domain/compensation';
import { parseDuration } from '../domain/duration';
import { compilePlan, type RolloutPlan } from '../domain/plan';
import { rolloutSpec, type RolloutSpecInput } from '../domain/spec';
import { serverPid } from '../lib/postgres-server';
import { freePort, portFree } from '../lib/ports';
import { stopChild } from '../lib/stop-child';
import { startDevServer } from '../worker/dev-server';
import { MeridianPhase, regionWorkflowId } from '../workflows/definitions';
import { median, quantile, round, sleep } from './stats';
import { codecDataConverter } from '../client/codec';

const ROOT = join(import.meta.dirname, '..');
const ROLLOUTS = Number(process.env.MERIDIAN_BENCH_SCALE_ROLLOUTS ?? 1_000);
const DEADLINE_MS = parseDuration(process.env.MERIDIAN_BENCH_SCALE_DEADLINE ?? '15m') ?? 15 * 60_000;
/** Keeps each server's scratch folder (worker and server logs, the fleet file) for a look afterwards. */
const KEEP = process.env.MERIDIAN_BENCH_SCALE_KEEP === '1';
const WORKERS = Number(process.env.MERIDIAN_BENCH_SCALE_WORKERS ?? 3);
const HELD = 20;
const HOLD_WEIGHT = 30;
const REGIONS = ['r1', 'r2', 'r3', 'r4', 'r5'];
/** Starts in flight at once: as fast as the server accepts them, without queueing thousands of calls in the client. */
const START_CONCURRENCY = 32;
const HISTORY_CONCURRENCY = 16;
const HISTORY_TIMEOUT_MS = 30_000;
const GRPC_NOT_FOUND = 5;
const ABORT_SPACING_MS = 500;
const ABORT_TIMEOUT_MS = 120_000;
const LOAD_PREFIX = 'bench/scale-';
const OLD = 'registry.bench/app:1.0.0';
const NEW = `registry.bench/app@sha256:${'5c'.repeat(32)}`;
/** temporal.api.enums.v1 values (the proto package's enums are not named ESM exports). */
const EVENT = { workflowTaskCompleted: 7, workflowTaskTimedOut: 8, workflowTaskFailed: 9, activityScheduled: 10, activityStarted: 11, activityCompleted: 12, activityTaskTimedOut: 14, updateAccepted: 41 } as const;
const TIMEOUT_TYPE = { startToClose: 1, scheduleToStart: 2, heartbeat: 4 } as const;
/** The SDK's warning for a workflow task that took longer than 5 s in the worker. */
const SLOW_TASK = /TMPRL1104/;
const LOG_PATTERNS = { deadlineExceeded: /context deadline exceeded/i, heartbeatTimeout: /heartbeat[^\n]*time(d)?[ _-]?out|time(d)?[ _-]?out[^\n]*heartbeat/i };

type Kind = 'cluster' | 'devServer';

function plan(service: string, over: Partial<RolloutSpecInput>): RolloutPlan {
  return compilePlan(
    rolloutSpec.parse({
      service,
      version: '1.1.0',
      image: NEW,
      regions: REGIONS.map((name) => ({ name, target: { kind: 'simulated', initial: { image: OLD } } })),
      waves: [
        { name: 'first', regions: REGIONS.slice(0, 2) },
        { name: 'rest', regions: REGIONS.slice(2) },
      ],
      metrics: [{ name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 }],
      steps: [{ kind: 'setWeight', weight: 50 }, { kind: 'analysis', metrics: ['error_rate'], interval: '500ms', sustainedFor: '1s' }],
      simulation: { baseline: { error_rate: 0.004 }, faults: [] },
      ...over,
    }),
  );
}

const heldPlan = (service: string) =>
  plan(service, {
    waves: [{ name: 'all', regions: REGIONS }],
    steps: [{ kind: 'setWeight', weight: HOLD_WEIGHT }, { kind: 'analysis', metrics: ['error_rate'], interval: '2s', sustainedFor: '1h' }],
  });

// ---- processes, from /proc ----

interface ProcTimes {
  ppid: number;
  /** utime + stime, and cutime + cstime (children that exited), in seconds. */
  own: number;
  reaped: number;
}

function procTable(): Map<number, ProcTimes> {
  const table = new Map<number, ProcTimes>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const f = readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]!.split(' ');
      table.set(Number(name), { ppid: Number(f[1]), own: (Number(f[11]) + Number(f[12])) / 100, reaped: (Number(f[13]) + Number(f[14])) / 100 });
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

/** CPU seconds of `root` and every process below it, including children that already exited. */
function treeCpu(table: Map<number, ProcTimes>, root: number): number {
  const self = table.get(root);
  if (!self) return 0;
  let sum = self.own + self.reaped;
  for (const [pid, p] of table) if (p.ppid === root) sum += treeCpu(table, pid);
  return sum;
}

const cmdline = (pid: string) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
};

/** The dev server's process: `temporal server start-dev ... --port <port>`. */
function devServerPid(port: number): number {
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    const args = cmdline(pid);
    const at = args.indexOf('--port');
    if (args.includes('start-dev') && at >= 0 && args[at + 1] === String(port)) return Number(pid);
  }
  throw new Error(`no dev server process found listening on port ${port}`);
}

// ---- the two servers ----

interface Backend {
  kind: Kind;
  address: string;
  rollouts: RolloutClient;
  /** Root processes of the server, by the group its CPU is reported under. */
  cpuGroups(): Record<string, number[]>;
  logFiles(): string[];
  stop(): Promise<void>;
}

/**
 * Temporal's layout around a frontend port whose ports are all free: below 20,000, clear of the OS's
 * ephemeral ports (the cluster's membership table keeps ports as smallint) and of the tests' blocks.
 */
async function clusterPorts(): Promise<ClusterPorts> {
  for (let frontend = 11_233; frontend < 20_000; frontend += 500) {
    const ports = portsFrom(frontend);
    if ((await Promise.all(allPorts(ports).map((port) => portFree(port)))).every(Boolean)) return ports;
  }
  throw new Error('no free block of ports for the cluster between 10,933 and 20,000; stop the clusters that hold them');
}

async function startClusterBackend(dir: string): Promise<Backend> {
  const cleanup = () => killClusterSync(dir);
  process.once('exit', cleanup);
  const state = await startCluster({ dir, ports: await clusterPorts(), log: () => {} });
  const connection = await Connection.connect({ address: state.address });
  const dataConverter = codecDataConverter();
  const client = new Client({ connection, namespace: state.namespace, ...(dataConverter ? { dataConverter } : {}) });
  return {
    kind: 'cluster',
    address: state.address,
    rollouts: new RolloutClient(client, { namespace: state.namespace }),
    cpuGroups: () => ({ services: SERVICES.map((s) => state.services[s].pid), postgres: [serverPid(state.postgres.dataDir) ?? -1] }),
    logFiles: () => [...SERVICES.map((s) => state.services[s].logFile), state.postgres.logFile],
    stop: async () => {
      await connection.close();
      await stopCluster(dir);
      process.removeListener('exit', cleanup);
    },
  };
}

async function startDevBackend(dir: string): Promise<Backend> {
  const port = await freePort();
  const server = await startDevServer({ dbFile: join(dir, 'temporal.db'), port, uiPort: await freePort(), reuse: false });
  const pid = devServerPid(port);
  return {
    kind: 'devServer',
    address: server.address,
    rollouts: new RolloutClient(server.client, { namespace: server.namespace }),
    cpuGroups: () => ({ server: [pid] }),
    logFiles: () => (server.logFile ? [server.logFile] : []),
    stop: () => server.stop(),
  };
}

// ---- workers ----

interface WorkerProcess {
  child: ChildProcess;
  peakRssBytes: number;
  cpuAtStart: number;
}

/** `meridian worker` in its own process, its output in `logFile`; resolves once it polls. */
async function startWorker(address: string, fleetFile: string, logFile: string): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['bin/meridian.js', 'worker', '--fleet-file', fleetFile, '--address', address, '--shutdown-grace', '0s'], {
    cwd: ROOT,
    env: { ...process.env, CI: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logFile);
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      log.write(d);
      if (out.length < 100_000) out += d;
      if (out.includes('worker polling')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the worker exited (code ${code}) before it polled; its output is in ${logFile}:\n${out}`)));
  });
  return { child, peakRssBytes: usage(child.pid!)?.rssBytes ?? 0, cpuAtStart: usage(child.pid!)?.cpuSeconds ?? 0 };
}

/** Samples every worker's RSS until stopped; the peaks stay on the workers. */
function sampleRss(workers: WorkerProcess[]): () => void {
  const timer = setInterval(() => {
    for (const w of workers) w.peakRssBytes = Math.max(w.peakRssBytes, usage(w.child.pid!)?.rssBytes ?? 0);
  }, 500);
  return () => clearInterval(timer);
}

// ---- the load ----

interface Progress {
  t0: number;
  deadline: number;
  started: string[];
  /** Start calls that failed and were tried again. */
  startErrors: number;
  startsDoneAt?: number;
  closed: number;
  loadDone: boolean;
}

/** Starts one load rollout, trying again after a failed call until the deadline; a start that went through before its answer was lost counts. */
async function startOne(rc: RolloutClient, i: number, p: Progress): Promise<void> {
  const id = `${LOAD_PREFIX}${i}`;
  while (Date.now() < p.deadline) {
    try {
      await rc.start(plan(`scale-${i}`, {}), { id, startedBy: 'bench' });
      return void p.started.push(id);
    } catch (err) {
      if (err instanceof RolloutCommandError && err.cause instanceof WorkflowExecutionAlreadyStartedError) return void p.started.push(id);
      p.startErrors += 1;
      await sleep(1_000);
    }
  }
}

/** Starts `count` rollouts, START_CONCURRENCY at a time, until all are started or the deadline passes. */
async function startAll(rc: RolloutClient, count: number, p: Progress): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count && Date.now() < p.deadline) await startOne(rc, next++, p);
  };
  await Promise.all(Array.from({ length: START_CONCURRENCY }, lane));
  p.startsDoneAt = Date.now();
}

/** Counts closed load rollouts every 2 s until all started ones closed or the deadline passed. */
async function watchLoad(rc: RolloutClient, p: Progress, log: (line: string) => void): Promise<void> {
  const query = `WorkflowType = 'rolloutWorkflow' AND ExecutionStatus != 'Running' AND WorkflowId STARTS_WITH '${LOAD_PREFIX}'`;
  let lastLog = 0;
  while (Date.now() < p.deadline) {
    await sleep(2_000);
    p.closed = await rc.client.workflow.count(query).then(
      (r) => r.count,
      (err: Error) => (log(`counting closed rollouts failed: ${err.message}`), p.closed),
    );
    if (Date.now() - lastLog > 15_000) {
      log(`${p.closed}/${p.started.length} rollouts closed after ${Math.round((Date.now() - p.t0) / 1000)} s`);
      lastLog = Date.now();
    }
    if (p.startsDoneAt && p.closed >= p.started.length) break;
  }
  p.loadDone = true;
}

const allAt = (fleet: SimulatedFleet, service: string, weight: number) => {
  const regions = fleet.regions(service);
  return regions.length === REGIONS.length && regions.every((r) => r.weight === weight);
};

async function until(check: () => boolean, by: number, everyMs: number): Promise<boolean> {
  while (!check()) {
    if (Date.now() > by) return false;
    await sleep(everyMs);
  }
  return true;
}

interface RegionCut {
  ms: number;
  /** Moved by the traffic cut at the abort, rather than by the ordered saga after the stages stopped. */
  atOnce: boolean;
}

interface AbortSample {
  ms?: number;
  callMs?: number;
  regions?: RegionCut[];
  underLoad: boolean;
  error?: string;
}

/** When each region of `service` first went to weight 0 after `sentAt`, from the fleet's journal, and by which undo. */
function regionCuts(fleet: SimulatedFleet, service: string, sentAt: number): RegionCut[] {
  return REGIONS.flatMap((r) => {
    const entry = fleet.journal(service, r).find((j) => j.op === 'restoreTraffic' && j.effect === 'applied' && Date.parse(j.at) >= sentAt);
    return entry ? [{ ms: Date.parse(entry.at) - sentAt, atOnce: entry.key.endsWith(TRAFFIC_CUT_KEY_SUFFIX) }] : [];
  });
}

/** One held rollout: once at its weight, `abort` through the client, then until the fleet shows weight 0 in every region. */
async function timeAbort(rc: RolloutClient, fleet: SimulatedFleet, service: string, p: Progress): Promise<AbortSample> {
  if (!(await until(() => allAt(fleet, service, HOLD_WEIGHT), p.deadline, 250))) return { underLoad: false, error: `never reached weight ${HOLD_WEIGHT}` };
  const [t0, sentAt] = [performance.now(), Date.now()];
  try {
    await rc.abort(`bench/${service}`, { by: 'bench', reason: 'scale bench' });
  } catch (err) {
    // By kind: NoWorkerError when no worker confirmed the update in time, RolloutEndedError, ...
    return { underLoad: !p.loadDone, error: `abort failed: ${(err as Error).constructor.name}` };
  }
  const callMs = performance.now() - t0;
  // However slow, an abort is watched until the load's deadline, and at least ABORT_TIMEOUT_MS, so the p95 holds the slow ones too.
  const by = Math.max(Date.now() + ABORT_TIMEOUT_MS, p.deadline);
  if (!(await until(() => allAt(fleet, service, 0), by, 20))) return { underLoad: !p.loadDone, error: 'weight not 0 by the deadline' };
  return { ms: performance.now() - t0, callMs, regions: regionCuts(fleet, service, sentAt), underLoad: !p.loadDone };
}

function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

const stat = (xs: number[], q: number) => (xs.length ? round(quantile(xs, q)) : null);

/** The held rollouts are aborted ABORT_SPACING_MS apart, once every load rollout has been started. */
async function abortsUnderLoad(rc: RolloutClient, fleet: SimulatedFleet, held: string[], p: Progress) {
  await until(() => p.startsDoneAt !== undefined, p.deadline, 100);
  const samples = await Promise.all(held.map(async (service, i) => (await sleep(i * ABORT_SPACING_MS), timeAbort(rc, fleet, service, p))));
  const done = samples.filter((s) => s.ms !== undefined);
  const ms = done.map((s) => s.ms!);
  const regions = done.flatMap((s) => s.regions!);
  return {
    trials: held.length,
    measured: ms.length,
    measuredUnderLoad: done.filter((s) => s.underLoad).length,
    medianMs: stat(ms, 0.5),
    p95Ms: stat(ms, 0.95),
    abortCallMedianMs: stat(done.map((s) => s.callMs!), 0.5),
    answeredToZeroMedianMs: stat(done.map((s) => s.ms! - s.callMs!), 0.5),
    regionToZeroMedianMs: stat(regions.map((r) => r.ms), 0.5),
    regionToZeroP95Ms: stat(regions.map((r) => r.ms), 0.95),
    regionsCutAtOnce: regions.filter((r) => r.atOnce).length,
    regionsLeftToTheSaga: regions.filter((r) => !r.atOnce).length,
    errors: countBy(samples.flatMap((s) => (s.error ? [s.error] : []))),
    samplesMs: ms.map((x) => round(x)),
  };
}

async function runLoad(b: Backend, fleet: SimulatedFleet, log: (line: string) => void) {
  const held: string[] = [];
  for (let i = 0; i < HELD; i++) {
    await b.rollouts.start(heldPlan(`hold-${i}`), { id: `bench/hold-${i}`, startedBy: 'bench' });
    held.push(`hold-${i}`);
  }
  const p: Progress = { t0: Date.now(), deadline: Date.now() + DEADLINE_MS, started: [], startErrors: 0, closed: 0, loadDone: false };
  const aborts = abortsUnderLoad(b.rollouts, fleet, held, p);
  const watching = watchLoad(b.rollouts, p, log);
  await startAll(b.rollouts, ROLLOUTS, p);
  log(`${p.started.length} rollouts started in ${round((p.startsDoneAt! - p.t0) / 1000, 1)} s`);
  await watching;
  const loadEndedAt = Date.now();
  return { p, held, loadEndedAt, aborts: await aborts };
}

// ---- what became of it ----

async function listAll(rc: RolloutClient, query: string): Promise<WorkflowExecutionInfo[]> {
  const out: WorkflowExecutionInfo[] = [];
  for await (const info of rc.client.workflow.list({ query, pageSize: 1_000 })) out.push(info);
  return out;
}

/** Phases of the load's rollouts, and the regions completed per second from the first start to the last region stage's close. */
async function outcome(rc: RolloutClient, p: Progress) {
  const all = await listAll(rc, `WorkflowId STARTS_WITH '${LOAD_PREFIX}'`);
  const parents = all.filter((w) => w.type === 'rolloutWorkflow');
  const regions = all.filter((w) => w.type !== 'rolloutWorkflow' && w.status.name === 'COMPLETED' && w.closeTime);
  const phases: Record<string, number> = {};
  for (const w of parents) {
    const phase = w.status.name === 'RUNNING' ? 'stillRunning' : (w.typedSearchAttributes.get(MeridianPhase) ?? w.status.name);
    phases[phase] = (phases[phase] ?? 0) + 1;
  }
  const lastRegionAt = Math.max(...regions.map((w) => w.closeTime!.getTime()));
  const regionSeconds = (lastRegionAt - p.t0) / 1000;
  return {
    phases,
    succeeded: phases.Succeeded ?? 0,
    notSucceeded: p.started.length - (phases.Succeeded ?? 0),
    regionsCompleted: regions.length,
    regionsPerSecond: regions.length ? round(regions.length / regionSeconds, 1) : 0,
    firstStartToLastRegionS: regions.length ? round(regionSeconds, 1) : null,
  };
}

interface HistoryCounts {
  events: number;
  /** Histories the server did not return within HISTORY_TIMEOUT_MS (a region stage never started is not counted). */
  unread: number;
  workflowTaskFailed: number;
  workflowTaskTimedOut: number;
  /** Of those, the ones that waited too long on a worker's sticky queue, rather than ran too long. */
  workflowTaskScheduleToStartTimedOut: number;
  activityTimedOut: number;
  heartbeatTimedOut: number;
}

async function historyCounts(rc: RolloutClient, workflowId: string): Promise<HistoryCounts> {
  const c: HistoryCounts = { events: 0, unread: 0, workflowTaskFailed: 0, workflowTaskTimedOut: 0, workflowTaskScheduleToStartTimedOut: 0, activityTimedOut: 0, heartbeatTimedOut: 0 };
  const history = await rc.client
    .withDeadline(Date.now() + HISTORY_TIMEOUT_MS, () => rc.client.workflow.getHandle(workflowId).fetchHistory())
    .catch((err: unknown) => (isGrpcServiceError(err) && err.code === GRPC_NOT_FOUND ? undefined : ((c.unread += 1), undefined)));
  for (const e of history?.events ?? []) {
    c.events += 1;
    if (e.eventType === EVENT.workflowTaskFailed) c.workflowTaskFailed += 1;
    if (e.eventType === EVENT.workflowTaskTimedOut) {
      c.workflowTaskTimedOut += 1;
      if (e.workflowTaskTimedOutEventAttributes?.timeoutType === TIMEOUT_TYPE.scheduleToStart) c.workflowTaskScheduleToStartTimedOut += 1;
    }
    if (e.eventType !== EVENT.activityTaskTimedOut) continue;
    c.activityTimedOut += 1;
    if (e.activityTaskTimedOutEventAttributes?.failure?.timeoutFailureInfo?.timeoutType === TIMEOUT_TYPE.heartbeat) c.heartbeatTimedOut += 1;
  }
  return c;
}

const addCounts = (a: HistoryCounts, b: HistoryCounts): HistoryCounts => ({
  events: a.events + b.events,
  unread: a.unread + b.unread,
  workflowTaskFailed: a.workflowTaskFailed + b.workflowTaskFailed,
  workflowTaskTimedOut: a.workflowTaskTimedOut + b.workflowTaskTimedOut,
  workflowTaskScheduleToStartTimedOut: a.workflowTaskScheduleToStartTimedOut + b.workflowTaskScheduleToStartTimedOut,
  activityTimedOut: a.activityTimedOut + b.activityTimedOut,
  heartbeatTimedOut: a.heartbeatTimedOut + b.heartbeatTimedOut,
});

/** One rollout's history and its region stages' together. */
async function rolloutCounts(rc: RolloutClient, id: string): Promise<HistoryCounts> {
  const parts = await Promise.all([id, ...REGIONS.map((r) => regionWorkflowId(id, r))].map((wid) => historyCounts(rc, wid)));
  return parts.reduce(addCounts);
}

/** Events per load rollout (median over the ones that succeeded), and failures over every rollout's histories. */
async function historyFigures(rc: RolloutClient, loadIds: string[], heldIds: string[]) {
  const succeeded = new Set((await listAll(rc, `WorkflowType = 'rolloutWorkflow' AND ${MeridianPhase.name} = 'Succeeded'`)).map((w) => w.workflowId));
  const ids = [...loadIds, ...heldIds];
  const counts: HistoryCounts[] = new Array(ids.length);
  let next = 0;
  const lane = async () => {
    while (next < ids.length) {
      const i = next++;
      counts[i] = await rolloutCounts(rc, ids[i]!);
    }
  };
  await Promise.all(Array.from({ length: HISTORY_CONCURRENCY }, lane));
  const events = loadIds.flatMap((id, i) => (succeeded.has(id) ? [counts[i]!.events] : []));
  const { events: _total, unread, ...failures } = counts.reduce(addCounts);
  return { historiesUnread: unread, eventsPerRolloutMedian: events.length ? median(events) : null, eventsPerRolloutP95: events.length ? round(quantile(events, 0.95)) : null, ...failures };
}

/**
 * Where an aborted rollout's traffic cut spent its time, from the rollout's own history: the cut's
 * restoreTraffic activities (one per region the rollout knew to have a live canary), their wait in
 * the task queue until a worker started them, and their run; the slowest region's of each.
 */
async function abortPhases(rc: RolloutClient, id: string) {
  const events = (await rc.client.workflow.getHandle(id).fetchHistory()).events ?? [];
  const at = (e: (typeof events)[number]) => tsToMs(e.eventTime);
  const accepted = events.find((e) => e.eventType === EVENT.updateAccepted);
  if (!accepted) return undefined;
  // The cut's activities are scheduled by the workflow task that accepted the abort, so they follow its acceptance before the next task's events.
  const after = events.slice(events.indexOf(accepted) + 1);
  const next = after.findIndex((e) => e.eventType === EVENT.workflowTaskCompleted);
  const block = next < 0 ? after : after.slice(0, next);
  const cuts = block.filter((e) => e.eventType === EVENT.activityScheduled && e.activityTaskScheduledEventAttributes?.activityType?.name === 'restoreTraffic');
  const of = (type: number, scheduled: (typeof events)[number]) =>
    events.find((e) => e.eventType === type && Number((e.activityTaskStartedEventAttributes ?? e.activityTaskCompletedEventAttributes)?.scheduledEventId) === Number(scheduled.eventId));
  const spans = cuts.map((c) => ({ scheduled: at(c), started: at(of(EVENT.activityStarted, c) ?? c), completed: at(of(EVENT.activityCompleted, c) ?? c) }));
  if (spans.length === 0) return undefined;
  return {
    regionsInCut: spans.length,
    queuedMs: Math.max(...spans.map((x) => x.started - x.scheduled)),
    ranMs: Math.max(...spans.map((x) => x.completed - x.started)),
    acceptedToCutMs: Math.max(...spans.map((x) => x.completed)) - at(accepted),
  };
}

async function abortBreakdown(rc: RolloutClient, heldIds: string[]) {
  const rows = (await Promise.all(heldIds.map((id) => abortPhases(rc, id).catch(() => undefined)))).filter((r) => r !== undefined);
  if (rows.length === 0) return null;
  const med = (pick: (r: (typeof rows)[number]) => number) => round(median(rows.map(pick)));
  return {
    rollouts: rows.length,
    regionsInCutMedian: med((r) => r.regionsInCut),
    queuedMedianMs: med((r) => r.queuedMs),
    ranMedianMs: med((r) => r.ranMs),
    acceptedToCutMedianMs: med((r) => r.acceptedToCutMs),
  };
}

/** How many lines of `files` match each pattern. */
function logCounts<K extends string>(files: string[], patterns: Record<K, RegExp>): Record<K, number> {
  const counts = Object.fromEntries(Object.keys(patterns).map((k) => [k, 0])) as Record<K, number>;
  for (const file of files) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) for (const k of Object.keys(patterns) as K[]) if (patterns[k].test(line)) counts[k] += 1;
  }
  return counts;
}

function cpuByGroup(groups: Record<string, number[]>): Record<string, number> {
  const table = procTable();
  return Object.fromEntries(Object.entries(groups).map(([g, pids]) => [g, pids.reduce((s, pid) => s + treeCpu(table, pid), 0)]));
}

// ---- one server, start to end ----

const workerLog = (dir: string, i: number) => join(dir, `worker-${i}.log`);

async function startWorkers(address: string, dir: string, fleetFile: string): Promise<WorkerProcess[]> {
  const workers: WorkerProcess[] = [];
  try {
    for (let i = 0; i < WORKERS; i++) workers.push(await startWorker(address, fleetFile, workerLog(dir, i)));
  } catch (err) {
    await Promise.all(workers.map((w) => stopChild(w.child)));
    throw err;
  }
  return workers;
}

/** Copies the server's logs into the scratch folder, which outlives the server's own. */
function keepLogs(files: string[], dir: string): void {
  for (const file of files) {
    try {
      cpSync(file, join(dir, `server-${basename(file)}`));
    } catch {
      // a service that never wrote a log
    }
  }
}

async function measure(kind: Kind, log: (line: string) => void) {
  const dir = mkdtempSync(join(tmpdir(), `meridian-bench-scale-${kind}-`));
  const began = Date.now();
  try {
    const b = kind === 'cluster' ? await startClusterBackend(join(dir, 'cluster')) : await startDevBackend(dir);
    try {
      return { ...(await measureOn(b, dir, log)), figureSeconds: round((Date.now() - began) / 1000) };
    } finally {
      if (KEEP) keepLogs(b.logFiles(), dir);
      await b.stop();
    }
  } finally {
    if (KEEP) log(`${kind}: logs and state kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

/** The load on fresh worker processes, which stop once it is over, so that reading the histories afterwards does not compete with them. */
async function loadWithWorkers(b: Backend, dir: string, log: (line: string) => void) {
  const fleet = new SimulatedFleet(join(dir, 'fleet.db'));
  let workers: WorkerProcess[] = [];
  try {
    workers = await startWorkers(b.address, dir, fleet.file);
    log(`${b.kind}: ${WORKERS} workers polling on ${b.address}; ${ROLLOUTS} rollouts of ${REGIONS.length} regions, deadline ${DEADLINE_MS / 60_000} min`);
    const stopSampling = sampleRss(workers);
    const [cpu0, load0] = [cpuByGroup(b.cpuGroups()), loadavg()[0]!];
    const load = await runLoad(b, fleet, (line) => log(`${b.kind}: ${line}`));
    const [cpu1, load1] = [cpuByGroup(b.cpuGroups()), loadavg()[0]!];
    stopSampling();
    const perWorker = workers.map((w) => ({ peakRssMiB: Math.round(w.peakRssBytes / 1024 / 1024), cpuSeconds: round((usage(w.child.pid!)?.cpuSeconds ?? 0) - w.cpuAtStart, 1) }));
    return { load, cpu0, cpu1, perWorker, loadAverage1m: { atStart: round(load0, 1), atEnd: round(load1, 1) } };
  } finally {
    await Promise.all(workers.map((w) => stopChild(w.child, 20_000)));
    fleet.close();
  }
}

async function measureOn(b: Backend, dir: string, log: (line: string) => void) {
  const { load, cpu0, cpu1, perWorker, loadAverage1m } = await loadWithWorkers(b, dir, log);
  log(`${b.kind}: reading the histories`);
  const heldIds = load.held.map((s) => `bench/${s}`);
  return {
    ...(await summarise(b, load, cpu0, cpu1)),
    abortPhasesFromHistory: await abortBreakdown(b.rollouts, heldIds),
    workers: perWorker,
    workerPeakRssMiBMax: Math.max(...perWorker.map((w) => w.peakRssMiB)),
    ...(await historyFigures(b.rollouts, load.p.started, heldIds)),
    serverLog: logCounts(b.logFiles(), LOG_PATTERNS),
    workflowTasksOver5sInWorkers: logCounts(perWorker.map((_, i) => workerLog(dir, i)), { slow: SLOW_TASK }).slow,
    loadAverage1m,
  };
}

async function summarise(b: Backend, load: Awaited<ReturnType<typeof runLoad>>, cpu0: Record<string, number>, cpu1: Record<string, number>) {
  const { p } = load;
  const cpu = Object.fromEntries(Object.keys(cpu1).map((g) => [g, round(cpu1[g]! - (cpu0[g] ?? 0), 1)]));
  return {
    rolloutsStarted: p.started.length,
    startErrors: p.startErrors,
    startSeconds: round((p.startsDoneAt! - p.t0) / 1000, 1),
    startedPerSecond: round(p.started.length / ((p.startsDoneAt! - p.t0) / 1000), 1),
    deadlineHit: load.loadEndedAt >= p.deadline,
    wallSeconds: round((load.loadEndedAt - p.t0) / 1000, 1),
    ...(await outcome(b.rollouts, p)),
    abortToWeightZero: load.aborts,
    serverCpuSeconds: { ...cpu, total: round(Object.values(cpu).reduce((a, x) => a + x, 0), 1) },
  };
}

// ---- both, side by side ----

type Figures = Awaited<ReturnType<typeof measure>>;

/** The headline figures of one server, flat, for the table and the ratios. */
function headline(f: Figures): Record<string, number | null> {
  return {
    'rollouts started / s': f.startedPerSecond,
    'regions completed / s': f.regionsPerSecond,
    'regions completed': f.regionsCompleted,
    'abort → weight 0, median ms': f.abortToWeightZero.medianMs,
    'abort → weight 0, p95 ms': f.abortToWeightZero.p95Ms,
    'abort → one region at 0, median ms': f.abortToWeightZero.regionToZeroMedianMs,
    "regions the abort's cut missed": f.abortToWeightZero.regionsLeftToTheSaga,
    'history events / rollout, median': f.eventsPerRolloutMedian,
    [`worker peak RSS, max of ${WORKERS}, MiB`]: f.workerPeakRssMiBMax,
    'server CPU s (all processes)': f.serverCpuSeconds.total,
    'wall s (first start → load done)': f.wallSeconds,
    'rollouts not Succeeded': f.notSucceeded,
    'workflow task failures + timeouts': f.workflowTaskFailed + f.workflowTaskTimedOut,
    'workflow tasks over 5 s (worker logs)': f.workflowTasksOver5sInWorkers,
    'heartbeat timeouts (histories)': f.heartbeatTimedOut,
  };
}

const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : round(a / b, 2));

function printTable(cluster: Record<string, number | null>, dev: Record<string, number | null>, log: (line: string) => void) {
  log(`${'figure'.padEnd(36)} ${'cluster'.padStart(10)} ${'dev server'.padStart(10)} ${'ratio'.padStart(7)}`);
  for (const k of Object.keys(cluster)) {
    log(`${k.padEnd(36)} ${String(cluster[k]).padStart(10)} ${String(dev[k]).padStart(10)} ${String(ratio(cluster[k]!, dev[k]!) ?? '-').padStart(7)}`);
  }
}

export async function scaleFigures(log: (line: string) => void = console.log) {
  const cluster = await measure('cluster', log);
  const devServer = await measure('devServer', log);
  const [c, d] = [headline(cluster), headline(devServer)];
  printTable(c, d, log);
  const ratios = Object.fromEntries(Object.keys(c).map((k) => [k, ratio(c[k]!, d[k]!)]));
  return { rollouts: ROLLOUTS, regionsEach: REGIONS.length, workers: WORKERS, heldForAbort: HELD, deadlineSeconds: DEADLINE_MS / 1000, cluster, devServer, ratiosClusterToDev: ratios };
}
