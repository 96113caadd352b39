import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { SimulatedFleet } from '../../activities/fleet';
import { databaseEnvVar } from '../../activities/postgres/connections';
import type { RolloutClient } from '../../client/rollout-client';
import type { RolloutPlan } from '../../domain/plan';
import { regionWorkflowId, rolloutWorkflowId } from '../../workflows/definitions';
import { duplicateApplications, regionProblems, rowResult } from '../check';
import type { CampaignSize, Row, RolloutCheck } from '../types';
import { WorkerPool } from '../worker-pool';
import { connectRollouts, maxAttempt, settle, statusOf, terminateIfRunning, type RolloutEnd } from './rollout-end';
import { databaseFindings, fingerprintHash, statusCountProblems, type RegionDatabase } from './postgres-checks';
import { ChaosPostgres } from './postgres-instance';
import {
  BASE_SCHEMA,
  CONTRACT,
  databaseOf,
  EXPAND,
  GATE,
  GATED_REGION,
  marker,
  NEW_VERSION,
  REGIONS,
  SCENARIOS,
  statefulPlan,
  type FaultPoint,
  type StatefulScenario,
} from './postgres-scenarios';

/**
 * R3: stateful rollouts (expand and contract migrations, a reconciliation on rollback) against a
 * PostgreSQL of their own, which crashes (an immediate stop, recovered from the WAL) and starts
 * again on the same port while a migration or a reconciliation is in the middle of its work. Every
 * rollout must still end where it should, with each migration applied once and each canary row
 * fixed once.
 */
const FAULT = 'PostgreSQL crashed and restarted (immediate stop, WAL recovery, same port) in the middle of a migration or a reconciliation';
const TASK_QUEUE = 'chaos-r3';
/** How long the database stays down after the crash. */
const DOWN_MS = 500;
const POLL_MS = 50;

const SIZES: Record<CampaignSize, { points: FaultPoint[]; repeat: number; workers: number; boundMs: number; canaryRows: number }> = {
  ci: { points: ['expand', 'reconcile', 'contract'], repeat: 1, workers: 1, boundMs: 240_000, canaryRows: 120 },
  full: { points: ['expand', 'contract', 'reconcile', 'revert'], repeat: 3, workers: 2, boundMs: 300_000, canaryRows: 300 },
};

/** The activity each crash interrupts, and whether the rollout's own workflow runs it (else the region's stage). */
const INTERRUPTED: Record<FaultPoint, { activity: string; inRollout: boolean }> = {
  expand: { activity: 'applyMigrations', inRollout: false },
  contract: { activity: 'applyMigrations', inRollout: true },
  reconcile: { activity: 'reconcileData', inRollout: true },
  revert: { activity: 'revertMigrations', inRollout: true },
};

const FAULT_NAMES: Record<FaultPoint, string> = {
  expand: 'crash in an expand migration',
  contract: 'crash in a contract migration',
  reconcile: 'crash in a reconciliation',
  revert: 'crash in a down migration',
};

interface Run {
  service: string;
  scenario: StatefulScenario;
}

interface RowEnv {
  server: ChaosPostgres;
  client: RolloutClient;
  fleet: SimulatedFleet;
  size: (typeof SIZES)[CampaignSize];
  log: (line: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const postgresRow: Row = async (ctx) => {
  const started = Date.now();
  const size = SIZES[ctx.size];
  const tag = randomBytes(2).toString('hex');
  const runs: Run[] = Array.from({ length: size.repeat }, (_, i) => size.points.map((p) => ({ service: `r3-${tag}-${p}-${i + 1}`, scenario: SCENARIOS[p] }))).flat();
  const server = await ChaosPostgres.start();
  ctx.log(`PostgreSQL on port ${server.port}; ${runs.length} rollouts`);
  let pool: WorkerPool | undefined;
  let fleet: SimulatedFleet | undefined;
  let rollouts: Awaited<ReturnType<typeof connectRollouts>> | undefined;
  try {
    const fleetFile = join(ctx.workDir, 'fleet.db');
    pool = new WorkerPool({ address: ctx.cluster.address, namespace: ctx.cluster.namespace, taskQueue: TASK_QUEUE, fleetFile, logDir: join(ctx.workDir, 'logs'), size: size.workers, env: databaseVariables(server, runs), log: ctx.log });
    await pool.start();
    fleet = new SimulatedFleet(fleetFile);
    rollouts = await connectRollouts(ctx.cluster, TASK_QUEUE);
    const env: RowEnv = { server, client: rollouts.client, fleet, size, log: ctx.log };
    const { checks, faults, problems } = await runAll(env, runs);
    return rowResult('R3', FAULT, faults, checks, started, [...problems, ...pool.unexpectedExits()]);
  } finally {
    await pool?.stop();
    fleet?.close();
    await rollouts?.close();
    await server.stop();
  }
};

/** Every database's URL, under the name the spec gives it (MERIDIAN_DATABASE_<NAME>), for the workers' environment. */
function databaseVariables(server: ChaosPostgres, runs: Run[]): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const run of runs) {
    for (const region of REGIONS) {
      const name = databaseOf(run.service, region);
      variables[databaseEnvVar(name)] = server.url(realName(name));
    }
  }
  return variables;
}

