import type { Command } from 'commander';
import { print, withClient } from '../context';
import { exitCodeForPhase } from '../exit-codes';
import { followRollout } from '../follow';
import { liveView } from '../live';
import { renderSummary } from '../render';

export function registerWatch(program: Command): void {
  program
    .command('watch')
    .description('follow a rollout live until it ends; the exit code tells how it ended')
    .argument('<id>', 'rollout workflow id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const status = await withClient(cmd, (client) => followRollout(client, id, liveView(process.stdout)));
      print(`\n${renderSummary(status)}`);
      process.exitCode = exitCodeForPhase(status.phase);
    });
}
