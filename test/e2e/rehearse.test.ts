import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedFleet } from '../../activities/fleet';
import { rehearsalServer, rehearse } from '../../cli/rehearse';
import { portFree } from '../../lib/ports';
import { DEFAULT_PORT, serverAt, startDevServer, type DevServer } from '../../worker/dev-server';
import { freePort, ROOT } from '../support/processes';
import { tempDir } from '../support/temp-dir';

const DEFAULT_ADDRESS = `127.0.0.1:${DEFAULT_PORT}`;
const sink = () => ({ text: '', write(t: string) { this.text += t; } });

async function exists(server: DevServer, id: string): Promise<boolean> {
  try {
    await server.client.workflow.getHandle(id).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

describe('rehearsalServer', () => {
  it.each([
    ['nothing given: a server of its own on free ports, in memory, never reused', {}, { port: 1, uiPort: 2, inMemory: true, reuse: false }],
    ['--port, --ui-port, --db-file', { port: 7400, uiPort: 8400, dbFile: 'r.db' }, { port: 7400, uiPort: 8400, dbFile: 'r.db', reuse: false }],
    ['--address: that server, nothing started', { address: 'temporal.internal:7233', port: 7400 }, { address: 'temporal.internal:7233' }],
  ])('%s', (_name, opts, expected) => {
    expect(rehearsalServer(opts, [1, 2])).toEqual({ namespace: undefined, ...expected });
  });
});

describe('meridian rehearse', () => {
  let scenario: string;
  let fleetFile: string;
  /** Whatever answers on the default port: someone's server, or one this test starts there. */
  let onDefault: DevServer;

  beforeAll(async () => {
    const dir = tempDir('meridian-rehearse-');
    scenario = join(dir, 'faults.txt');
    fleetFile = join(dir, 'fleet.json');
    writeFileSync(scenario, 'eu-west-1: error_rate 0.08 when weight >= 10\neu-west-1: fail restoreWorkload 2 times\n');
    onDefault = (await portFree(DEFAULT_PORT))
      ? await startDevServer({ port: DEFAULT_PORT, uiPort: await freePort(), inMemory: true, logFile: join(dir, 'default.log') })
      : await serverAt(DEFAULT_ADDRESS);
  });

  afterAll(async () => {
    await onDefault?.stop();
  });

  it('runs on a server of its own, not the one on the default port, and the restore fault hits only the workload restore', async () => {
    const out = sink();
    const result = await rehearse({ specFile: join(ROOT, 'examples/demo.yaml'), scenarioFile: scenario, fleetFile, startedBy: 'test', out });
    expect(result.code, out.text).toBe(0);
    expect(result.address).not.toBe(DEFAULT_ADDRESS);
    expect(await exists(onDefault, result.id)).toBe(false);

    expect(result.status.phase, out.text).toBe('RolledBack');
    const cut = result.status.audit.filter((e) => e.region === 'eu-west-1' && e.action.startsWith('traffic-cut')).map((e) => e.action);
    expect(cut, out.text).toEqual(['traffic-cut']);
    const journal = new SimulatedFleet(fleetFile).journal('checkout', 'eu-west-1');
    const failed = journal.filter((e) => e.effect === 'failed').map((e) => e.op);
    expect(failed, JSON.stringify(journal)).toEqual(['restoreWorkload', 'restoreWorkload']);
  });

  it('runs on the server --address names', async () => {
    const dir = tempDir('meridian-rehearse-address-');
    const server = await startDevServer({ port: await freePort(), uiPort: await freePort(), inMemory: true, logFile: join(dir, 'server.log') });
    try {
      const out = sink();
      const result = await rehearse({ specFile: join(ROOT, 'examples/demo.yaml'), scenarioFile: scenario, fleetFile, startedBy: 'test', out, address: server.address });
      expect(result.code, out.text).toBe(0);
      expect(result.address).toBe(server.address);
      expect(await exists(server, result.id)).toBe(true);
      expect(await exists(onDefault, result.id)).toBe(false);
    } finally {
      await server.stop();
    }
  });
});
