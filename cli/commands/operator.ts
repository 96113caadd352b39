import type { Command } from 'commander';
import type { CommandResult } from '../../workflows/definitions';
import { defaultUser, print, withClient } from '../context';

function report(verb: string, id: string, result: CommandResult): void {
  print(`${verb} accepted by ${id}: ${result.message} (rollout ${result.phase})`);
}

/** approve, abort, pause, resume, retry: each an update the workflow validates and answers. */
export function registerOperatorCommands(program: Command): void {
  const by = ['--by <user>', 'who sends the command, for the audit trail', defaultUser()] as const;

  program
    .command('approve')
    .description('approve the gate a region waits on')
    .argument('<id>', 'rollout workflow id')
    .requiredOption('--region <region>', 'the region whose gate to approve')
    .requiredOption(...by)
    .option('--gate <gate>', 'gate name (default: the gate the region waits on)')
    .option('--comment <text>', 'why, for the audit trail')
    .action(async (id: string, o: { region: string; by: string; gate?: string; comment?: string }, cmd: Command) => {
      const result = await withClient(cmd, (c) => c.approve(id, { region: o.region, gate: o.gate, by: o.by, comment: o.comment }));
      report('approve', id, result);
    });

  program
    .command('abort')
    .description('stop the rollout and roll every touched region back')
    .argument('<id>', 'rollout workflow id')
    .requiredOption('--reason <text>', 'why, for the audit trail')
    .requiredOption(...by)
    .action(async (id: string, o: { reason: string; by: string }, cmd: Command) => {
      report('abort', id, await withClient(cmd, (c) => c.abort(id, { reason: o.reason, by: o.by })));
    });

  program
    .command('pause')
    .description('hold every region at its current step')
    .argument('<id>', 'rollout workflow id')
    .requiredOption(...by)
    .option('--reason <text>', 'why, for the audit trail')
    .action(async (id: string, o: { by: string; reason?: string }, cmd: Command) => {
      report('pause', id, await withClient(cmd, (c) => c.pause(id, { by: o.by, reason: o.reason })));
    });

  for (const [name, description] of [
    ['resume', 'lift a pause; run a region held by the pause policy again, accept the drift a region paused on, or analyse an inconclusive region again'],
    ['retry', 'run the failed rollback steps (NeedsAttention) or contract migrations again; like resume for held, drifted and inconclusive regions'],
  ] as const) {
    program
      .command(name)
      .description(description)
      .argument('<id>', 'rollout workflow id')
      .requiredOption(...by)
      .option('--region <region>', 'only this region (default: all)')
      .option('--reason <text>', 'why, for the audit trail')
      .action(async (id: string, o: { by: string; region?: string; reason?: string }, cmd: Command) => {
        const req = { by: o.by, region: o.region, reason: o.reason };
        report(name, id, await withClient(cmd, (c) => (name === 'resume' ? c.resume(id, req) : c.retry(id, req))));
      });
  }
}
