import type { Command } from 'commander';
import { print, printJson, withClient } from '../context';
import { renderStatus } from '../render';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description("show a rollout's current state")
    .argument('<id>', 'rollout workflow id')
    .option('--json', 'print machine-readable JSON only')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const status = await withClient(cmd, (client) => client.status(id));
      if (opts.json) printJson(status);
      else print(renderStatus(status, Date.now()));
    });
}
