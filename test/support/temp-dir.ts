import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, onTestFinished } from 'vitest';

/** Directories made outside a test (at the top of a file, in a describe block or a beforeAll hook). */
const madeOutsideTests = new Set<string>();

const remove = (dir: string) => rmSync(dir, { recursive: true, force: true });

try {
  // A test file imports this module while vitest collects it, so this runs after the file's tests.
  afterAll(() => {
    for (const dir of madeOutsideTests) remove(dir);
    madeOutsideTests.clear();
  });
} catch {
  // Imported outside vitest (a script): the script owns what it makes.
}

/**
 * A fresh directory under the system's temporary directory, removed with everything in it when the
 * test that made it ends; made outside a test, when the file's tests end. Outside vitest (a script)
 * it stays.
 */
export function tempDir(prefix = 'meridian-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    onTestFinished(() => remove(dir));
  } catch {
    madeOutsideTests.add(dir);
  }
  return dir;
}

/** A path named `name` inside a fresh temporary directory; see tempDir. */
export function tempFile(name: string, prefix = 'meridian-'): string {
  return join(tempDir(prefix), name);
}
