import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, describe, expect, it } from 'vitest';
import { SimulatedFleet } from '../../activities/fleet/index';
import { RolloutClient } from '../../client/rollout-client';
import { portsFrom, SERVICES, type ClusterStatus } from '../../cluster/index';
import { portFree } from '../../lib/ports';
import { createWorker } from '../../worker/index';
import { workflowBundle } from '../workflows/harness';
import { settled } from '../support/history';
import { ROOT } from '../support/processes';
import { NEW_IMAGE, REGIONS, testPlan } from '../support/spec';
import { tempDir } from '../support/temp-dir';

const TSX = join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const dir = tempDir('meridian-cluster-cli-');

function cluster(...args: string[]) {
  const r = spawnSync(process.execPath, [TSX, 'cluster/main.ts', '--dir', dir, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 900_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A frontend port whose whole layout (membership −300 … PostgreSQL +199) is free, above the test
 * workers' port blocks and with membership ports below 32768, as Temporal needs.
 */
async function layoutPort(): Promise<number> {
  for (let tried = 0; tried < 50; tried++) {
    const frontend = 30_400 + Math.floor(Math.random() * 16) * 100;
    const ports = portsFrom(frontend);
    const all = [ports.frontendHttp, ports.postgres, ...Object.values(ports.grpc), ...Object.values(ports.membership)];
    if ((await Promise.all(all.map((p) => portFree(p)))).every(Boolean)) return frontend;
  }
  throw new Error('no free port layout for the cluster');
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

afterAll(() => {
  if (existsSync(join(dir, 'cluster.json'))) cluster('down');
});

describe('the local Temporal cluster on PostgreSQL', () => {
  it('comes up through its CLI, runs a rollout that outlives every server process being killed, and goes down', async () => {
    const up = cluster('--json', 'up', '--port', String(await layoutPort()));
    expect(up.status, `${up.stderr}${up.stdout}`).toBe(0);
    const status = JSON.parse(up.stdout) as ClusterStatus;
    expect(status.serving).toBe(true);
    expect(status.missingSearchAttributes).toEqual([]);
    expect(status.processes.map((p) => [p.service, p.running])).toEqual([...SERVICES.map((s) => [s, true]), ['postgres', true]]);
    expect(new Set(status.processes.map((p) => p.pid)).size).toBe(SERVICES.length + 1);

    const fleet = new SimulatedFleet(join(dir, 'fleet.db'));
    const connection = await NativeConnection.connect({ address: status.address });
    const worker = await createWorker({ connection, taskQueue: 'cluster-e2e', fleetFile: fleet.file, workflowBundle: workflowBundle() });
    const client = await RolloutClient.connect({ address: status.address, taskQueue: 'cluster-e2e' });
    try {
      await worker.runUntil(async () => {
        const id = await client.start(testPlan({ service: 'cluster-check' }));
        await until(() => fleet.regions('cluster-check').some((r) => r.stable.image === NEW_IMAGE), 60_000);
        expect(fleet.regions('cluster-check').filter((r) => r.stable.image === NEW_IMAGE).length).toBeGreaterThan(0);
        const { killServices, restartServices } = await import('../../cluster/index');
        await killServices(dir);
        const down = JSON.parse(cluster('--json', 'status').stdout) as ClusterStatus;
        expect(down.processes.filter((p) => p.running).map((p) => p.service)).toEqual(['postgres']);
        await restartServices(dir);

        const end = await settled(client, id, 120_000);
        expect(end.phase).toBe('Succeeded');
        expect(fleet.regions('cluster-check').map((r) => [r.name, r.stable.image, r.weight])).toEqual(
          [...REGIONS].sort().map((name) => [name, NEW_IMAGE, 100]),
        );
        for (const region of REGIONS) {
          const applied = fleet.journal('cluster-check', region).filter((e) => e.effect === 'applied').map((e) => `${e.op} ${e.key}`);
          expect(applied.length, region).toBe(new Set(applied).size);
        }
        const listed = await client.list({ service: 'cluster-check' });
        expect(listed.map((r) => [r.id, r.phase])).toEqual([[id, 'Succeeded']]);
      });
    } finally {
      await connection.close();
      await client.client.connection.close();
    }

    const downJson = cluster('--json', 'down');
    expect(downJson.status, downJson.stderr).toBe(0);
    // pg_ctl returns once the pid file is gone, a moment before the postmaster exits.
    await until(() => status.processes.every((p) => !running(p.pid!)), 10_000);
    expect(status.processes.filter((p) => running(p.pid!)).map((p) => p.service)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
    expect(cluster('status').status).toBe(1);
  }, 900_000);
});
