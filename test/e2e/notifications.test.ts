import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RolloutClient } from '../../client/rollout-client';
import type { NotificationPayload } from '../../domain/notifications';
import type { RolloutSpecInput } from '../../domain/spec';
import { startDevServer, type DevServer } from '../../worker/dev-server';
import { activities } from '../support/history';
import { NotificationReceiver } from '../support/notification-receiver';
import { freePort, startWorkerProcess } from '../support/processes';
import { BREACH_IN_WAVE_2, FAST_STEPS, OLD_IMAGE, testPlan } from '../support/spec';
import { auditDataOf, regionOf } from '../support/status';
import { tempDir } from '../support/temp-dir';

/**
 * Notifications through a real worker process and a real receiver. The receiver refuses the first
 * two requests of every delivery key with 503, checks every signature, and holds one delivery open
 * while the worker is killed with SIGKILL; a new worker delivers it again. Every chosen event
 * arrives, each key is taken exactly once, and the rollout ends as it would without receivers. A
 * receiver that is down, or refuses for good, leaves `notification-failed` in the audit trail and
 * the rollout succeeds all the same.
 */
const SECRET_ENV = 'MERIDIAN_E2E_HOOK_SECRET';
const SECRET = 'e2e-hook-secret';
const WAVES = { canary: ['eu-west-1'], early: ['us-east-1'] };

let server: DevServer;
let receiver: NotificationReceiver;
let base: string;
let dir: string;
let client: RolloutClient;
const workers: ChildProcess[] = [];

beforeAll(async () => {
  dir = tempDir('meridian-notifications-e2e-');
  server = await startDevServer({ dbFile: join(dir, 'temporal.db'), port: await freePort(), uiPort: await freePort() });
  client = new RolloutClient(server.client, { namespace: server.namespace });
  receiver = new NotificationReceiver({ secrets: { ops: SECRET, chat: SECRET, gone: SECRET }, refuse: 2, gone: ['gone'] });
  base = await receiver.start();
}, 120_000);

afterEach(() => {
  for (const w of workers.splice(0)) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
});

afterAll(async () => {
  await receiver?.stop();
  await server?.stop();
});

async function startWorker(): Promise<ChildProcess> {
  const child = await startWorkerProcess({ address: server.address, fleetFile: join(dir, 'fleet.db'), env: { [SECRET_ENV]: SECRET } });
  workers.push(child);
  return child;
}

async function kill(worker: ChildProcess): Promise<void> {
  const gone = new Promise((r) => worker.once('exit', r));
  worker.kill('SIGKILL');
  await gone;
}

async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const accepted = (hook: string, key: string) => (receiver.accepted(hook).includes(key) ? true : undefined);

/**
 * What the receiver saw of `hook`: it took exactly the expected keys, each once and after two
 * refusals, every request carried the key's event and (for a signed hook) a valid signature, and
 * each body is the payload of its key.
 */
function expectDelivered(hook: string, id: string, keys: string[], signed: boolean): void {
  const took = receiver.accepted(hook).filter((k) => k.startsWith(`${id}/`));
  expect([...took].sort(), `${hook}: the keys taken`).toEqual([...keys].sort());
  expect(new Set(took).size, `${hook}: each key taken once`).toBe(took.length);
  for (const key of keys) {
    const seen = receiver.of(hook, key);
    expect(seen.slice(0, 2).map((a) => a.answer), `${key}: refused twice first`).toEqual([503, 503]);
    expect(seen.filter((a) => a.answer === 200), `${key}: taken once`).toHaveLength(1);
    for (const a of seen) {
      expect(a.key, 'key').toBe(key);
      if (signed) expect(a.signed, `${key}: signature`).toBe(true);
      if (signed) expect((a.body as NotificationPayload).id).toBe(key);
      expect(key.split('/').includes(a.event), `${key}: event header`).toBe(true);
    }
  }
}

