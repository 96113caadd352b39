import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export { freePort } from '../../src/ports';

export const ROOT = join(import.meta.dirname, '..', '..');


/**
 * `meridian worker` in its own process, as an operator runs it, so a test can SIGKILL it; resolves
 * once it polls. `env` adds to the test's environment (database names, kubeconfig).
 */
export function startWorkerProcess(opts: { address: string; fleetFile: string; env?: Record<string, string> }): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'worker', '--fleet-file', opts.fleetFile, '--address', opts.address], {
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
