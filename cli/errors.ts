import { CommanderError } from 'commander';
import { ConnectionFailedError } from '../client/connection-error';
import { NoWorkerError, RolloutCommandError } from '../client/rollout-errors';
import { CliError, ExitCode } from './exit-codes';

export interface Reported {
  code: ExitCode;
  /** One line for stderr; undefined when something already printed it (commander's usage errors). */
  message?: string;
}

/** gRPC status codes that mean the server is gone rather than that it refused. */
const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;

/**
 * Refusals of what the user gave: client/start-checks.ts, and a --fleet-file that holds no fleet
 * (activities/fleet/store.ts), codec keys that cannot be used or lack the key a payload needs (client/codec.ts); matched by name so that --help does not load the modules they live in.
 */
const USAGE_REFUSALS = new Set(['PayloadTooLargeError', 'InvalidIdentityError', 'FleetFileError', 'CodecKeyError', 'PayloadDecryptError', 'SigningError']);

const HELP_CODES = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

/** The SDK's own test for a gRPC error (a numeric code, string details), without loading gRPC for every command line. */
function grpcError(err: unknown): { code: number; details: string; message: string } | undefined {
  const e = err as { code?: unknown; details?: unknown; metadata?: unknown };
  return err instanceof Error && typeof e.code === 'number' && typeof e.details === 'string' && typeof e.metadata === 'object'
    ? (err as Error & { code: number; details: string })
    : undefined;
}

/** Maps any error to the exit code and the one line the user sees. */
export function classifyError(err: unknown): Reported {
  if (err instanceof CliError) return { code: err.code, message: err.message };
  if (err instanceof CommanderError) {
    return HELP_CODES.has(err.code) ? { code: ExitCode.Success } : { code: ExitCode.Usage };
  }
  if (err instanceof Error && USAGE_REFUSALS.has(err.name)) return { code: ExitCode.Usage, message: err.message };
  if (err instanceof ConnectionFailedError) return { code: ExitCode.Unreachable, message: err.message };
  if (err instanceof NoWorkerError) return { code: ExitCode.NoWorker, message: err.message };
  if (err instanceof RolloutCommandError) return { code: ExitCode.Rejected, message: `rejected: ${err.message}` };
  const grpc = grpcError(err);
  if (grpc && (grpc.code === GRPC_UNAVAILABLE || grpc.code === GRPC_DEADLINE_EXCEEDED)) {
    return {
      code: ExitCode.Unreachable,
      message: `lost the connection to Temporal (${grpc.details || grpc.message}); check the server and run the command again`,
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: ExitCode.Unexpected, message: `unexpected error: ${message}` };
}
