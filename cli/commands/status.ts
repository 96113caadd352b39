import type { Command } from 'commander';
import { print, printJson, withClient } from '../context';
import { name } from '../options';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description("show a rollout's current state, or the final one of a rollout that ended (no worker needed)")
    .argument('<id>', 'rollout workflow id', name)
    .option('--json', 'print machine-readable JSON only')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const [{ NoWorkerError }, { renderStatus }, { endedLine, renderRecord }] = await Promise.all([
        import('../../client/rollout-client'),
        import('../render'),
        import('../render-record'),
      ]);
      await withClient(cmd, async (client) => {
        try {
          const status = await client.status(id);
          if (opts.json) printJson(status);
          else print(status.ended ? `${endedLine(status)}\n${renderStatus(status, Date.now())}` : renderStatus(status, Date.now()));
        } catch (err) {
          if (!(err instanceof NoWorkerError)) throw err;
          if (opts.json) printJson({ ...err.rollout, ended: err.rollout.closedAt !== undefined, live: false, worker: err.presence });
          else print(renderRecord(err.rollout));
          throw err;
        }
      });
    });
}