/**
 * A rollout's databases with the base schema, made just before it starts and checkpointed, and
 * dropped once it was checked: crash recovery replays the WAL since the last checkpoint and syncs
 * every file of the data folder, so a server full of databases would stay down for many seconds.
 */
async function createDatabases(server: ChaosPostgres, run: Run): Promise<void> {
  for (const region of REGIONS) {
    const name = realName(databaseOf(run.service, region));
    await server.createDatabase(name);
    await server.query(name, BASE_SCHEMA);
  }
  await server.query('postgres', 'CHECKPOINT');
}

async function dropDatabases(server: ChaosPostgres, run: Run): Promise<void> {
  for (const region of REGIONS) await server.query('postgres', `DROP DATABASE IF EXISTS ${realName(databaseOf(run.service, region))} WITH (FORCE)`);
}

/** The server's name of a database the spec names. */
const realName = (name: string) => name.replace(/[^a-z0-9]/g, '_');

async function runAll(env: RowEnv, runs: Run[]): Promise<{ checks: RolloutCheck[]; faults: Record<string, number>; problems: string[] }> {
  const checks: RolloutCheck[] = [];
  const faults: Record<string, number> = {};
  const problems: string[] = [];
  for (const run of runs) {
    const { check, crashed } = await runOne(env, run);
    checks.push(check);
    const kind = FAULT_NAMES[run.scenario.fault];
    faults[kind] = (faults[kind] ?? 0) + (crashed ? 1 : 0);
    if (!crashed) problems.push(`${check.rolloutId} (${run.scenario.name}): the crash found nothing to interrupt, so this rollout ran without its fault`);
    else problems.push(...(await retriedAfterCrash(env.client, check.rolloutId, run.scenario.fault)));
    env.log(`${check.rolloutId} (${run.scenario.name}): ${check.phase}${crashed ? ', crashed mid-way' : ', NOT crashed'}${check.problems.length ? `; ${check.problems.join('; ')}` : ''}`);
  }
  return { checks, faults, problems };
}

/** Starts one rollout, crashes the database at the scenario's point, steers it as the scenario says, and checks its end. */
async function runOne(env: RowEnv, run: Run): Promise<{ check: RolloutCheck; crashed: boolean }> {
  const plan = statefulPlan(run.scenario, run.service);
  const id = rolloutWorkflowId(plan.service, plan.version);
  await createDatabases(env.server, run);
  const before = Object.fromEntries(await Promise.all(REGIONS.map(async (r) => [r, await fingerprintHash(env.server, realName(databaseOf(run.service, r)))] as const)));
  await env.client.start(plan, { id, startedBy: 'chaos' });
  const deadline = Date.now() + env.size.boundMs;
  let over = false;
  const crash = crashWhen(env.server, crashProbe(env.server, run, id, env.size.canaryRows), () => over || Date.now() > deadline, (line) => env.log(`${id}: ${line}`));
  const canaryRows = run.scenario.gated ? await writeRowsThenAbort(env, id, deadline) : 0;
  const end = await settleRetrying(env, run.scenario, id, deadline);
  over = true;
  const crashed = await crash;
  const check = await checkRun(env, run, plan, end, { before, canaryRows });
  await terminateIfRunning(env.client, id, 'chaos: the row moved on');
  await dropDatabases(env.server, run);
  return { check, crashed };
}

/** The crash is seen from the history too: the activity it cut off ran another attempt. */
async function retriedAfterCrash(client: RolloutClient, id: string, point: FaultPoint): Promise<string[]> {
  const { activity, inRollout } = INTERRUPTED[point];
  const attempts = await maxAttempt(client, inRollout ? id : regionWorkflowId(id, GATED_REGION), activity).catch(() => 0);
  return attempts > 1 ? [] : [`${id}: the crash in ${activity} left no second attempt in the history (highest attempt ${attempts}), so it did not interrupt it`];
}

/**
 * The rollout's end; where the scenario allows it, a rollback that stopped for a person
 * (NeedsAttention) is retried once, as the operator the status asks would.
 */
async function settleRetrying(env: RowEnv, scenario: StatefulScenario, id: string, deadline: number): Promise<RolloutEnd> {
  const end = await settle(env.client, id, deadline);
  if (!scenario.operatorRetry || end.record?.phase !== 'NeedsAttention' || end.record.closedAt) return end;
  env.log(`${id}: NeedsAttention after the crash (${(await env.client.status(id).catch(() => undefined))?.reason ?? 'no reason read'}); retrying as an operator would`);
  await env.client.retry(id, { by: 'chaos' });
  return settle(env.client, id, deadline, 'NeedsAttention');
}

