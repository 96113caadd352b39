import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cachedWorkflowBundle, workflowSourceHash } from '../../worker/bundle';
import { tempDir } from '../support/temp-dir';

describe('the workflow bundle cache', () => {
  it('bundles once per version of the sources; later workers reuse the file, and a day-old bundle of other sources is removed', async () => {
    const dir = tempDir('meridian-bundles-');
    const stale = join(dir, 'workflow-bundle.0000000000000000.js');
    writeFileSync(stale, '// older sources');
    const dayAndAHourAgo = (Date.now() - 25 * 3_600_000) / 1000;
    utimesSync(stale, dayAndAHourAgo, dayAndAHourAgo);

    const first = await cachedWorkflowBundle({ dir, logger: quiet });
    expect(basename(first.codePath)).toBe(`workflow-bundle.${workflowSourceHash()}.js`);
    expect(readFileSync(first.codePath, 'utf8')).toContain('rolloutWorkflow');
    const built = statSync(first.codePath).mtimeMs;

    const second = await cachedWorkflowBundle({ dir, logger: quiet });
    expect(second.codePath).toBe(first.codePath);
    expect(statSync(second.codePath).mtimeMs).toBe(built);
    expect(() => statSync(stale)).toThrow();
  }, 180_000);
});

const drop = () => {};
const quiet = { log: drop, trace: drop, debug: drop, info: drop, warn: drop, error: drop };
