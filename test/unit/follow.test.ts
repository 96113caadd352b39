import { describe, expect, it } from 'vitest';
import type { RolloutClient } from '../../client/rollout-client';
import { followRollout } from '../../cli/follow';
import { plainView } from '../../cli/live';
import type { RolloutStatus } from '../../domain/status';

const T0 = Date.parse('2025-03-04T10:00:00Z');
const status = {
  id: 'rollout/checkout/2.4.0',
  phase: 'Progressing',
  wave: { index: 0, total: 1, name: 'all' },
  regions: [],
  audit: [{ at: new Date(T0 - 500).toISOString(), actor: 'meridian', action: 'started', reason: 'rolling out' }],
} as unknown as RolloutStatus;

describe('followRollout', () => {
  it('prints the lines the view still holds when the watch breaks off', async () => {
    const client = {
      async *watch() {
        yield status;
        throw new Error('connection lost');
      },
    } as unknown as RolloutClient;
    const chunks: string[] = [];
    const view = plainView({ write: (t: string) => chunks.push(t) }, () => T0, 60_000);
    await expect(followRollout(client, status.id, view)).rejects.toThrow('connection lost');
    expect(chunks).toEqual(['09:59:59Z started: rolling out\n', `10:00:00Z ${status.id} Progressing wave 1/1 all\n`]);
  });
});
