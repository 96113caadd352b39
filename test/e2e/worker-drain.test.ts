import type { ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedFleet } from '../../activities/fleet';
import { RolloutClient } from '../../client/rollout-client';
import type { AnalysisProgress } from '../../domain/status';
import { regionWorkflowId } from '../../workflows/definitions';
import { startDevServer, type DevServer } from '../../worker/dev-server';
import { activities, settled, type HistoryEvent } from '../support/history';
import { freePort, startWorkerProcess } from '../support/processes';
import { NEW_IMAGE, testPlan, type StepInput } from '../support/spec';
import { regionOf } from '../support/status';
import { tempDir } from '../support/temp-dir';

/**
 * `meridian worker` asked to stop (SIGTERM) while a rollout's activity runs on it: it takes no new
 * tasks, exits 0 within its grace period plus a margin, and a second worker finishes the rollout
 * with each keyed change applied to the fleet once. The cases:
 *   - the activity ends within the grace period: a deployCanary slowed by a scripted delay, and an
 *     analysis that reaches its verdict (which, being cancellable, would be cut short if the grace
 *     period were not honoured): it completes on the stopping worker;
 *   - it outlasts the grace period (an analysis chunk, which heartbeats): the worker cancels it,
 *     reports it failed as a worker shutdown, and it runs again on the next worker from its last
 *     heartbeat.
 */
const REGION = 'eu-west-1';
/** What the process is allowed beyond its grace period: the last completion's round trip and the process's own exit. */
const EXIT_MARGIN_MS = 5_000;
const STARTED = temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;

let server: DevServer;
let dir: string;
let fleetFile: string;
const workers: ChildProcess[] = [];

beforeAll(async () => {
  dir = tempDir('meridian-worker-drain-');
  fleetFile = join(dir, 'fleet.db');
  server = await startDevServer({ dbFile: join(dir, 'temporal.db'), port: await freePort(), uiPort: await freePort() });
}, 120_000);

// A worker left polling would take the next test's rollout.
afterEach(() => {
  for (const w of workers.splice(0)) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
});

afterAll(async () => {
  await server?.stop();
});

async function startWorker(grace?: string): Promise<ChildProcess> {
  const child = await startWorkerProcess({ address: server.address, fleetFile, env: grace ? { MERIDIAN_SHUTDOWN_GRACE: grace } : {} });
  workers.push(child);
  return child;
}

/** The worker's identity as the SDK reports it (`pid@host`). */
const identityOf = (worker: ChildProcess) => `${worker.pid}@${hostname()}`;

