import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { registerAudit } from './commands/audit';
import { registerCodecServer } from './commands/codec-server';
import { registerDemo } from './commands/demo';
import { registerDeployment } from './commands/deployment';
import { registerDev } from './commands/dev';
import { registerList } from './commands/list';
import { registerOperatorCommands } from './commands/operator';
import { registerStart } from './commands/start';
import { registerStatus } from './commands/status';
import { registerValidate } from './commands/validate';
import { registerWatch } from './commands/watch';
import { registerWorker } from './commands/worker';
import { EXIT_CODES_HELP } from './exit-codes';
import { address, name } from './options';

export interface ProgramIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

/**
 * The whole command tree; parse errors throw CommanderError instead of exiting, so main() picks the exit code.
 * Each command loads its heavy modules (the SDK, the worker, the demo) inside its action, so --help and
 * `status` start quickly.
 */
export function buildProgram(
  io: ProgramIo = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) },
): Command {
  const program = new Command('meridian')
    .description('Roll a new version of a service out across regions as Temporal workflows, with automatic rollback.')
    .addOption(new Option('--address <host:port>', 'Temporal frontend (default: TEMPORAL_ADDRESS, the config profile, or localhost:7233)').argParser(address))
    .addOption(new Option('--namespace <name>', 'Temporal namespace (default: TEMPORAL_NAMESPACE, the config profile, or default)').argParser(name))
    .addOption(
      new Option(
        '--task-queue <name>',
        'task queue: start puts rollouts on it, worker and dev poll it (default: MERIDIAN_TASK_QUEUE, or meridian); status and the operator commands use the rollout\'s own',
      ).argParser(name),
    )
    .version(packageVersion(), '-V, --version', 'print the version of Meridian')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP);

  registerValidate(program);
  registerStart(program);
  registerStatus(program);
  registerWatch(program);
  registerAudit(program);
  registerOperatorCommands(program);
  registerList(program);
  registerWorker(program);
  registerDeployment(program);
  registerDev(program);
  registerDemo(program);
  registerCodecServer(program);
  return program;
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}
