import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleLogFile, cachedWorkflowBundle, workflowSourceHash } from '../../worker/bundle';
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
    // What webpack reported is in the bundle's log file.
    expect(readFileSync(bundleLogFile(first.codePath), 'utf8')).toMatch(/^webpack \d+\.\d+\.\d+ compiled successfully/m);
  }, 180_000);

  it('a bundle that fails says why in its error, keeps webpack\'s report in a log file and leaves no bundle behind', async () => {
    const dir = tempDir('meridian-bundles-');
    // The failure converter is bundled into the workflow code; one that imports a missing module fails the bundle.
    const converter = join(tempDir('meridian-converter-'), 'broken-converter.ts');
    writeFileSync(converter, "export { failureConverter } from './no-such-module';\n");
    const printed: string[] = [];
    const err = await cachedWorkflowBundle({ dir, failureConverterPath: converter, logger: recording(printed) }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    const message = (err as Error).message;
    expect(message).toMatch(/^Module not found: Error: Can't resolve '\.\/no-such-module'/m);
    const [log] = readdirSync(dir).filter((f) => f.endsWith('.log'));
    expect(readdirSync(dir).filter((f) => f.endsWith('.js'))).toEqual([]);
    expect(message).toContain(join(dir, log!));
    expect(readFileSync(join(dir, log!), 'utf8')).toMatch(/^ERROR in .*broken-converter\.ts/m);
    // A logger that was passed in is still told.
    expect(printed.some((line) => line.includes("Can't resolve './no-such-module'"))).toBe(true);
    expect(existsSync(join(dir, log!.replace(/\.log$/, '')))).toBe(false);
  }, 180_000);
});

const drop = () => {};
const quiet = { log: drop, trace: drop, debug: drop, info: drop, warn: drop, error: drop };
const recording = (into: string[]) => {
  const keep = (message: string) => void into.push(message);
  return { log: drop, trace: keep, debug: keep, info: keep, warn: keep, error: keep };
};
