import type { Command } from 'commander';
import { defaultUser, print, printJson, withClient } from '../context';
import { exitCodeForPhase } from '../exit-codes';
import { followRollout } from '../follow';
import { liveView, plainView } from '../live';
import { loadSpecOrFail } from '../load';
import { specWarnings } from '../../domain/warnings';
import { renderSummary } from '../render';

interface StartOptions {
  id?: string;
  by: string;
  wait?: boolean;
  json?: boolean;
}

const silent = { write: () => true };

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('start a rollout from a spec')
    .argument('<spec>', 'rollout spec file (YAML)')
    .option('--id <id>', 'workflow id (default: rollout/<service>/<version>)')
    .requiredOption('--by <user>', 'who starts it, for the audit trail', defaultUser())
    .option('--wait', 'follow the rollout until it ends; the exit code tells how it ended')
    .option('--json', 'print machine-readable JSON only')
    .action(async (file: string, opts: StartOptions, cmd: Command) => {
      const { spec, plan } = await loadSpecOrFail(file);
      for (const w of specWarnings(spec)) process.stderr.write(`${file}: warning: ${w}\n`);
      await withClient(cmd, async (client) => {
        const id = await client.start(plan, { id: opts.id, startedBy: opts.by });
        if (!opts.wait) {
          if (opts.json) printJson({ id, namespace: client.namespace });
          else print(`started ${id}\nfollow it with: meridian watch ${id}`);
          return;
        }
        if (!opts.json) print(`started ${id}`);
        const status = await followRollout(client, id, opts.json ? plainView(silent) : liveView(process.stdout));
        if (opts.json) printJson(status);
        else print(`\n${renderSummary(status)}`);
        process.exitCode = exitCodeForPhase(status.phase);
      });
    });
}
