import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import type { Command } from 'commander';
import { defaultUser, print, printJson, withClient } from '../context';
import { CliError, ExitCode } from '../exit-codes';
import { name } from '../options';
import { deploymentNameOption } from './worker';

/** The Worker Deployment of Meridian's workers, as `meridian deployment status` shows it. */
export interface DeploymentView {
  name: string;
  namespace: string;
  /** Undefined: new rollouts go to unversioned workers. */
  currentBuildId?: string;
  rampingBuildId?: string;
  rampingPercent?: number;
  /** Who last changed the routing (set-current), as the server recorded it. */
  lastModifiedBy?: string;
  /** Newest first. */
  versions: BuildView[];
  /**
   * Running rollouts on no build yet: started on unversioned workers. Each moves to the current build
   * at its next workflow task and is pinned there from then on.
   */
  unversionedRollouts: number;
}

export interface BuildView {
  buildId: string;
  /** The server's word: current, ramping, draining (pinned workflows still open), drained, inactive (never current). */
  status: string;
  createdAt?: string;
  currentSince?: string;
  /** Running rollouts pinned to this build, from visibility (which may lag the server by a few seconds). */
  pinnedRollouts: number;
}

type VersionSummary = temporal.api.deployment.v1.WorkerDeploymentInfo.IWorkerDeploymentVersionSummary;

/** gRPC codes of a request the server understood and refused. */
const REFUSALS = new Set([3, 5, 9]);

export function registerDeployment(program: Command): void {
  const deployment = program
    .command('deployment')
    .description('the Temporal Worker Deployment of Meridian\'s workers: its builds, which is current, the rollouts pinned to each (see docs/upgrades.md)');
  deployment
    .command('status')
    .description('each build of the deployment, which one new rollouts go to, and how many running rollouts are pinned to each')
    .addOption(deploymentNameOption().makeOptionMandatory())
    .option('--json', 'print machine-readable JSON only')
    .action(async (opts: { deploymentName: string; json?: boolean }, cmd: Command) => {
      const view = await withClient(cmd, (c) => readDeployment(c.client, c.namespace, opts.deploymentName));
      if (opts.json) printJson(view);
      else print(renderDeployment(view));
    });
  deployment
    .command('set-current')
    .description('send new rollouts to this build from now on; rollouts pinned to other builds stay on them until they end')
    .argument('<build-id>', 'a build whose workers poll already (meridian worker --deployment-name N --build-id ID)', name)
    .addOption(deploymentNameOption().makeOptionMandatory())
    .option('--by <user>', 'who makes the change, recorded by the server', name, defaultUser())
    .option('--json', 'print machine-readable JSON only')
    .action(async (buildId: string, opts: { deploymentName: string; by?: string; json?: boolean }, cmd: Command) => {
      const done = await withClient(cmd, (c) => setCurrent(c.client, c.namespace, opts.deploymentName, buildId, opts.by));
      if (opts.json) printJson(done);
      else print(renderSetCurrent(done));
    });
}

/** The deployment as the server describes it, with the running rollouts pinned to each build counted from visibility. */
async function readDeployment(client: Client, namespace: string, deploymentName: string): Promise<DeploymentView> {
  const described = await client.workflowService
    .describeWorkerDeployment({ namespace, deploymentName })
    .catch((err: unknown) => refused(err, `no worker deployment "${deploymentName}" in namespace ${namespace}`, `start its workers with: meridian worker --deployment-name ${deploymentName} --build-id <id>`));
  const info = described.workerDeploymentInfo ?? {};
  const routing = info.routingConfig ?? {};
  const summaries = [...(info.versionSummaries ?? [])].sort((a, b) => seconds(b.createTime) - seconds(a.createTime));
  const versions = await Promise.all(summaries.map((s) => buildView(client, deploymentName, s)));
  const ramping = routing.rampingDeploymentVersion?.buildId || undefined;
  return {
    name: deploymentName,
    namespace,
    currentBuildId: routing.currentDeploymentVersion?.buildId || undefined,
    ...(ramping ? { rampingBuildId: ramping, rampingPercent: routing.rampingVersionPercentage ?? 0 } : {}),
    lastModifiedBy: info.lastModifierIdentity || undefined,
    versions,
    unversionedRollouts: await countRunning(client, 'TemporalWorkerDeployment IS NULL'),
  };
}

async function buildView(client: Client, deploymentName: string, s: VersionSummary): Promise<BuildView> {
  const buildId = s.deploymentVersion?.buildId ?? '';
  return {
    buildId,
    status: await statusName(s.status ?? 0),
    createdAt: isoOf(s.createTime),
    currentSince: isoOf(s.currentSinceTime),
    pinnedRollouts: await countRunning(client, `TemporalWorkerDeploymentVersion = ${quote(`${deploymentName}:${buildId}`)}`),
  };
}

