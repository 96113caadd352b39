import { isGrpcServiceError } from '@temporalio/client';
import { CommanderError } from 'commander';
import { ConnectionFailedError } from '../client/connection';
import { RolloutCommandError } from '../client/rollout-client';
import { CliError, ExitCode } from './exit-codes';

export interface Reported {
  code: ExitCode;
  /** One line for stderr; undefined when something already printed it (commander's usage errors). */
  message?: string;
}

/** gRPC status codes that mean the server is gone rather than that it refused. */
const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;

const HELP_CODES = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

/** Maps any error to the exit code and the one line the user sees. */
export function classifyError(err: unknown): Reported {
  if (err instanceof CliError) return { code: err.code, message: err.message };
  if (err instanceof CommanderError) {
    return HELP_CODES.has(err.code) ? { code: ExitCode.Success } : { code: ExitCode.Usage };
  }
  if (err instanceof ConnectionFailedError) return { code: ExitCode.Unreachable, message: err.message };
  if (err instanceof RolloutCommandError) return { code: ExitCode.Rejected, message: `rejected: ${err.message}` };
  if (isGrpcServiceError(err) && (err.code === GRPC_UNAVAILABLE || err.code === GRPC_DEADLINE_EXCEEDED)) {
    return {
      code: ExitCode.Unreachable,
      message: `lost the connection to Temporal (${err.details || err.message}); check the server and run the command again`,
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: ExitCode.Unexpected, message: `unexpected error: ${message}` };
}
