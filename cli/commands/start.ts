import type { Command } from 'commander';
import { exitCodeForPhase } from '../exit-codes';
import { defaultUser, print, printJson, withClient } from '../context';
import { name } from '../options';

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
    .description('start a rollout from a spec; warns when no worker polls the task queue it goes on')
    .argument('<spec>', 'rollout spec file (YAML)')
    .option('--id <id>', 'workflow id (default: rollout/<service>/<version>)', name)
    .requiredOption('--by <user>', 'who starts it, for the audit trail', name, defaultUser())
    .option('--wait', 'follow the rollout until it ends; the exit code tells how it ended')
    .option('--json', 'print machine-readable JSON only')
    .action(async (file: string, opts: StartOptions, cmd: Command) => {
      const [{ loadSpecOrFail }, { specWarnings }, { describePresence, workerCommand }] = await Promise.all([
        import('../load'),
        import('../../domain/warnings'),
        import('../../client/rollout-errors'),
      ]);
      const { spec, plan } = await loadSpecOrFail(file);
      for (const w of specWarnings(spec)) process.stderr.write(`${file}: warning: ${w}\n`);
      await withClient(cmd, async (client) => {
        const id = await client.start(plan, { id: opts.id, startedBy: opts.by });
        const presence = await client.presence();
        if (!presence.polling) {
          process.stderr.write(
            `meridian: warning: ${describePresence(presence)}; ${id} stays Pending until one does: ${workerCommand(presence.taskQueue)}\n`,
          );
        }
        if (!opts.wait) {
          if (opts.json) printJson({ id, namespace: client.namespace, taskQueue: client.taskQueue, workerPolling: presence.polling });
          else print(`started ${id}\nfollow it with: meridian watch ${id}`);
          return;
        }
        if (!opts.json) print(`started ${id}`);
        const [{ followRollout }, { liveView, plainView }, { renderSummary }] = await Promise.all([
            import('../follow'),
          import('../live'),
          import('../render'),
        ]);
        const status = await followRollout(client, id, opts.json ? plainView(silent) : liveView(process.stdout));
        if (opts.json) printJson(status);
        else print(`\n${renderSummary(status)}`);
        process.exitCode = exitCodeForPhase(status.phase);
      });
    });
}
