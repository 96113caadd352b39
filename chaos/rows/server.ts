import { killServices, restartServices } from '../../cluster/index';
import { rowResult } from '../check';
import { RolloutBatch } from '../rollouts';
import { scenarioAt, scriptedFaults } from '../scenarios';
import type { CampaignSize, Row, RowContext } from '../types';
import { withSimulatedRig, type WorkerPool } from '../worker-pool';

/**
 * R2: while rollouts run, every Temporal service process (history, matching, frontend, worker) is
 * SIGKILLed and, after a short outage, started again on the same PostgreSQL. The workers are left
 * running: they must reconnect on their own, and each rollout must still end as its scenario says.
 */
export const SERVER_KILL = 'server SIGKILL';
const FAULT = 'all Temporal services SIGKILLed mid-rollout, restarted after 3 s; 2 workers keep running';
const WORKERS = 2;
const TASK_QUEUE = 'chaos-r2';
const OUTAGE_MS = 3_000;
/** How long to wait for a batch to be in the middle of its steps before the server is killed anyway. */
const MID_ROLLOUT_WAIT_MS = 90_000;

const SIZES: Record<CampaignSize, { restarts: number; perRestart: number; boundMs: number }> = {
  ci: { restarts: 1, perRestart: 8, boundMs: 240_000 },
  full: { restarts: 3, perRestart: 10, boundMs: 600_000 },
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until half of `ids` have a canary taking traffic somewhere; says so when they never got there. */
async function untilMidRollout(batch: RolloutBatch, ids: Set<string>, log: (line: string) => void): Promise<void> {
  const deadline = Date.now() + MID_ROLLOUT_WAIT_MS;
  for (;;) {
    const mid = batch.midRollout().filter((l) => ids.has(l.id)).length;
    if (mid >= Math.ceil(ids.size / 2)) return log(`${mid} of ${ids.size} rollouts mid-rollout`);
    if (Date.now() > deadline) return log(`only ${mid} of ${ids.size} rollouts mid-rollout after ${MID_ROLLOUT_WAIT_MS / 1000} s; killing the server anyway`);
    await sleep(100);
  }
}

async function launchBatch(batch: RolloutBatch, from: number, count: number): Promise<Set<string>> {
  const ids = new Set<string>();
  for (let i = from; i < from + count; i++) ids.add((await batch.launch(scenarioAt(i), `r2-${String(i).padStart(3, '0')}`)).id);
  return ids;
}

async function outage(dir: string, log: (line: string) => void): Promise<void> {
  await killServices(dir);
  log('Temporal services SIGKILLed');
  await sleep(OUTAGE_MS);
  const t0 = Date.now();
  await restartServices(dir);
  log(`Temporal services serving again after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/** Worker processes must be the ones that ran before the outages, and none may have exited. */
function workerProblems(pool: WorkerPool, before: number[]): string[] {
  const replaced = pool.pids().filter((pid, i) => pid !== before[i]);
  return [...pool.unexpectedExits(), ...(replaced.length ? [`workers were replaced (pids ${replaced.join(', ')}), so they did not ride out the outage`] : [])];
}

export const serverRow: Row = async (ctx: RowContext) => {
  const startedAt = Date.now();
  const size = SIZES[ctx.size];
  return withSimulatedRig(ctx, TASK_QUEUE, WORKERS, async ({ fleet, client, pool }) => {
    const pids = pool.pids();
    const batch = new RolloutBatch(client, fleet, size.boundMs, ctx.log);
    let launched = 0;
    let outages = 0;
    for (let k = 0; k < size.restarts; k++) {
      const ids = await launchBatch(batch, launched, size.perRestart);
      launched += ids.size;
      await untilMidRollout(batch, ids, ctx.log);
      await outage(ctx.cluster.dir, ctx.log);
      outages += 1;
    }
    // Rollouts started after the last outage: the reconnected workers take new work too.
    await launchBatch(batch, launched, Math.ceil(size.perRestart / 2));
    const checks = await batch.all();
    const scenarios = checks.map((_, i) => scenarioAt(i));
    return rowResult('R2', FAULT, { [SERVER_KILL]: outages, ...scriptedFaults(scenarios) }, checks, startedAt, workerProblems(pool, pids));
  });
};
