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
      const [{ followRollout }, { liveView }, { renderSummary }] = await Promise.all([
        import('../follow'),
        import('../live'),
        import('../render'),
      ]);
      const status = await withClient(cmd, (client) => followRollout(client, id, liveView(process.stdout)));
      print(`\n${renderSummary(status)}`);
      process.exitCode = exitCodeForPhase(status.phase);
    });
}
