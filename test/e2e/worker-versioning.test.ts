import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedFleet } from '../../activities/fleet';
import { RolloutClient } from '../../client/rollout-client';
import type { DeploymentView, SetCurrentResult } from '../../cli/commands/deployment';
import type { RolloutStatus } from '../../domain/status';
import { regionWorkflowId } from '../../workflows/definitions';
import { serverAt, type DevServer } from '../../worker/dev-server';
import { createWorker } from '../../worker/index';
import { activities, settled, type HistoryEvent } from '../support/history';
import { ROOT, startWorkerProcess } from '../support/processes';
import { NEW_IMAGE, testPlan } from '../support/spec';
import { tempDir } from '../support/temp-dir';
import { startTestCluster } from '../support/cluster';
import { workflowBundle } from '../workflows/harness';

/**
 * An upgrade of Meridian's workers under running rollouts, with Worker Deployment versioning on the
 * local Temporal cluster. Build A is the workflow code as it is; build B a copy whose rolloutWorkflow starts with an
 * extra timer, so B cannot replay A's histories (shown with the replayer). Rollouts started on A wait
 * at a gate while B's worker starts and B becomes current; new rollouts then run on B, and A's,
 * approved, finish on A, their region stages included (the second wave's is started after B became
 * current and must still go to A). No workflow task fails anywhere, every one is completed by the
 * build the rollout started on, and `meridian deployment status` counts the rollouts pinned to each.
 */
/** Fresh names each run, so that a server kept between runs starts from an empty deployment and queue. */
const RUN = `${process.pid}-${Date.now()}`;
const DEPLOYMENT = `meridian-upgrade-${RUN}`;
const TASK_QUEUE = `versioning-${RUN}`;
const [WEST, EAST] = ['eu-west-1', 'us-east-1'];
const PINNED = temporal.api.enums.v1.VersioningBehavior.VERSIONING_BEHAVIOR_PINNED;

let server: DevServer;
let dir: string;
let fleetFile: string;
let buildB: string;
let workerA: ChildProcess | undefined;
let workerB: Worker | undefined;
let runningB: Promise<void> | undefined;

/** The Temporal server the test runs on: a local cluster on PostgreSQL of its own, each service a process. */
async function startServer(): Promise<DevServer> {
  const cluster = await startTestCluster();
  const server = await serverAt(cluster.address, { namespace: cluster.namespace });
  return {
    ...server,
    stop: async () => {
      await server.stop();
      await cluster.stop();
    },
  };
}

beforeAll(async () => {
  dir = tempDir('meridian-versioning-');
  fleetFile = join(dir, 'fleet.db');
  [server, buildB] = await Promise.all([startServer(), bundleBuildB(dir)]);
}, 180_000);

afterAll(async () => {
  if (workerA && workerA.exitCode === null && workerA.signalCode === null) workerA.kill('SIGKILL');
  if (workerB?.getState() === 'RUNNING') workerB.shutdown();
  await runningB?.catch(() => {});
  await server?.stop();
});

/**
 * Build B: a copy of workflows/ beside links to the folders it imports, with one change that alters
 * rolloutWorkflow's first commands (a timer before preflight). Returns the bundle's code.
 */
async function bundleBuildB(parent: string): Promise<string> {
  const root = join(parent, 'build-b');
  cpSync(join(ROOT, 'workflows'), join(root, 'workflows'), { recursive: true });
  for (const linked of ['domain', 'activities', 'lib', 'node_modules']) symlinkSync(join(ROOT, linked), join(root, linked));
  const file = join(root, 'workflows', 'rollout.ts');
  writeFileSync(
    file,
    replaceOnce(replaceOnce(readFileSync(file, 'utf8'), '  proxyActivities,\n', '  proxyActivities,\n  sleep,\n'), '  await checkPreflight(', '  await sleep(1);\n  await checkPreflight('),
  );
  const { code } = await bundleWorkflowCode({ workflowsPath: join(root, 'workflows', 'index.ts'), logger: quietLogger() });
  return code;
}

