import { Command, Option } from 'commander';
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

/** Registers `demo` and `rehearse` with their options; it loads the demo, so only when the command line names one. */
export type RegisterDemo = (program: Command) => void;

/**
 * `demo` and `rehearse` as the command list shows them when their module is not loaded; the real
 * commands (cli/commands/demo.ts) must describe themselves the same way, which a test checks.
 */
export const DEMO_COMMANDS: Record<string, string> = {
  demo: 'roll examples/demo.yaml out on a local server and simulated fleet, nothing needed beforehand',
  rehearse: "rehearse a spec's rollback on a simulated fleet with scripted faults, on a Temporal dev server of its own (or the one --address names)",
};

/** True when `argv` may run or describe `demo` or `rehearse`, so their module must be loaded. */
export function namesDemo(argv: readonly string[]): boolean {
  return argv.slice(2).some((a) => a in DEMO_COMMANDS);
}

/**
 * The whole command tree; parse errors throw CommanderError instead of exiting, so main() picks the exit code.
 * Each command loads its heavy modules (the SDK, the worker, the demo) inside its action, so --help and
 * `status` start quickly; `registerDemo` is given only when the command line needs the demo.
 */
export function buildProgram(
  io: ProgramIo = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) },
  registerDemo?: RegisterDemo,
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
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .configureHelp({ showGlobalOptions: true })
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
  if (registerDemo) registerDemo(program);
  else for (const [command, description] of Object.entries(DEMO_COMMANDS)) program.command(command).description(description);
  return program;
}
