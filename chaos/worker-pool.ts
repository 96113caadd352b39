import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SimulatedFleet } from '../activities/fleet';
import { RolloutClient } from '../client/rollout-client';
import { stopChild } from '../lib/stop-child';
import type { RowContext } from './types';

const ROOT = resolve(import.meta.dirname, '..');
/** How long a `meridian worker` may take to bundle the workflows and poll. */
const READY_TIMEOUT_MS = 120_000;

export interface WorkerPoolOptions {
  address: string;
  namespace: string;
  taskQueue: string;
  /** The simulated fleet every worker of the pool shares. */
  fleetFile: string;
  /** Each worker's output goes to worker-<slot>.log here. */
  logDir: string;
  size: number;
  /** Added to each worker's environment (database URLs, kubeconfig). */
  env?: Record<string, string>;
  log: (line: string) => void;
}

interface Slot {
  child: ChildProcess;
  /** Set when the pool itself killed or stopped it. */
  ended: boolean;
  /** It said it polls. */
  ready: boolean;
}

/**
 * `meridian worker` processes, as an operator runs them, polling one task queue and sharing one
 * fleet file. A worker the pool did not kill that exits is noted: under chaos a worker must ride
 * out a lost server, not die of it.
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly exits: string[] = [];

  /** Kills every worker when this process exits before stop(), so none outlives the campaign. */
  private readonly killAll = () => {
    for (const s of this.slots) if (s.child.exitCode === null) s.child.kill('SIGKILL');
  };

  private readonly opts: WorkerPoolOptions;

  constructor(opts: WorkerPoolOptions) {
    this.opts = opts;
    mkdirSync(opts.logDir, { recursive: true });
    process.once('exit', this.killAll);
  }

  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.opts.size }, (_, slot) => this.spawn(slot)));
  }

  /** The process id of each slot's worker now. */
  pids(): number[] {
    return this.slots.map((s) => s.child.pid!);
  }

  /** Workers that exited though nobody stopped them, one line each. */
  unexpectedExits(): string[] {
    return [...this.exits];
  }

  /** Slots whose worker polls now. */
  ready(): number[] {
    return this.slots.flatMap((s, i) => (s.ready && !s.ended ? [i] : []));
  }

  /** SIGKILLs the worker in `slot`, as a crash would; resolves once it is gone. */
  async kill(slot: number): Promise<void> {
    const old = this.slots[slot]!;
    old.ended = true;
    const gone = new Promise<void>((r) => (old.child.exitCode !== null || old.child.signalCode !== null ? r() : old.child.once('exit', () => r())));
    old.child.kill('SIGKILL');
    await gone;
    this.opts.log(`worker ${slot} (pid ${old.child.pid}) SIGKILLed`);
  }

  /** Starts a new worker in `slot`; resolves once it polls. */
  respawn(slot: number): Promise<void> {
    return this.spawn(slot);
  }

  async stop(): Promise<void> {
    process.removeListener('exit', this.killAll);
    await Promise.all(
      this.slots.map((s) => {
        s.ended = true;
        return stopChild(s.child, 5_000);
      }),
    );
  }

  private spawn(slot: number): Promise<void> {
    const { address, namespace, taskQueue, fleetFile } = this.opts;
    const args = ['bin/meridian.js', '--address', address, '--namespace', namespace, '--task-queue', taskQueue, 'worker', '--fleet-file', fleetFile, '--shutdown-grace', '1s'];
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...this.opts.env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const entry: Slot = { child, ended: false, ready: false };
    this.slots[slot] = entry;
    const logFile = join(this.opts.logDir, `worker-${slot}.log`);
    const out = createWriteStream(logFile, { flags: 'a' });
    child.stdout!.pipe(out);
    child.stderr!.pipe(out);
    return new Promise((resolveReady, reject) => {
      let seen = '';
      const timer = setTimeout(() => reject(new Error(`worker ${slot} did not poll within ${READY_TIMEOUT_MS / 1000} s; see ${logFile}`)), READY_TIMEOUT_MS);
      const onData = (d: Buffer) => {
        seen = (seen + d.toString()).slice(-4_096);
        if (!seen.includes('worker polling')) return;
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        entry.ready = true;
        resolveReady();
      };
      child.stdout!.on('data', onData);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (entry.ended) return;
        const line = `worker ${slot} (pid ${child.pid}) exited on its own (${signal ?? `code ${code}`}); see ${logFile}`;
        this.exits.push(line);
        this.opts.log(line);
        reject(new Error(line));
      });
    });
  }
}

export interface SimulatedRig {
  fleet: SimulatedFleet;
  client: RolloutClient;
  pool: WorkerPool;
}

/**
 * What a row on the simulated fleet runs against: `workers` worker processes on `taskQueue` sharing
 * one fleet file in the row's folder, a client, and the fleet to check; all closed again after `run`.
 */
export async function withSimulatedRig<T>(ctx: RowContext, taskQueue: string, workers: number, run: (rig: SimulatedRig) => Promise<T>): Promise<T> {
  const { address, namespace } = ctx.cluster;
  const fleetFile = join(ctx.workDir, 'fleet.db');
  const fleet = new SimulatedFleet(fleetFile);
  const client = await RolloutClient.connect({ address, namespace, taskQueue });
  const pool = new WorkerPool({ address, namespace, taskQueue, fleetFile, logDir: ctx.workDir, size: workers, log: ctx.log });
  try {
    await pool.start();
    return await run({ fleet, client, pool });
  } finally {
    await pool.stop();
    fleet.close();
    await client.client.connection.close();
  }
}
