import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PAYLOAD_LIMIT_BYTES } from '../../client/payload-size';
import { RolloutClient } from '../../client/rollout-client';
import { testPlan } from '../support/spec';
import { startTimeSkipping } from './harness';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await startTimeSkipping();
});
afterAll(() => env?.teardown());

async function exists(id: string): Promise<boolean> {
  return env.client.workflow
    .getHandle(id)
    .describe()
    .then(() => true, () => false);
}

describe('RolloutClient.start refuses before the server sees the rollout', () => {
  it.each([
    ['a version with a path separator', { ...testPlan(), version: '../2.4.0' }, { name: 'InvalidIdentityError', field: 'version' }],
    [
      'a plan over the payload limit',
      { ...testPlan(), migrations: [{ id: '001', up: `-- ${'x'.repeat(PAYLOAD_LIMIT_BYTES)}`, down: 'select 1', phase: 'expand' as const, transactional: true }] },
      { name: 'PayloadTooLargeError', limitBytes: PAYLOAD_LIMIT_BYTES },
    ],
  ])('%s', async (_name, plan, refusal) => {
    const client = new RolloutClient(env.client, { searchAttributes: false, taskQueue: 'start-checks' });
    const id = `start-checks/${refusal.name}`;
    await expect(client.start(plan, { id })).rejects.toMatchObject(refusal);
    expect(await exists(id)).toBe(false);
  });

  it('starts a plan that passes both checks', async () => {
    const client = new RolloutClient(env.client, { searchAttributes: false, taskQueue: 'start-checks' });
    const id = await client.start(testPlan(), { id: 'start-checks/valid' });
    expect(await exists(id)).toBe(true);
    await env.client.workflow.getHandle(id).terminate('test done');
  });
});
