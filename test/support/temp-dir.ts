import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, onTestFinished } from 'vitest';

/**
 * A fresh directory under the system's temporary directory, removed with everything in it when the
 * test that made it ends; made outside a test (in a describe block or at the top of a file), when
 * the tests around it end. Outside vitest (a script) it stays: the script owns it.
 */
export function tempDir(prefix = 'meridian-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  for (const register of [onTestFinished, afterAll]) {
    try {
      register(remove);
      break;
    } catch {
      // not inside a test (onTestFinished) or a suite (afterAll)
    }
  }
  return dir;
}

/** A path named `name` inside a fresh temporary directory; see tempDir. */
export function tempFile(name: string, prefix = 'meridian-'): string {
  return join(tempDir(prefix), name);
}
