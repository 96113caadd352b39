import { randomInt } from 'node:crypto';
import { rowResult } from '../check';
import { RolloutBatch } from '../rollouts';
import { scenarioAt, scriptedFaults } from '../scenarios';
import type { CampaignSize, Row, RowContext } from '../types';
import { withSimulatedRig, type WorkerPool } from '../worker-pool';

/**
 * R1: three `meridian worker` processes on one task queue share one fleet file, and every few
 * seconds one of them, chosen at random, is SIGKILLed and started again while the rollouts run.
 */
export const WORKER_KILL = 'worker SIGKILL';
const FAULT = 'a random one of 3 workers SIGKILLed every few seconds, then restarted';
const WORKERS = 3;
const TASK_QUEUE = 'chaos-r1';
/** Pause between two kills, in ms. */
const GAP_MS: [number, number] = [2_000, 5_000];

const SIZES: Record<CampaignSize, { rollouts: number; kills: number; boundMs: number }> = {
  ci: { rollouts: 20, kills: 10, boundMs: 240_000 },
  full: { rollouts: 100, kills: 40, boundMs: 600_000 },
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * After each gap, SIGKILLs a random polling worker and starts its replacement, until `done()`. It
 * kills only while at least two workers poll, so one always serves; the replacements start while
 * the others go on, as under a process manager.
 */
class Monkey {
  kills = 0;
  failure?: Error;
  private readonly replacements: Promise<void>[] = [];
  private readonly loop: Promise<void>;

  constructor(pool: WorkerPool, done: () => boolean) {
    const fail = (err: unknown) => void (this.failure ??= err as Error);
    this.loop = (async () => {
      while (!done() && !this.failure) {
        await sleep(randomInt(...GAP_MS));
        while (pool.ready().length < 2 && !done() && !this.failure) await sleep(100);
        if (done() || this.failure) break;
        const ready = pool.ready();
        const slot = ready[randomInt(ready.length)]!;
        await pool.kill(slot);
        this.kills += 1;
        this.replacements.push(pool.respawn(slot).catch(fail));
      }
    })().catch(fail);
  }

  /** Resolves once the loop ended and every replacement polls (or failed). */
  async finished(): Promise<void> {
    await this.loop;
    await Promise.all(this.replacements);
  }
}

/**
 * Starts the rollouts paced by the kills, so the last one starts only once `kills` workers were
 * killed and every kill finds rollouts in flight.
 */
async function launchPaced(batch: RolloutBatch, monkey: Monkey, size: (typeof SIZES)[CampaignSize]): Promise<void> {
  for (let i = 0; i < size.rollouts; i++) {
    const killsBefore = Math.floor((i * size.kills) / Math.max(1, size.rollouts - 1));
    while (monkey.kills < killsBefore && !monkey.failure) await sleep(200);
    if (monkey.failure) return;
    await batch.launch(scenarioAt(i), `r1-${String(i).padStart(3, '0')}`);
  }
}

export const workersRow: Row = async (ctx: RowContext) => {
  const startedAt = Date.now();
  const size = SIZES[ctx.size];
  return withSimulatedRig(ctx, TASK_QUEUE, WORKERS, async ({ fleet, client, pool }) => {
    const batch = new RolloutBatch(client, fleet, size.boundMs, ctx.log);
    let launched = false;
    const monkey = new Monkey(pool, () => launched && batch.running === 0);
    await launchPaced(batch, monkey, size);
    launched = true;
    const checks = await batch.all();
    await monkey.finished();
    const problems = [...pool.unexpectedExits(), ...(monkey.failure ? [`the kills stopped: ${monkey.failure.message}`] : [])];
    const scenarios = checks.map((_, i) => scenarioAt(i));
    return rowResult('R1', FAULT, { [WORKER_KILL]: monkey.kills, ...scriptedFaults(scenarios) }, checks, startedAt, problems);
  });
};
