import type { Command } from 'commander';
import type { CommandResult } from '../../workflows/definitions';
import { defaultUser, print, withClient } from '../context';
import { name, nonBlank } from '../options';

function report(verb: string, id: string, result: CommandResult): void {
  print(`${verb} accepted by ${id}: ${result.message} (rollout ${result.phase})`);
}

/**
 * approve, abort, pause, resume, retry: each an update the workflow validates and answers. None is sent
 * to a rollout that ended (exit 6) or that no worker serves (exit 7, saying whether it may still apply).
 */
export function registerOperatorCommands(program: Command): void {
  const by = ['--by <user>', 'who sends the command, for the audit trail', name, defaultUser()] as const;

  program
    .command('approve')
    .description('approve the gate a region waits on')
    .argument('<id>', 'rollout workflow id', name)
    .requiredOption('--region <region>', 'the region whose gate to approve', name)
    .requiredOption(...by)
    .option('--service <service>', 'in a release: the service whose gate to approve, needed when gates of several services wait in the region', name)
    .option('--gate <gate>', 'gate name (default: the gate the region waits on)', name)
    .option('--comment <text>', 'why, for the audit trail', nonBlank)
    .action(async (id: string, o: { region: string; service?: string; by: string; gate?: string; comment?: string }, cmd: Command) => {
      const result = await withClient(cmd, (c) => c.approve(id, { region: o.region, ...(o.service ? { service: o.service } : {}), gate: o.gate, by: o.by, comment: o.comment }));
      report('approve', id, result);
    });

  program
    .command('abort')
    .description('stop the rollout and roll every touched region back')
    .argument('<id>', 'rollout workflow id', name)
    .requiredOption('--reason <text>', 'why, for the audit trail', nonBlank)
    .requiredOption(...by)
    .action(async (id: string, o: { reason: string; by: string }, cmd: Command) => {
      report('abort', id, await withClient(cmd, (c) => c.abort(id, { reason: o.reason, by: o.by })));
    });

  program
    .command('pause')
    .description('hold every region at its current step')
    .argument('<id>', 'rollout workflow id', name)
    .requiredOption(...by)
    .option('--reason <text>', 'why, for the audit trail', nonBlank)
    .action(async (id: string, o: { by: string; reason?: string }, cmd: Command) => {
      report('pause', id, await withClient(cmd, (c) => c.pause(id, { by: o.by, reason: o.reason })));
    });

  for (const [command, description] of [
    ['resume', 'lift a pause; run a region held by the pause policy again, accept the drift a region paused on, or analyse an inconclusive region again'],
    ['retry', 'run the failed rollback steps (NeedsAttention) or contract migrations again; like resume for held, drifted and inconclusive regions'],
  ] as const) {
    program
      .command(command)
      .description(description)
      .argument('<id>', 'rollout workflow id', name)
      .requiredOption(...by)
      .option('--region <region>', 'only this region (default: all)', name)
      .option('--service <service>', "in a release: only this service's stages", name)
      .option('--reason <text>', 'why, for the audit trail', nonBlank)
      .action(async (id: string, o: { by: string; region?: string; service?: string; reason?: string }, cmd: Command) => {
        const req = { by: o.by, region: o.region, ...(o.service ? { service: o.service } : {}), reason: o.reason };
        report(command, id, await withClient(cmd, (c) => (command === 'resume' ? c.resume(id, req) : c.retry(id, req))));
      });
  }
}
