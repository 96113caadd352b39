import type { Command } from 'commander';
import { print, taskQueueOf } from '../context';
import { httpUrl, nonBlank, port } from '../options';
import { FLEET_FILE_HELP } from './worker';

interface DevOptions {
  port?: number;
  uiPort?: number;
  dbFile?: string;
  fleetFile?: string;
  uiCodecEndpoint?: string;
}

export function registerDev(program: Command): void {
  program
    .command('dev')
    .description('run a local Temporal dev server (SQLite, UI) and a worker in this process until Ctrl-C')
    .option('--port <port>', 'frontend port (default: 7233)', port)
    .option('--ui-port <port>', 'UI port (default: 8233)', port)
    .option('--db-file <file>', 'SQLite file that keeps the server state (default: .meridian/temporal.db)', nonBlank)
    .option('--fleet-file <file>', FLEET_FILE_HELP, nonBlank)
    .option('--ui-codec-endpoint <url>', 'codec server the UI decodes encrypted payloads with, e.g. http://127.0.0.1:8888 (meridian codec-server; see docs/security.md)', httpUrl)
    .action(async (opts: DevOptions, cmd: Command) => {
      const [server, { DEFAULT_FLEET_FILE }, { startSandbox }, { TASK_QUEUE }, { describeEncryption }] = await Promise.all([
        import('../../worker/dev-server'),
        import('../../worker/index'),
        import('../sandbox'),
        import('../../workflows/definitions'),
        import('../../client/codec'),
      ]);
      const taskQueue = taskQueueOf(cmd) ?? TASK_QUEUE;
      const sandbox = await startSandbox({
        port: opts.port ?? server.DEFAULT_PORT,
        uiPort: opts.uiPort ?? server.DEFAULT_UI_PORT,
        dbFile: opts.dbFile ?? server.DEFAULT_DB_FILE,
        fleetFile: opts.fleetFile ?? DEFAULT_FLEET_FILE,
        uiCodecEndpoint: opts.uiCodecEndpoint,
        taskQueue,
        log: print,
        sdkLogLevel: 'WARN',
      });
      print('');
      print(`Temporal address  ${sandbox.server.address}`);
      print(`namespace         ${sandbox.server.namespace}`);
      print(`UI                ${sandbox.server.uiUrl}${opts.uiCodecEndpoint ? `, decoding with ${opts.uiCodecEndpoint}` : ''}`);
      print(`worker            task queue "${taskQueue}", fleet ${sandbox.fleetFile}, ${describeEncryption()}`);
      print('');
      const queue = taskQueue === TASK_QUEUE ? '' : ` --task-queue ${taskQueue}`;
      print(`start a rollout in another terminal: npx meridian start examples/demo.yaml --address ${sandbox.server.address}${queue}`);
      print('press Ctrl-C to stop');
      try {
        await sandbox.workerDone;
      } finally {
        await sandbox.stop();
        print('stopped');
      }
    });
}
