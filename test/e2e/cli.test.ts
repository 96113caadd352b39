import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedFleet } from '../../activities/fleet';
import { startDevServer, type DevServer } from '../../worker/dev-server';
import { freePort, startWorkerProcess } from '../support/processes';
import type { RolloutStatus } from '../../domain/status';
import { regionOf } from '../support/status';
import { tempDir } from '../support/temp-dir';

const ROOT = join(import.meta.dirname, '..', '..');
const OLD = 'registry.test/shop/cart:1.0.0';
const NEW = 'registry.test/shop/cart@sha256:' + 'cd'.repeat(32);


interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

let server: DevServer;
let dir: string;
let fleetFile: string;
const workers: ChildProcess[] = [];

function cli(args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/meridian.js', ...args, '--address', server.address], {
      cwd: ROOT,
      env: { ...process.env, CI: 'true', MERIDIAN_TASK_QUEUE: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A worker in its own process, like an operator's; `taskQueue` reaches it as MERIDIAN_TASK_QUEUE. */
async function startWorker(taskQueue?: string): Promise<ChildProcess> {
  const child = await startWorkerProcess({ address: server.address, fleetFile, env: taskQueue ? { MERIDIAN_TASK_QUEUE: taskQueue } : {} });
  workers.push(child);
  return child;
}

async function kill(worker: ChildProcess): Promise<void> {
  const closed = new Promise((r) => worker.once('close', r));
  worker.kill('SIGKILL');
  await closed;
}

/** `cli` and how long it took, in milliseconds. */
async function timed(args: string[]): Promise<Ran & { ms: number }> {
  const started = Date.now();
  const r = await cli(args);
  return { ...r, ms: Date.now() - started };
}

async function statusJson(id: string): Promise<RolloutStatus> {
  const r = await cli(['status', id, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as RolloutStatus;
}

async function until(id: string, predicate: (s: RolloutStatus) => boolean, what: string, timeoutMs = 90_000): Promise<RolloutStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: RolloutStatus | undefined;
  while (Date.now() < deadline) {
    last = await statusJson(id);
    if (predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last?.regions)}`);
}

/** One region behind an approval gate: it waits for alice, then succeeds. */
function gateSpec(service: string): string {
  const file = join(dir, `${service}.yaml`);
  writeFileSync(
    file,
    [
      `service: ${service}`,
      'version: 1.0.0',
      `image: ${NEW}`,
      'regions:',
      `  - name: eu-west-1`,
      `    target: { kind: simulated, initial: { image: ${OLD} } }`,
      'waves:',
      '  - name: only',
      '    regions: [eu-west-1]',
      '    steps:',
      '      - { kind: setWeight, weight: 50 }',
      '      - { kind: approval, name: go-live, approvers: [alice] }',
      'steps:',
      '  - { kind: setWeight, weight: 100 }',
    ].join('\n'),
  );
  return file;
}

beforeAll(async () => {
  dir = tempDir('meridian-e2e-');
  fleetFile = join(dir, 'fleet.json');
  server = await startDevServer({ dbFile: join(dir, 'temporal.db'), port: await freePort(), uiPort: await freePort() });
});

afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await server?.stop();
});

describe('end to end on the real dev server, through the CLI', () => {
  it('start, watch, approve, status --json; a killed worker is replaced and no step runs twice', async () => {
    const spec = join(dir, 'cart.yaml');
    const region = (name: string) => `  - name: ${name}\n    target: { kind: simulated, initial: { image: ${OLD} } }\n`;
    writeFileSync(
      spec,
      [
        'service: cart',
        'version: 3.1.0',
        `image: ${NEW}`,
        'regions:',
        region('eu-west-1') + region('us-east-1') + region('eu-central-1'),
        'waves:',
        '  - name: canary',
        '    regions: [eu-west-1]',
        '    steps:',
        '      - { kind: setWeight, weight: 20 }',
        '      - { kind: approval, name: go-live, approvers: [alice] }',
        '  - name: rest',
        '    regions: [us-east-1, eu-central-1]',
        'metrics:',
        '  - { name: error_rate, provider: { type: simulated }, max: 0.02 }',
        'steps:',
        '  - { kind: setWeight, weight: 25 }',
        '  - { kind: analysis, metrics: [error_rate], interval: 250ms, sustainedFor: 15s, minSamples: 5 }',
        '  - { kind: setWeight, weight: 50 }',
        'simulation: { baseline: { error_rate: 0.005 } }',
      ].join('\n'),
    );

    let worker = await startWorker();
    const started = await cli(['start', spec, '--by', 'carol', '--json']);
    expect(started.code, started.stderr).toBe(0);
    const { id } = JSON.parse(started.stdout) as { id: string };
    expect(id).toBe('rollout/cart/3.1.0');

    const watch = cli(['watch', id]);

    const gate = await until(id, (s) => s.pendingApprovals.length > 0, 'the go-live gate');
    expect(gate.phase).toBe('AwaitingApproval');
    expect(regionOf(gate, 'eu-west-1').weight).toBe(20);

    const refused = await cli(['approve', id, '--region', 'eu-west-1', '--by', 'mallory']);
    expect(refused.code).toBe(6);
    expect(refused.stderr).toMatch(/"mallory" may not approve gate "go-live"/);
    const approved = await cli(['approve', id, '--region', 'eu-west-1', '--by', 'alice', '--comment', 'graphs are flat']);
    expect(approved.code, approved.stderr).toBe(0);

    await until(id, (s) => s.regions.filter((r) => r.wave === 1 && r.step?.kind === 'analysis').length === 2, 'wave 2 in analysis');
    // Mid-window progress only exists in the analysis heartbeat; the workflow learns it at the chunk's end.
    const live = await until(
      id,
      (s) => s.regions.some((r) => r.wave === 1 && r.sustained !== undefined && r.sustained.healthyForMs < r.sustained.requiredMs),
      'live sustained-health progress',
    );
    expect(live.regions.find((r) => r.wave === 1 && r.sustained)!.sustained).toMatchObject({ requiredMs: 15000, minSamples: 5 });
    await kill(worker);
    worker = await startWorker();

    const watched = await watch;
    expect(watched.code, watched.stdout + watched.stderr).toBe(0);
    expect(watched.stdout).toMatch(/Succeeded/);

    const final = await statusJson(id);
    expect(final.phase).toBe('Succeeded');
    expect(final.audit.find((a) => a.action === 'approve')).toMatchObject({ actor: 'alice', reason: 'graphs are flat' });

    const fleet = new SimulatedFleet(fleetFile);
    for (const name of ['eu-west-1', 'us-east-1', 'eu-central-1']) {
      const r = fleet.region('cart', name)!;
      expect({ image: r.stable.image, canary: r.canary, weight: r.weight }, name).toEqual({ image: NEW, canary: null, weight: 100 });
      const applied = fleet.journal('cart', name).filter((j) => j.effect === 'applied');
      const keys = applied.map((j) => `${j.op}:${j.key}`);
      expect(new Set(keys).size, `${name} applied a step twice: ${keys.join(', ')}`).toBe(keys.length);
      expect(applied.map((j) => j.op), name).toEqual(
        name === 'eu-west-1'
          ? ['snapshot', 'deployCanary', 'setWeight', 'promote']
          : ['snapshot', 'deployCanary', 'setWeight', 'setWeight', 'promote'],
      );
    }

    const listed = await cli(['list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ id, phase: 'Succeeded' })]));
  });

  it('with no worker, start warns and status, watch and approve say so at once; an approve that was not sent never applies', async () => {
    const queue = 'e2e-idle';
    const spec = gateSpec('basket');
    const started = await cli(['start', spec, '--by', 'carol', '--task-queue', queue, '--json']);
    expect(started.code, started.stderr).toBe(0);
    const { id, taskQueue, workerPolling } = JSON.parse(started.stdout) as { id: string; taskQueue: string; workerPolling: boolean };
    expect({ taskQueue, workerPolling }).toEqual({ taskQueue: queue, workerPolling: false });
    expect(started.stderr).toContain(`meridian worker --task-queue ${queue}`);

    const status = await timed(['status', id, '--json']);
    expect(status.code, status.stderr).toBe(7);
    expect(status.ms).toBeLessThan(5_000);
    expect(status.stderr).toContain(`meridian worker --task-queue ${queue}`);
    expect(JSON.parse(status.stdout)).toMatchObject({ id, live: false, ended: false, phase: 'Pending', taskQueue: queue, worker: { polling: false } });

    const watch = await timed(['watch', id]);
    expect(watch.code, watch.stderr).toBe(7);
    expect(watch.ms).toBeLessThan(5_000);

    const approve = await timed(['approve', id, '--region', 'eu-west-1', '--by', 'alice', '--json']);
    expect(approve.code, approve.stderr).toBe(7);
    expect(approve.ms).toBeLessThan(5_000);
    expect(approve.stderr).toContain(`task queue "${queue}"`);
    // Not sent, so nothing will change when a worker comes back: the fate says so as data.
    expect(JSON.parse(approve.stdout)).toEqual({
      id,
      command: 'approve',
      accepted: false,
      fate: 'not-sent',
      phase: 'Pending',
      worker: expect.objectContaining({ taskQueue: queue, polling: false }),
    });

    const worker = await startWorker(queue);
    const gate = await until(id, (s) => s.pendingApprovals.length > 0, 'the go-live gate');
    expect(gate.audit.filter((a) => a.action === 'approve')).toEqual([]);

    // A killed worker stays listed for minutes: status waits out its query timeout, then says no worker answered.
    await kill(worker);
    const unanswered = await timed(['status', id, '--json']);
    expect(unanswered.code, unanswered.stderr).toBe(7);
    expect(unanswered.ms).toBeLessThan(25_000);
    expect(JSON.parse(unanswered.stdout)).toMatchObject({ id, live: false, phase: 'AwaitingApproval', worker: { polling: true } });

    // An approve the server admits but no worker accepts is sent, not confirmed: it may still take effect.
    const unconfirmed = await timed(['approve', id, '--region', 'eu-west-1', '--by', 'alice', '--json']);
    expect(unconfirmed.code, unconfirmed.stderr).toBe(7);
    expect(unconfirmed.ms).toBeLessThan(25_000);
    expect(JSON.parse(unconfirmed.stdout)).toMatchObject({ id, command: 'approve', accepted: false, fate: 'unconfirmed', waitedMs: 15_000, worker: { polling: true } });
  }, 180_000);

  it('an ended rollout shows its final status with no worker, and refuses commands saying how and when it ended', async () => {
    const queue = 'e2e-ending';
    const worker = await startWorker(queue);
    const started = await cli(['start', gateSpec('till'), '--by', 'carol', '--task-queue', queue, '--json']);
    expect(started.code, started.stderr).toBe(0);
    const { id, workerPolling } = JSON.parse(started.stdout) as { id: string; workerPolling: boolean };
    expect(workerPolling).toBe(true);
    await until(id, (s) => s.pendingApprovals.length > 0, 'the go-live gate');
    const approved = await cli(['approve', id, '--region', 'eu-west-1', '--by', 'alice']);
    expect(approved.code, approved.stderr).toBe(0);
    await until(id, (s) => s.phase === 'Succeeded', 'the end');
    await kill(worker);

    const final = await timed(['status', id, '--json']);
    expect(final.code, final.stderr).toBe(0);
    expect(final.ms).toBeLessThan(5_000);
    const shown = JSON.parse(final.stdout) as RolloutStatus & { ended: boolean; closedAt: string; execution: string };
    expect(shown).toMatchObject({ id, ended: true, phase: 'Succeeded', execution: 'COMPLETED' });
    expect(Date.parse(shown.closedAt)).toBeGreaterThan(Date.parse(shown.startedAt));
    expect(shown.audit.find((a) => a.action === 'approve')).toMatchObject({ actor: 'alice' });

    for (const command of [
      ['abort', id, '--reason', 'too late', '--by', 'alice'],
      ['approve', id, '--region', 'eu-west-1', '--by', 'alice'],
    ]) {
      const refused = await timed(command);
      expect(refused.code, refused.stderr).toBe(6);
      expect(refused.ms).toBeLessThan(5_000);
      expect(refused.stderr).toContain(`Succeeded at ${shown.closedAt}`);
    }
    const missing = await cli(['abort', 'rollout/nothing/0.0.0', '--reason', 'x', '--by', 'alice']);
    expect(missing.code).toBe(6);
    expect(missing.stderr).toContain('no rollout rollout/nothing/0.0.0');
  });
  it('a release: status shows each service in its region, and approve needs --service where two gates wait', async () => {
    const file = join(dir, 'release.yaml');
    const service = (name: string) =>
      [
        `  - name: ${name}`,
        `    image: registry.test/shop/${name}@sha256:${'ab'.repeat(32)}`,
        `    targets: { eu-west-1: { kind: simulated, initial: { image: registry.test/shop/${name}:1.0.0 } } }`,
        '    steps:',
        '      - { kind: setWeight, weight: 20 }',
        `      - { kind: approval, name: ${name}-go, approvers: [alice] }`,
      ].join('\n');
    writeFileSync(
      file,
      ['service: shop', 'version: 1.0.0', 'regions: [{ name: eu-west-1 }]', 'waves: [{ name: only, regions: [eu-west-1] }]', 'steps: [{ kind: setWeight, weight: 50 }]', 'services:', service('orders'), service('checkout')].join('\n'),
    );
    const queue = `release-${Date.now()}`;
    await startWorker(queue);
    const started = await cli(['start', file, '--by', 'carol', '--task-queue', queue, '--json']);
    expect(started.code, started.stderr).toBe(0);
    const { id } = JSON.parse(started.stdout) as { id: string };
    const waiting = await until(id, (s) => s.pendingApprovals.length === 2, 'both gates');
    expect(regionOf(waiting, 'eu-west-1').services!.map((r) => [r.service, r.phase, r.weight])).toEqual([
      ['checkout', 'AwaitingApproval', 20],
      ['orders', 'AwaitingApproval', 20],
    ]);
    expect(waiting.pendingApprovals.map((p) => [p.service, p.gate]).sort()).toEqual([
      ['checkout', 'checkout-go'],
      ['orders', 'orders-go'],
    ]);
    const text = await cli(['status', id]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^ +· orders 1\.0\.0 +AwaitingApproval +\S+ +20%/m);
    expect(text.stdout).toContain(`meridian approve ${id} --region eu-west-1 --service checkout --gate checkout-go --by <you>`);

    const ambiguous = await cli(['approve', id, '--region', 'eu-west-1', '--by', 'alice']);
    expect(ambiguous.code).toBe(6);
    expect(ambiguous.stderr).toContain('gates of more than one service wait in eu-west-1');
    const approved = await cli(['approve', id, '--region', 'eu-west-1', '--service', 'orders', '--by', 'alice']);
    expect(approved.code, approved.stderr).toBe(0);
    const one = await until(id, (s) => s.pendingApprovals.length === 1, 'orders approved');
    expect(one.pendingApprovals[0]).toMatchObject({ service: 'checkout', gate: 'checkout-go' });
    expect(one.audit.find((a) => a.action === 'approve')).toMatchObject({ actor: 'alice', data: { gate: 'orders-go', service: 'orders' } });
    expect((await cli(['approve', id, '--region', 'eu-west-1', '--by', 'alice'])).code).toBe(0);
    const done = await until(id, (s) => s.phase === 'Succeeded', 'the end');
    expect(regionOf(done, 'eu-west-1').services!.map((r) => [r.service, r.phase])).toEqual([
      ['checkout', 'Promoted'],
      ['orders', 'Promoted'],
    ]);
    const listed = await cli(['list', '--service', 'orders', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as { id: string }[]).map((r) => r.id)).toContain(id);
    const fleet = new SimulatedFleet(fleetFile);
    for (const name of ['orders', 'checkout']) expect(fleet.region(name, 'eu-west-1')?.stable.image).toBe(`registry.test/shop/${name}@sha256:${'ab'.repeat(32)}`);
  });
});
