import { Command } from 'commander';
import { registerDemo } from './commands/demo';
import { registerDev } from './commands/dev';
import { registerList } from './commands/list';
import { registerOperatorCommands } from './commands/operator';
import { registerStart } from './commands/start';
import { registerStatus } from './commands/status';
import { registerValidate } from './commands/validate';
import { registerWatch } from './commands/watch';
import { registerWorker } from './commands/worker';
import { EXIT_CODES_HELP } from './exit-codes';

export interface ProgramIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** The whole command tree; parse errors throw CommanderError instead of exiting, so main() picks the exit code. */
export function buildProgram(io: ProgramIo = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) }): Command {
  const program = new Command('meridian')
    .description('Roll a new version of a service out across regions as Temporal workflows, with automatic rollback.')
    .option('--address <host:port>', 'Temporal frontend (default: TEMPORAL_ADDRESS, the config profile, or localhost:7233)')
    .option('--namespace <name>', 'Temporal namespace (default: TEMPORAL_NAMESPACE, the config profile, or default)')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP);

  registerValidate(program);
  registerStart(program);
  registerStatus(program);
  registerWatch(program);
  registerOperatorCommands(program);
  registerList(program);
  registerWorker(program);
  registerDev(program);
  registerDemo(program);
  return program;
}