describe('notifications from a rollout whose worker is killed mid-delivery', () => {
  it('deliver started, every wave, every approval gate and succeeded once each, and the rollout succeeds', async () => {
    const id = `notify-gate-${process.pid}-${Date.now()}`;
    const plan = testPlan(
      {
        service: 'notify-gate',
        steps: [{ kind: 'setWeight', weight: 25 }, { kind: 'approval', name: 'go-ahead' }, { kind: 'setWeight', weight: 50 }],
        notifications: [
          { name: 'ops', url: `${base}/hooks/ops`, events: ['started', 'wave-started', 'approval-needed', 'succeeded'], secretEnv: SECRET_ENV },
          { name: 'chat', url: `${base}/hooks/chat`, format: 'slack', events: ['approval-needed', 'succeeded'] },
        ],
      },
      { waves: WAVES },
    );
    const gate = (region: string) => `${id}/approval-needed/${region}/1`;
    const held = receiver.hold('ops', gate('eu-west-1'));
    const first = await startWorker();
    await client.start(plan, { id });

    const request = await held.arrived;
    expect((request.body as NotificationPayload).data).toMatchObject({ gate: 'go-ahead' });
    await kill(first);
    await held.closed;
    await startWorker();

    await until('the first gate delivered again', () => accepted('ops', gate('eu-west-1')));
    await client.approve(id, { region: 'eu-west-1', by: 'alice' });
    await until('the second gate delivered', () => accepted('ops', gate('us-east-1')));
    await client.approve(id, { region: 'us-east-1', by: 'alice' });

    const status = await client.result(id);
    expect(status.phase, status.reason).toBe('Succeeded');
    expect(status.regions.map((r) => r.phase)).toEqual(['Promoted', 'Promoted']);
    expect(status.audit.filter((a) => a.action === 'notification-failed')).toEqual([]);
    expectDelivered('ops', id, [`${id}/started/1`, `${id}/wave-started/1`, `${id}/wave-started/2`, gate('eu-west-1'), gate('us-east-1'), `${id}/succeeded/1`], true);
    expectDelivered('chat', id, [gate('eu-west-1'), gate('us-east-1'), `${id}/succeeded/1`], false);
    expect(receiver.of('ops', gate('eu-west-1')).map((a) => a.answer), 'held across the kill, then taken').toEqual([503, 503, 'aborted', 200]);

    const ops = (key: string) => receiver.of('ops', key).find((a) => a.answer === 200)!.body as NotificationPayload;
    expect(ops(`${id}/started/1`)).toMatchObject({ event: 'started', rollout: id, service: 'notify-gate', version: '2.4.0', phase: 'Progressing', data: { regions: ['eu-west-1', 'us-east-1'], waves: 2 } });
    expect(ops(`${id}/wave-started/2`)).toMatchObject({ data: { index: 1, name: 'early', regions: ['us-east-1'] } });
    expect(ops(gate('us-east-1'))).toMatchObject({ region: 'us-east-1', phase: 'AwaitingApproval', data: { gate: 'go-ahead' } });
    expect(ops(`${id}/succeeded/1`)).toMatchObject({ phase: 'Succeeded' });
    expect(Date.parse(ops(`${id}/succeeded/1`).at)).toBeGreaterThanOrEqual(Date.parse(ops(`${id}/started/1`).at));
    const slack = receiver.of('chat', `${id}/succeeded/1`).find((a) => a.answer === 200)!.body as { text: string; blocks: { type: string }[] };
    expect(slack.blocks.map((b) => b.type)).toEqual(['section', 'context']);
  }, 300_000);

  it('deliver started, region-failed, rollback-started and rollback-finished once each after a breach, and the rollout rolls back', async () => {
    const id = `notify-breach-${process.pid}-${Date.now()}`;
    const plan = testPlan(
      {
        service: 'notify-breach',
        steps: FAST_STEPS,
        simulation: { baseline: { error_rate: 0.004 }, faults: [BREACH_IN_WAVE_2] },
        notifications: [{ name: 'ops', url: `${base}/hooks/ops`, events: ['started', 'region-failed', 'rollback-started', 'rollback-finished'], secretEnv: SECRET_ENV }],
      },
      { waves: WAVES },
    );
    const held = receiver.hold('ops', `${id}/rollback-started/1`);
    const first = await startWorker();
    await client.start(plan, { id });

    await held.arrived;
    await kill(first);
    await held.closed;
    await startWorker();

    const status = await client.result(id);
    expect(status.phase, status.reason).toBe('RolledBack');
    expect(status.regions.map((r) => r.phase)).toEqual(['RolledBack', 'RolledBack']);
    expect(regionOf(status, 'us-east-1').snapshot?.image).toBe(OLD_IMAGE);
    const keys = [`${id}/started/1`, `${id}/region-failed/us-east-1/1`, `${id}/rollback-started/1`, `${id}/rollback-finished/1`];
    expectDelivered('ops', id, keys, true);
    expect(receiver.of('ops', keys[2]!).map((a) => a.answer), 'held across the kill, then taken').toEqual([503, 503, 'aborted', 200]);
    const ops = (key: string) => receiver.of('ops', key).find((a) => a.answer === 200)!.body as NotificationPayload;
    expect(ops(keys[1]!)).toMatchObject({ event: 'region-failed', region: 'us-east-1', data: { failure: 'AnalysisFailed' }, reason: expect.any(String) });
    expect(ops(keys[2]!)).toMatchObject({ phase: 'RollingBack', data: { regions: expect.arrayContaining(['eu-west-1', 'us-east-1']) } });
    expect(ops(keys[3]!)).toMatchObject({ data: { regions: expect.arrayContaining(['eu-west-1', 'us-east-1']) } });
  }, 300_000);
});

