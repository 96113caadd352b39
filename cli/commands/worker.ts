import type { Command } from 'commander';
import { runWorker } from '../../worker/main';
import { DEFAULT_FLEET_FILE } from '../../worker/index';
import { TASK_QUEUE } from '../../workflows/definitions';
import { connectionOverrides } from '../context';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run a worker that executes rollouts; stops cleanly on Ctrl-C')
    .option('--task-queue <name>', 'task queue to poll', TASK_QUEUE)
    .option('--fleet-file <file>', 'state file of the simulated fleet', DEFAULT_FLEET_FILE)
    .action(async (opts: { taskQueue: string; fleetFile: string }, cmd: Command) => {
      await runWorker({ ...connectionOverrides(cmd), taskQueue: opts.taskQueue, fleetFile: opts.fleetFile });
    });
}
