import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowBundle } from './harness';

const DIR = join(import.meta.dirname, '..', 'histories');

function* histories() {
  for (const scenario of readdirSync(DIR)) {
    for (const file of readdirSync(join(DIR, scenario))) {
      const saved = JSON.parse(readFileSync(join(DIR, scenario, file), 'utf8')) as { workflowId: string; history: unknown };
      yield { workflowId: saved.workflowId, history: historyFromJSON(saved.history) };
    }
  }
}

describe('replay of saved histories', () => {
  it('the current workflow code replays every saved rollout without a determinism error', async () => {
    const all = [...histories()];
    expect(all.length).toBeGreaterThanOrEqual(10);
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: workflowBundle() }, all)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
  });
});
