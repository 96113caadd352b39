import { homedir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_VALIDITY_MS, MAX_VALIDITY_MS } from '../../domain/approval-statement';
import { parseDuration } from '../../domain/duration';
import { NoWorkerError } from '../../client/rollout-errors';
import type { CommandResult } from '../../workflows/definitions';
import type { RolloutClient } from '../../client/rollout-client';
import { defaultUser, print, printJson, withClient } from '../context';
import { name, nonBlank } from '../options';

interface ApproveOptions {
  region: string;
  service?: string;
  by: string;
  gate?: string;
  comment?: string;
  signWith?: string;
  validFor: number;
  json?: boolean;
}

const APPROVE_HELP = `
A signed approval is a statement of exactly what is approved: the rollout, its run, the region, the
service, the gate and this opening of it, the approver and the time, signed with
ssh-keygen -Y sign -n meridian-approval. The workflow checks it against the key the rollout pinned
for --by, and refuses a signature over another gate, region, run or rollout, or one that expired.
Gates are signed when the spec names approver keys or a keyring, or the worker enforces one.`;

function validity(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0 || ms > MAX_VALIDITY_MS) throw new InvalidArgumentError('must be a duration such as 10m or 1h, at most 24h');
  return ms;
}

const JSON_OPTION = [
  '--json',
  'print { id, command, accepted, phase, message } only; with no worker (exit 7), { id, command, accepted: false, fate, phase, worker }',
] as const;

const expandHome = (path: string) => (path.startsWith('~/') ? join(homedir(), path.slice(2)) : path);

function report(verb: string, id: string, result: CommandResult, json: boolean | undefined): void {
  if (json) printJson({ id, command: verb, ...result });
  else print(`${verb} accepted by ${id}: ${result.message} (rollout ${result.phase})`);
}

/**
 * Sends one command and reports its answer. With --json, a command that found no worker still
 * prints a document before it exits 7: `fate` says whether it was not sent (`not-sent`, nothing will
 * change later) or sent but not confirmed (`unconfirmed`, it may still take effect).
 */
async function send(verb: string, id: string, json: boolean | undefined, cmd: Command, use: (c: RolloutClient) => Promise<CommandResult>): Promise<void> {
  let result: CommandResult;
  try {
    result = await withClient(cmd, use);
  } catch (err) {
    if (json && err instanceof NoWorkerError) {
      const { fate, waitedMs } = err.details;
      printJson({ id, command: verb, accepted: false, fate, ...(waitedMs ? { waitedMs } : {}), phase: err.rollout.phase, worker: err.presence });
    }
    throw err;
  }
  report(verb, id, result, json);
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
    .option('--sign-with <key>', 'sign the approval with this SSH Ed25519 key (private key, or a public key held by ssh-agent), through ssh-keygen -Y sign', nonBlank)
    .addOption(new Option('--valid-for <duration>', 'how long the signed statement stays valid, up to 24h').argParser(validity).default(DEFAULT_VALIDITY_MS, '15m'))
    .option(...JSON_OPTION)
    .addHelpText('after', APPROVE_HELP)
    .action(async (id: string, o: ApproveOptions, cmd: Command) => {
      const target = { region: o.region, ...(o.service ? { service: o.service } : {}), ...(o.gate ? { gate: o.gate } : {}), by: o.by };
      await send('approve', id, o.json, cmd, async (c) => {
        if (!o.signWith) return c.approve(id, { ...target, comment: o.comment });
        const { signApproval } = await import('../../client/sign-approval');
        const signature = await signApproval(await c.approvalStatement(id, target, o.validFor), expandHome(o.signWith));
        return c.approve(id, { ...target, comment: o.comment, signature });
      });
    });

  program
    .command('abort')
    .description('stop the rollout and roll every touched region back')
    .argument('<id>', 'rollout workflow id', name)
    .requiredOption('--reason <text>', 'why, for the audit trail', nonBlank)
    .requiredOption(...by)
    .option(...JSON_OPTION)
    .action(async (id: string, o: { reason: string; by: string; json?: boolean }, cmd: Command) => {
      await send('abort', id, o.json, cmd, (c) => c.abort(id, { reason: o.reason, by: o.by }));
    });

  program
    .command('pause')
    .description('hold every region at its current step')
    .argument('<id>', 'rollout workflow id', name)
    .requiredOption(...by)
    .option('--reason <text>', 'why, for the audit trail', nonBlank)
    .option(...JSON_OPTION)
    .action(async (id: string, o: { by: string; reason?: string; json?: boolean }, cmd: Command) => {
      await send('pause', id, o.json, cmd, (c) => c.pause(id, { by: o.by, reason: o.reason }));
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
      .option(...JSON_OPTION)
      .action(async (id: string, o: { by: string; region?: string; service?: string; reason?: string; json?: boolean }, cmd: Command) => {
        const req = { by: o.by, region: o.region, ...(o.service ? { service: o.service } : {}), reason: o.reason };
        await send(command, id, o.json, cmd, (c) => (command === 'resume' ? c.resume(id, req) : c.retry(id, req)));
      });
  }
}
