import type { Command } from 'commander';
import { exitCodeForPhase } from '../exit-codes';
import { print, withClient } from '../context';
import { name } from '../options';

export function registerWatch(program: Command): void {
  program
    .command('watch')
    .description('follow a rollout live until it ends; the exit code tells how it ended')
    .argument('<id>', 'rollout workflow id', name)
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const [{ followRollout }, { liveView }, { renderSummary }, { NoWorkerError }, { renderRecord }] = await Promise.all([
        import('../follow'),
        import('../live'),
        import('../render'),
        import('../../client/rollout-errors'),
        import('../render-record'),
      ]);
      const status = await withClient(cmd, (client) => followRollout(client, id, liveView(process.stdout))).catch((err: unknown) => {
        if (err instanceof NoWorkerError) print(renderRecord(err.rollout));
        throw err;
      });
      print(`\n${renderSummary(status)}`);
      process.exitCode = exitCodeForPhase(status.phase);
    });
}