describe('a receiver that is down or refuses', () => {
  it('never holds the rollout up: it succeeds, with notification-failed in its audit trail', async () => {
    const id = `notify-down-${process.pid}-${Date.now()}`;
    const nobody = `http://127.0.0.1:${await freePort()}/hooks/down`;
    const notifications: RolloutSpecInput['notifications'] = [
      { name: 'down', url: nobody, events: ['started', 'succeeded'], secretEnv: SECRET_ENV },
      { name: 'gone', url: `${base}/hooks/gone`, events: ['started'], secretEnv: SECRET_ENV },
    ];
    const plan = testPlan({ service: 'notify-down', steps: [{ kind: 'setWeight', weight: 50 }], notifications }, { waves: { only: ['eu-west-1'] } });
    await startWorker();
    await client.start(plan, { id });

    const status = await client.result(id);
    expect(status.phase, status.reason).toBe('Succeeded');
    expect(regionOf(status, 'eu-west-1').phase).toBe('Promoted');
    const failed = auditDataOf(status, 'notification-failed');
    expect(failed.map(({ notification, event, key }) => ({ notification, event, key }))).toEqual(
      expect.arrayContaining([
        { notification: 'down', event: 'started', key: `${id}/started/1` },
        { notification: 'down', event: 'succeeded', key: `${id}/succeeded/1` },
        { notification: 'gone', event: 'started', key: `${id}/started/1` },
      ]),
    );
    expect(failed).toHaveLength(3);
    for (const f of failed) expect(f.error).toEqual(expect.any(String));
    // The succeeded entry comes after the rollout's end: the workflow waited for its delivery.
    const actions = status.audit.map((a) => a.action);
    expect(actions.lastIndexOf('notification-failed')).toBeGreaterThan(actions.indexOf('succeeded'));

    const history = await server.client.workflow.getHandle(id).fetchHistory();
    const deliveries = activities(history.events ?? []).filter((a) => a.type === 'deliverNotification');
    expect(deliveries, 'three deliveries, none completed').toHaveLength(3);
    expect(deliveries.every((d) => d.outcome !== 'completed')).toBe(true);
    // The history keeps the started event of each delivery's last attempt only.
    const last = (d: (typeof deliveries)[number]) => Math.max(...d.attempts);
    expect(deliveries.map(last).sort((a, b) => a - b), 'the refusal final at once, the dead receiver retried').toEqual([1, expect.any(Number), expect.any(Number)]);
    expect(Math.min(...deliveries.map(last).filter((n) => n > 1)), 'the dead receiver retried').toBeGreaterThan(3);
    expect(receiver.of('gone', `${id}/started/1`).map((a) => a.answer)).toEqual([410]);
  }, 300_000);
});