/** The region stage's activity of `type` once a worker has started it. */
async function whenStarted(id: string, type: string, timeoutMs = 60_000): Promise<temporal.api.workflow.v1.IPendingActivityInfo> {
  const handle = server.client.workflow.getHandle(regionWorkflowId(id, REGION));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const pending = (await handle.describe().catch(() => undefined))?.raw.pendingActivities ?? [];
    const found = pending.find((a) => a.activityType?.name === type && a.state === STARTED);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${type} started in ${REGION} within ${timeoutMs} ms`);
}

/** Sends SIGTERM and resolves with the exit code and how long the process took to go. */
async function stop(worker: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const sent = Date.now();
  const gone = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => worker.once('exit', (code, signal) => resolve({ code, signal })));
  worker.kill('SIGTERM');
  return { ...(await gone), ms: Date.now() - sent };
}

async function regionHistory(id: string): Promise<HistoryEvent[]> {
  return (await server.client.workflow.getHandle(regionWorkflowId(id, REGION)).fetchHistory()).events ?? [];
}

/** The rollout ended Succeeded, the region runs the new image at full weight, and the fleet applied every keyed change once. */
async function expectFinished(client: RolloutClient, id: string, service: string): Promise<void> {
  const status = await settled(client, id, 120_000);
  expect(status.phase, status.reason).toBe('Succeeded');
  expect(regionOf(status, REGION).phase).toBe('Promoted');
  const fleet = new SimulatedFleet(fleetFile);
  try {
    expect(fleet.region(service, REGION)).toMatchObject({ stable: { image: NEW_IMAGE }, canary: null, weight: 100 });
    const journal = fleet.journal(service, REGION);
    expect(journal.filter((e) => e.effect !== 'applied'), 'no change failed or ran twice').toEqual([]);
    const changes = journal.map((e) => `${e.op} ${e.key}`);
    expect(new Set(changes).size, 'each keyed change once').toBe(changes.length);
    expect(journal.map((e) => e.op)).toEqual(expect.arrayContaining(['snapshot', 'deployCanary', 'setWeight', 'promote']));
  } finally {
    fleet.close();
  }
  const ran = activities(await regionHistory(id));
  expect(ran.filter((a) => a.outcome !== 'completed'), 'every activity of the region completed').toEqual([]);
}

describe('a worker stopped with SIGTERM while an activity runs', () => {
  it.each([
    {
      what: 'a fleet change slowed by a scripted delay',
      type: 'deployCanary',
      steps: [{ kind: 'setWeight', weight: 50 }],
      faults: [`${REGION}: delay deploy 6s`],
    },
    {
      what: 'an analysis that reaches its verdict',
      type: 'runAnalysis',
      steps: [{ kind: 'setWeight', weight: 10 }, { kind: 'analysis', metrics: ['error_rate'], interval: '250ms', sustainedFor: '4s' }, { kind: 'setWeight', weight: 50 }],
      faults: [],
    },
  ] satisfies { what: string; type: string; steps: StepInput[]; faults: string[] }[])(
    'lets $what within the grace period finish on it, exits 0, and the next worker goes on',
    async ({ type, steps, faults }) => {
      const service = `drain-finish-${type.toLowerCase()}-${Date.now()}`;
      const grace = 20_000;
      const plan = testPlan({ service, steps, simulation: { baseline: { error_rate: 0.004 }, faults } }, { waves: { only: [REGION] } });
      const client = new RolloutClient(server.client, { namespace: server.namespace });
      const first = await startWorker(`${grace / 1000}s`);
      const id = await client.start(plan, { id: `drain-finish-${process.pid}-${Date.now()}` });
      await whenStarted(id, type);

      const exit = await stop(first);
      console.log(`[worker-drain] ${type} in flight at SIGTERM: the worker exited ${exit.code} after ${exit.ms} ms`);
      expect(exit, 'exit status').toMatchObject({ code: 0, signal: null });
      expect(exit.ms, 'drained within the grace period').toBeLessThan(grace + EXIT_MARGIN_MS);
      // The stopping worker finished the activity itself: attempt 1, completed, reported by it.
      const events = await regionHistory(id);
      expect(activities(events).filter((a) => a.type === type)).toEqual([expect.objectContaining({ attempts: [1], outcome: 'completed' })]);
      expect(startedBy(events, type)).toEqual([identityOf(first)]);

      const second = await startWorker();
      await expectFinished(client, id, service);
      const after = activities(await regionHistory(id));
      expect(after.filter((a) => a.type === type), `${type} ran once`).toHaveLength(1);
      expect(after.filter((a) => a.type === 'promote')).toHaveLength(1);
      expect((await stop(second)).code).toBe(0);
    },
    240_000,
  );

  it('hands an analysis that outlasts the grace period back at its end, exits 0, and the next worker resumes it', async () => {
    const service = `drain-handback-${Date.now()}`;
    const grace = 2_000;
    const plan = testPlan(
      {
        service,
        steps: [
          { kind: 'setWeight', weight: 10 },
          { kind: 'analysis', metrics: ['error_rate'], interval: '250ms', sustainedFor: '8s' },
          { kind: 'setWeight', weight: 50 },
        ],
      },
      { waves: { only: [REGION] } },
    );
    const client = new RolloutClient(server.client, { namespace: server.namespace });
    const first = await startWorker(`${grace / 1000}s`);
    const id = await client.start(plan, { id: `drain-handback-${process.pid}-${Date.now()}` });
    await whenStarted(id, 'runAnalysis');
    await new Promise((r) => setTimeout(r, 1_000));

    const exit = await stop(first);
    console.log(`[worker-drain] runAnalysis in flight at SIGTERM (grace ${grace} ms): the worker exited ${exit.code} after ${exit.ms} ms`);
    expect(exit, 'exit status').toMatchObject({ code: 0, signal: null });
    expect(exit.ms, 'waited out the grace period').toBeGreaterThanOrEqual(grace - 250);
    expect(exit.ms, 'stopped promptly after it').toBeLessThan(grace + EXIT_MARGIN_MS);

    // Handed back: the attempt failed as a worker shutdown, the next is due at once, and its last
    // heartbeat keeps the healthy run the analysis had measured.
    const pending = (await server.client.workflow.getHandle(regionWorkflowId(id, REGION)).describe()).raw.pendingActivities ?? [];
    const analysis = pending.find((a) => a.activityType?.name === 'runAnalysis');
    expect(analysis?.lastWorkerIdentity).toBe(identityOf(first));
    expect(analysis?.attempt).toBe(2);
    expect(analysis?.lastFailure?.applicationFailureInfo?.type).toBe('WorkerShutdown');
    const payload = analysis?.heartbeatDetails?.payloads?.[0];
    const progress = payload ? (defaultPayloadConverter.fromPayload(payload) as AnalysisProgress) : undefined;
    expect(progress).toMatchObject({ outcome: 'Running', healthySince: expect.any(Number) });

    const second = await startWorker();
    await expectFinished(client, id, service);
    const events = await regionHistory(id);
    const runs = activities(events).filter((a) => a.type === 'runAnalysis');
    expect(runs.map((a) => a.attempts), 'one chunk, finished by its second attempt').toEqual([[2]]);
    expect(startedBy(events, 'runAnalysis'), 'the retry ran on the next worker').toEqual([identityOf(second)]);
    const retried = events.find((e) => e.activityTaskStartedEventAttributes?.attempt === 2)?.activityTaskStartedEventAttributes;
    expect(retried?.lastFailure?.applicationFailureInfo?.type).toBe('WorkerShutdown');
    expect((await stop(second)).code).toBe(0);
  }, 240_000);
});

/** Who started each attempt of the activities of `type` that the history records. */
function startedBy(events: HistoryEvent[], type: string): string[] {
  const ofType = new Set(events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type).map((e) => String(e.eventId)));
  return events.flatMap((e) => {
    const started = e.activityTaskStartedEventAttributes;
    return started && ofType.has(String(started.scheduledEventId)) ? [started.identity ?? ''] : [];
  });
}