/** Polls `probe` until it says the moment has come, then crashes and restarts the server; false when `over()` came first. */
async function crashWhen(server: ChaosPostgres, probe: () => Promise<boolean>, over: () => boolean, log: (line: string) => void): Promise<boolean> {
  while (!over()) {
    if (await probe().catch(() => false)) {
      const started = Date.now();
      await server.restart(DOWN_MS);
      log(`PostgreSQL crashed and serving again after ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return true;
    }
    await sleep(POLL_MS);
  }
  return false;
}

/** The moment to crash: a migration statement running (pg_stat_activity shows its marker), or a reconciliation part-way through its batches. */
function crashProbe(server: ChaosPostgres, run: Run, rolloutId: string, canaryRows: number): () => Promise<boolean> {
  const gated = realName(databaseOf(run.service, GATED_REGION));
  const running = (text: string, databases: string[]) => async () => {
    const [row] = await server.query<{ n: number }>('postgres', `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ANY($1) AND state = 'active' AND position($2 in query) > 0`, [databases, text]);
    return row!.n > 0;
  };
  const probes: Record<FaultPoint, () => Promise<boolean>> = {
    expand: running(marker(EXPAND, 'up'), [gated]),
    contract: running(marker(CONTRACT, 'up'), REGIONS.map((r) => realName(databaseOf(run.service, r)))),
    revert: running(marker(EXPAND, 'down'), [gated]),
    reconcile: async () => {
      const rows = await server.query<{ fixed: string; finished: boolean }>(gated, 'SELECT fixed, finished_at IS NOT NULL AS finished FROM meridian_reconciliations WHERE rollout_id = $1', [rolloutId]);
      return rows.some((r) => !r.finished && Number(r.fixed) >= canaryRows / 3);
    },
  };
  return probes[run.scenario.fault];
}

/** At the gate in GATED_REGION: the canary's rows, written as the new version just after its canary went live, then an abort. Returns how many rows. */
async function writeRowsThenAbort(env: RowEnv, id: string, deadline: number): Promise<number> {
  while (Date.now() < deadline) {
    const status = await env.client.status(id).catch(() => undefined);
    if (status?.pendingApprovals.some((p) => p.region === GATED_REGION && p.gate === GATE)) {
      const deployed = status.audit.find((a) => a.action === 'deploy-canary' && a.region === GATED_REGION)!;
      const database = realName(databaseOf(status.service, GATED_REGION));
      await env.server.query(
        database,
        `INSERT INTO orders (written_by, created_at, format) SELECT $3, $1::timestamptz + g * interval '1 millisecond', 'v2' FROM generate_series(1, $2::int) g`,
        [deployed.at, env.size.canaryRows, NEW_VERSION],
      );
      await env.client.abort(id, { by: 'chaos', reason: 'R3: roll back the rows the canary wrote' });
      return env.size.canaryRows;
    }
    if (status?.ended) return 0;
    await sleep(250);
  }
  return 0;
}

async function checkRun(env: RowEnv, run: Run, plan: RolloutPlan, end: RolloutEnd, data: { before: Record<string, string>; canaryRows: number }): Promise<RolloutCheck> {
  const { scenario } = run;
  const status = await statusOf(env.client, end);
  const phase = status?.phase ?? end.record?.phase ?? 'unknown';
  const problems: string[] = [];
  if (!end.ended) problems.push(`still ${phase} when its bound passed`);
  else if (phase !== scenario.phase) problems.push(`ended ${phase}, expected ${scenario.phase}${status?.reason ? `: ${status.reason}` : ''}`);
  problems.push(...regionProblems(env.fleet, plan, { ...scenario, faults: [], failurePolicy: plan.failurePolicy }));
  let duplicates = 0;
  for (const region of REGIONS) {
    for (const d of duplicateApplications(env.fleet.journal(plan.service, region))) {
      duplicates += d.times - 1;
      problems.push(`${region}: ${d.op} under key ${d.key} applied ${d.times} times`);
    }
    const db: RegionDatabase = {
      region,
      database: realName(databaseOf(run.service, region)),
      end: scenario.regions[region]!,
      before: data.before[region]!,
      canaryRows: region === GATED_REGION ? data.canaryRows : 0,
    };
    const found = await databaseFindings(env.server, end.id, db).catch((err: unknown) => ({ problems: [`${region}: the checks of ${db.database} failed: ${(err as Error).message}`], duplicates: 0 }));
    duplicates += found.duplicates;
    problems.push(...found.problems, ...statusCountProblems(status, db));
  }
  if (scenario.gated && data.canaryRows === 0) problems.push(`${GATED_REGION}: the canary never reached its gate ${GATE}, so no rows were written`);
  return { rolloutId: end.id, scenario: scenario.name, expectedPhase: scenario.phase, phase, consistent: end.ended && problems.length === 0, duplicates, stuck: !end.ended, problems };
}
