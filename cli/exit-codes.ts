import type { RolloutPhase } from '../domain/status';

export const ExitCode = {
  Success: 0,
  Unexpected: 1,
  Usage: 2,
  RolledBack: 3,
  NeedsAttention: 4,
  Unreachable: 5,
  Rejected: 6,
  NoWorker: 7,
  VerifyFailed: 8,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODES_HELP = `
Exit codes:
  0  success (start --wait, watch: the rollout Succeeded; demo, rehearse: it ended as the scenario expects)
  1  unexpected error
  2  invalid spec or usage
  3  the rollout ended RolledBack or Failed
  4  the rollout ended NeedsAttention
  5  cannot reach Temporal
  6  the workflow rejected the command (e.g. approving a gate that is not waiting, or the rollout already ended)
  7  no worker polls the rollout's task queue: nothing answered, a command was not sent
     (status prints the last state the server recorded; start a worker: meridian worker --task-queue <name>)
  8  audit --verify found a signed approval that does not verify`;

/** The exit code a command that followed a rollout to its end returns. */
export function exitCodeForPhase(phase: RolloutPhase): ExitCode {
  switch (phase) {
    case 'Succeeded':
      return ExitCode.Success;
    case 'RolledBack':
    case 'Failed':
      return ExitCode.RolledBack;
    case 'NeedsAttention':
      return ExitCode.NeedsAttention;
    default:
      return ExitCode.Success;
  }
}

/** A failure the CLI reports as one line with a chosen exit code. */
export class CliError extends Error {
  readonly code: ExitCode;

  constructor(
    message: string,
    code: ExitCode,
  ) {
    super(message);
    this.code = code;
    this.name = 'CliError';
  }
}
