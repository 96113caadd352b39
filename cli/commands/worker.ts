import { InvalidArgumentError, Option, type Command } from 'commander';
import { parseDuration } from '../../domain/duration';
import { connectionOverrides, taskQueueOf } from '../context';
import { CliError, ExitCode } from '../exit-codes';
import { name, nonBlank } from '../options';

/** Help shows the defaults of worker/ as text, so that --help need not load the worker to read them. */
export const FLEET_FILE_HELP = 'state file of the simulated fleet (default: .meridian/fleet.db)';
export const SHUTDOWN_GRACE_HELP =
  'on SIGTERM or Ctrl-C, how long running activities may take to finish before they are cancelled and retried on another worker (default: 30s)';

const MAX_GRACE_MS = 86_400_000;

const WORKER_HELP = `
Stopping (SIGTERM, or Ctrl-C): the worker stops polling at once, lets running activities finish
within --shutdown-grace, then cancels the rest and reports them failed, so Temporal retries them on
another worker straight away (a long analysis resumes from its last heartbeat). It exits 0 once
drained. An activity that ignores its cancellation gets 10s more; after that the worker exits 1 and
Temporal retries it when its heartbeat or start-to-close timeout passes. A second signal exits at once.
Give the process manager longer than the grace period plus 10s (Kubernetes:
terminationGracePeriodSeconds) before it sends SIGKILL.

Versioning: with --deployment-name and --build-id the worker is one build of a Temporal Worker
Deployment, and every rollout it starts stays pinned to that build, region stages included, until it
ends. New rollouts go to the deployment's current build: meridian deployment set-current <build-id>.
Without them the worker is unversioned and takes any rollout on its task queue. See docs/upgrades.md.`;

interface WorkerCommandOptions {
  fleetFile?: string;
  shutdownGrace?: number;
  deploymentName?: string;
  buildId?: string;
  keyring?: string;
}

const KEYRING_HELP =
  'a keyring file (YAML: approvers: [{ name, key: "ssh-ed25519 AAAA…", groups }]) this worker enforces on every rollout: only its people approve, each with a signature by their key';

/** A duration such as 30s, 2m or 1m30s, up to a day; 0s cancels running activities at once. */
export function graceDuration(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms > MAX_GRACE_MS) throw new InvalidArgumentError('it must be a duration up to 1d, e.g. 30s, 2m or 1m30s.');
  return ms;
}

/** A deployment name: no spaces, and neither separator Temporal writes between a deployment and a build id. */
export function deploymentName(value: string): string {
  name(value);
  if (/[.:]/.test(value)) throw new InvalidArgumentError('it must not contain "." or ":".');
  return value;
}

export function deploymentNameOption(): Option {
  return new Option('--deployment-name <name>', 'the Temporal Worker Deployment of Meridian\'s workers').env('MERIDIAN_DEPLOYMENT_NAME').argParser(deploymentName);
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run a worker that executes the rollouts of the task queue (--task-queue); SIGTERM or Ctrl-C drains it')
    .option('--fleet-file <file>', FLEET_FILE_HELP, nonBlank)
    .addOption(new Option('--shutdown-grace <duration>', SHUTDOWN_GRACE_HELP).env('MERIDIAN_SHUTDOWN_GRACE').argParser(graceDuration))
    .addOption(deploymentNameOption())
    .addOption(new Option('--build-id <id>', 'this worker\'s build within --deployment-name; turns on versioning').env('MERIDIAN_BUILD_ID').argParser(name))
    .addOption(new Option('--keyring <file>', KEYRING_HELP).env('MERIDIAN_KEYRING').argParser(nonBlank))
    .addHelpText('after', WORKER_HELP)
    .action(async (opts: WorkerCommandOptions, cmd: Command) => {
      const deployment = deploymentOf(opts);
      const [{ runWorker, ShutdownExpiredError }, { DEFAULT_FLEET_FILE }] = await Promise.all([import('../../worker/main'), import('../../worker/index')]);
      await runWorker({
        ...connectionOverrides(cmd),
        taskQueue: taskQueueOf(cmd),
        fleetFile: opts.fleetFile ?? DEFAULT_FLEET_FILE,
        shutdownGraceMs: opts.shutdownGrace,
        deployment,
        ...(opts.keyring ? { keyring: opts.keyring } : {}),
      }).catch((err: unknown) => {
        throw err instanceof ShutdownExpiredError ? new CliError(err.message, ExitCode.Unexpected) : err;
      });
    });
}

/** Both --deployment-name and --build-id, or neither. */
function deploymentOf(opts: WorkerCommandOptions): { deploymentName: string; buildId: string } | undefined {
  const { deploymentName, buildId } = opts;
  if (deploymentName && buildId) return { deploymentName, buildId };
  if (!deploymentName && !buildId) return undefined;
  const [given, missing] = deploymentName ? ['--deployment-name', '--build-id (or MERIDIAN_BUILD_ID)'] : ['--build-id', '--deployment-name (or MERIDIAN_DEPLOYMENT_NAME)'];
  throw new CliError(`${given} needs ${missing} too: a versioned worker is one build of one deployment; give both, or neither to run unversioned`, ExitCode.Usage);
}
