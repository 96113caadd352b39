import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

import { portFree } from '../../lib/ports';

let next = 0;

/**
 * A free loopback port from this test worker's own block, below the OS's ephemeral range. Test
 * files run in parallel, and a port chosen by asking the OS is free only until someone binds it:
 * two workers could pick the same one, and a dev server would then quietly reuse the other test's.
 */
export async function freePort(): Promise<number> {
  const base = 20_000 + (Number(process.env.VITEST_POOL_ID ?? 0) % 10) * 1_000;
  for (let tried = 0; tried < 1_000; tried++) {
    const port = base + (next++ % 1_000);
    if (await portFree(port)) return port;
  }
  throw new Error(`no free port in ${base}-${base + 999}`);
}

export const ROOT = join(import.meta.dirname, '..', '..');


/**
 * `meridian worker` in its own process, as an operator runs it, so a test can SIGKILL it; resolves
 * once it polls. `env` adds to the test's environment (database names, kubeconfig).
 */
export function startWorkerProcess(opts: { address: string; fleetFile: string; env?: Record<string, string> }): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/meridian.js', 'worker', '--fleet-file', opts.fleetFile, '--address', opts.address], {
      cwd: ROOT,
      env: { ...process.env, ...opts.env, CI: 'true' },
    });
    let out = '';
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes('worker polling')) resolve(child);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`worker exited ${code}: ${out}`)));
  });
}