/** `WORKER_DEPLOYMENT_VERSION_STATUS_DRAINING` -> `draining`. */
async function statusName(status: number): Promise<string> {
  const { default: proto } = await import('@temporalio/proto');
  const names = Object.entries(proto.temporal.api.enums.v1.WorkerDeploymentVersionStatus);
  const found = names.find(([, value]) => value === status)?.[0] ?? `status ${status}`;
  return found.replace('WORKER_DEPLOYMENT_VERSION_STATUS_', '').toLowerCase();
}

async function countRunning(client: Client, clause: string): Promise<number> {
  const { ROLLOUT_WORKFLOW_TYPE } = await import('../../client/rollout-client');
  const query = `WorkflowType = ${quote(ROLLOUT_WORKFLOW_TYPE)} AND ExecutionStatus = 'Running' AND ${clause}`;
  return (await client.workflow.count(query)).count;
}

export interface SetCurrentResult {
  deploymentName: string;
  currentBuildId: string;
  /** Undefined: unversioned workers had the new rollouts before. */
  previousBuildId?: string;
}

async function setCurrent(client: Client, namespace: string, deploymentName: string, buildId: string, by: string | undefined): Promise<SetCurrentResult> {
  const response = await client.workflowService
    .setWorkerDeploymentCurrentVersion({ namespace, deploymentName, buildId, identity: by ?? '' })
    .catch((err: unknown) =>
      refused(err, `build ${buildId} of deployment "${deploymentName}" was not made current`, `start its workers first (meridian worker --deployment-name ${deploymentName} --build-id ${buildId}) and run this again`),
    );
  return { deploymentName, currentBuildId: buildId, previousBuildId: response.previousDeploymentVersion?.buildId || undefined };
}

/** A refusal of the server becomes exit 6 with its reason and what to do; anything else (an unreachable server) goes on up. */
function refused(err: unknown, what: string, todo: string): never {
  const e = err as { code?: unknown; details?: unknown };
  if (err instanceof Error && typeof e.code === 'number' && REFUSALS.has(e.code)) {
    throw new CliError(`${what}: ${typeof e.details === 'string' && e.details ? e.details : err.message}; ${todo}`, ExitCode.Rejected);
  }
  throw err;
}

export function renderDeployment(view: DeploymentView): string {
  const current = view.currentBuildId ? `build ${view.currentBuildId}` : 'unversioned workers';
  const ramp = view.rampingBuildId ? `; ${view.rampingPercent}% ramping to build ${view.rampingBuildId}` : '';
  const by = view.lastModifiedBy ? ` (set by ${view.lastModifiedBy})` : '';
  const rows = [
    ['BUILD', 'STATUS', 'PINNED ROLLOUTS', 'CREATED', 'CURRENT SINCE'],
    ...view.versions.map((v) => [v.buildId, v.status, String(v.pinnedRollouts), v.createdAt ?? '', v.currentSince ?? '']),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const table = rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
  const stoppable = view.versions.filter((v) => v.buildId !== view.currentBuildId && v.buildId !== view.rampingBuildId && v.pinnedRollouts === 0);
  return [
    `deployment ${view.name} (namespace ${view.namespace}): new rollouts go to ${current}${ramp}${by}`,
    ...table,
    `running rollouts on no build (started on unversioned workers; each moves to the current build at its next step): ${view.unversionedRollouts}`,
    ...stoppable.map((v) => `build ${v.buildId}: no running rollout is pinned to it; its workers may stop (SIGTERM drains them)`),
  ].join('\n');
}

function renderSetCurrent(done: SetCurrentResult): string {
  const before = done.previousBuildId ? `build ${done.previousBuildId}` : 'unversioned workers';
  return (
    `new rollouts of deployment ${done.deploymentName} now go to build ${done.currentBuildId} (before: ${before}); ` +
    `rollouts already running stay on the build they started on. Watch them drain: meridian deployment status --deployment-name ${done.deploymentName}`
  );
}

/** A visibility query's string literal (as client/rollout-client.ts writes them). */
function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function seconds(ts: { seconds?: unknown } | null | undefined): number {
  return Number(ts?.seconds ?? 0);
}

function isoOf(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): string | undefined {
  if (!ts?.seconds) return undefined;
  return new Date(Number(ts.seconds) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6)).toISOString().replace(/\.\d+Z$/, 'Z');
}
