import type { Command } from 'commander';
import { connectionOverrides, taskQueueOf } from '../context';
import { nonBlank } from '../options';

/** Help shows the defaults of worker/ as text, so that --help need not load the worker to read them. */
export const FLEET_FILE_HELP = 'state file of the simulated fleet (default: .meridian/fleet.json)';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run a worker that executes the rollouts of the task queue (--task-queue); stops cleanly on Ctrl-C')
    .option('--fleet-file <file>', FLEET_FILE_HELP, nonBlank)
    .action(async (opts: { fleetFile?: string }, cmd: Command) => {
      const [{ runWorker }, { DEFAULT_FLEET_FILE }] = await Promise.all([import('../../worker/main'), import('../../worker/index')]);
      await runWorker({ ...connectionOverrides(cmd), taskQueue: taskQueueOf(cmd), fleetFile: opts.fleetFile ?? DEFAULT_FLEET_FILE });
    });
}
