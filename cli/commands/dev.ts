import type { Command } from 'commander';
import { DEFAULT_DB_FILE, DEFAULT_PORT, DEFAULT_UI_PORT } from '../../worker/dev-server';
import { DEFAULT_FLEET_FILE } from '../../worker/index';
import { TASK_QUEUE } from '../../workflows/definitions';
import { print } from '../context';
import { startSandbox } from '../sandbox';

const port = (v: string) => Number.parseInt(v, 10);

export function registerDev(program: Command): void {
  program
    .command('dev')
    .description('run a local Temporal dev server (SQLite, UI) and a worker in this process until Ctrl-C')
    .option('--port <port>', 'frontend port', port, DEFAULT_PORT)
    .option('--ui-port <port>', 'UI port', port, DEFAULT_UI_PORT)
    .option('--db-file <file>', 'SQLite file that keeps the server state', DEFAULT_DB_FILE)
    .option('--fleet-file <file>', 'state file of the simulated fleet', DEFAULT_FLEET_FILE)
    .action(async (opts: { port: number; uiPort: number; dbFile: string; fleetFile: string }) => {
      const sandbox = await startSandbox({ ...opts, taskQueue: TASK_QUEUE, log: print, sdkLogLevel: 'WARN' });
      print('');
      print(`Temporal address  ${sandbox.server.address}`);
      print(`namespace         ${sandbox.server.namespace}`);
      print(`UI                ${sandbox.server.uiUrl}`);
      print(`worker            task queue "${TASK_QUEUE}", fleet ${sandbox.fleetFile}`);
      print('');
      print(`start a rollout in another terminal: npx meridian start examples/demo.yaml --address ${sandbox.server.address}`);
      print('press Ctrl-C to stop');
      try {
        await sandbox.workerDone;
      } finally {
        await sandbox.stop();
        print('stopped');
      }
    });
}