function replaceOnce(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`workflows/rollout.ts no longer has exactly one ${JSON.stringify(from)}; change how build B is made`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

function quietLogger() {
  const drop = () => {};
  return { log: drop, trace: drop, debug: drop, info: drop, warn: drop, error: (m: string) => console.error(m) };
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/meridian.js', ...args, '--address', server.address], { cwd: ROOT, env: { ...process.env, CI: 'true' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Polls `read` until `ok` holds; the last value is in the error. */
async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let error: unknown;
  while (Date.now() < deadline) {
    try {
      last = await read();
      if (ok(last)) return last;
    } catch (err) {
      error = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}${error ? `; last error: ${error}` : ''}`);
}

/** `meridian deployment set-current`, again while the server has not yet seen the build's pollers. */
async function setCurrent(buildId: string): Promise<SetCurrentResult> {
  const ran = await until('set-current ' + buildId, () => cli(['deployment', 'set-current', buildId, '--deployment-name', DEPLOYMENT, '--by', 'release-bot', '--json']), (r) => r.code !== 6);
  expect(ran.code, ran.stderr).toBe(0);
  return JSON.parse(ran.stdout) as SetCurrentResult;
}

async function deploymentStatus(): Promise<DeploymentView> {
  const ran = await cli(['deployment', 'status', '--deployment-name', DEPLOYMENT, '--json']);
  if (ran.code !== 0) throw new Error(ran.stderr);
  return JSON.parse(ran.stdout) as DeploymentView;
}

const pinned = (view: DeploymentView) => Object.fromEntries(view.versions.map((v) => [v.buildId, v.pinnedRollouts]));

/** Two regions in two waves; the first waits at a gate, so the second wave's stage starts after it is approved. */
function gatedPlan(service: string) {
  return testPlan(
    {
      service,
      waves: [
        { name: 'first', regions: [WEST], steps: [{ kind: 'setWeight', weight: 50 }, { kind: 'approval', name: 'go-live' }] },
        { name: 'second', regions: [EAST] },
      ],
      steps: [{ kind: 'setWeight', weight: 50 }],
    },
  );
}

async function startGated(client: RolloutClient, service: string): Promise<string> {
  const id = await client.start(gatedPlan(service), { id: `versioning-${service}-${RUN}` });
  await until(`${id} at its gate`, () => client.status(id), (s: RolloutStatus) => s.pendingApprovals.some((p) => p.region === WEST));
  return id;
}

async function versioningOf(workflowId: string) {
  return (await server.client.workflow.getHandle(workflowId).describe()).raw.workflowExecutionInfo?.versioningInfo;
}

async function historyOf(workflowId: string): Promise<HistoryEvent[]> {
  return (await server.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
}

/** The rollout and both region stages: pinned to `build`, every workflow task completed by it, none failed, every activity run by `identity`. */
async function expectRanOn(id: string, build: string, identity: string): Promise<void> {
  for (const workflowId of [id, regionWorkflowId(id, WEST), regionWorkflowId(id, EAST)]) {
    const info = await versioningOf(workflowId);
    expect({ behavior: info?.behavior, buildId: info?.deploymentVersion?.buildId }, `${workflowId} pinned`).toEqual({ behavior: PINNED, buildId: build });
    const events = await historyOf(workflowId);
    expect(events.filter((e) => e.workflowTaskFailedEventAttributes), `${workflowId}: failed workflow tasks`).toEqual([]);
    const completedBy = events.flatMap((e) => (e.workflowTaskCompletedEventAttributes ? [e.workflowTaskCompletedEventAttributes.deploymentVersion?.buildId] : []));
    expect(completedBy.length).toBeGreaterThan(0);
    expect(new Set(completedBy), `${workflowId}: builds that completed its workflow tasks`).toEqual(new Set([build]));
    const startedBy = new Set(events.flatMap((e) => (e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.identity] : [])));
    expect(startedBy, `${workflowId}: workers that ran its activities`).toEqual(new Set([identity]));
    expect(activities(events).filter((a) => a.outcome !== 'completed'), `${workflowId}: activities not completed`).toEqual([]);
  }
}

function expectFleetRight(service: string): void {
  const fleet = new SimulatedFleet(fleetFile);
  try {
    for (const region of [WEST, EAST]) {
      expect(fleet.region(service, region), `${service} in ${region}`).toMatchObject({ stable: { image: NEW_IMAGE }, canary: null, weight: 100 });
      const journal = fleet.journal(service, region);
      expect(journal.filter((e) => e.effect !== 'applied'), `${service} in ${region}: changes that failed or ran twice`).toEqual([]);
      expect(new Set(journal.map((e) => `${e.op} ${e.key}`)).size).toBe(journal.length);
    }
  } finally {
    fleet.close();
  }
}

describe('upgrading the workers under running rollouts with Worker Deployment versioning', () => {
  it('new rollouts run on the new build, running ones finish on the build they started on', async () => {
    const client = new RolloutClient(server.client, { namespace: server.namespace, taskQueue: TASK_QUEUE });
    workerA = await startWorkerProcess({
      address: server.address,
      fleetFile,
      env: { MERIDIAN_TASK_QUEUE: TASK_QUEUE, MERIDIAN_DEPLOYMENT_NAME: DEPLOYMENT, MERIDIAN_BUILD_ID: 'A' },
    });
    const identityA = `${workerA.pid}@${hostname()}`;
    expect(await setCurrent('A')).toEqual({ deploymentName: DEPLOYMENT, currentBuildId: 'A' });
    const onA = [await startGated(client, 'cart'), await startGated(client, 'orders')];

    // B cannot replay what A recorded: without versioning, B's workers would fail these rollouts' tasks.
    const history = await server.client.workflow.getHandle(onA[0]!).fetchHistory();
    await expect(Worker.runReplayHistory({ workflowBundle: { code: buildB } }, history, onA[0])).rejects.toBeInstanceOf(DeterminismViolationError);
    await Worker.runReplayHistory({ workflowBundle: workflowBundle() }, history, onA[0]);

    workerB = await createWorker({
      connection: server.nativeConnection,
      namespace: server.namespace,
      taskQueue: TASK_QUEUE,
      fleetFile,
      workflowBundle: { code: buildB },
      deployment: { deploymentName: DEPLOYMENT, buildId: 'B' },
    });
    runningB = workerB.run();
    const identityB = `${process.pid}@${hostname()}`;
    expect(await setCurrent('B')).toEqual({ deploymentName: DEPLOYMENT, currentBuildId: 'B', previousBuildId: 'A' });
    const onB = await startGated(client, 'payments');
    const during = await until('two rollouts pinned to A, one to B', deploymentStatus, (v) => pinned(v).A === 2 && pinned(v).B === 1);
    expect(during).toMatchObject({ name: DEPLOYMENT, currentBuildId: 'B', lastModifiedBy: 'release-bot', unversionedRollouts: expect.any(Number) });
    expect(during.versions.map((v) => [v.buildId, v.status])).toEqual([['B', 'current'], ['A', 'draining']]);
    // B's own first command, the timer before preflight, is in the new rollout's history.
    const first = (await historyOf(onB)).find((e) => e.timerStartedEventAttributes || e.activityTaskScheduledEventAttributes);
    expect(first?.timerStartedEventAttributes, 'build B ran the new rollout').toBeTruthy();

    for (const id of onA) await client.approve(id, { region: WEST, by: 'alice' });
    for (const id of onA) expect((await settled(client, id, 120_000)).phase).toBe('Succeeded');
    const drained = await until('no rollout pinned to A', deploymentStatus, (v) => pinned(v).A === 0);
    expect(pinned(drained)).toEqual({ A: 0, B: 1 });

    await client.approve(onB, { region: WEST, by: 'alice' });
    expect((await settled(client, onB, 120_000)).phase).toBe('Succeeded');

    // A has nothing left to run: SIGTERM drains its worker and it exits 0.
    const exited = new Promise<number | null>((resolve) => workerA!.once('exit', (code) => resolve(code)));
    workerA.kill('SIGTERM');
    expect(await exited).toBe(0);

    for (const id of onA) await expectRanOn(id, 'A', identityA);
    await expectRanOn(onB, 'B', identityB);
    for (const service of ['cart', 'orders', 'payments']) expectFleetRight(service);
  }, 300_000);
});
