import { spawn } from 'node:child_process';
import type { EdgeSpec } from '../../domain/edges';
import { stopChild } from '../../lib/stop-child';
import { writeEnvoyBootstrap } from './envoy';

export interface EnvoyProcess {
  /** Where clients send the edge's traffic: `http://127.0.0.1:<port>`. */
  url: string;
  stop(): Promise<void>;
}

/**
 * Writes the edge's bootstrap into its `configDir` and runs `binary` on it, listening on loopback at
 * `listenerPort` (its admin where `edge.provider.admin` says); resolves once the admin reports ready.
 * Envoy is killed if this process exits first. For demos, benchmarks and tests: in production Envoy
 * runs on its own and Meridian only writes its watched files.
 */
export async function startEnvoyProcess(edge: EdgeSpec, opts: { binary: string; listenerPort: number; concurrency?: number; readyTimeoutMs?: number }): Promise<EnvoyProcess> {
  const bootstrap = writeEnvoyBootstrap(edge, { listenerPort: opts.listenerPort });
  const args = ['-c', bootstrap, '--disable-hot-restart', '--concurrency', String(opts.concurrency ?? 2), '--log-level', 'warn'];
  const child = spawn(opts.binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (chunk) => (log = (log + chunk).slice(-8_000)));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = async () => {
    await stopChild(child);
    process.off('exit', killOnExit);
  };
  const timeoutMs = opts.readyTimeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`edge ${edge.name}: Envoy exited (${child.exitCode ?? child.signalCode}):\n${log}`);
    }
    const ready = await fetch(`${edge.provider.admin}/ready`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false);
    if (ready) return { url: `http://127.0.0.1:${opts.listenerPort}`, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`edge ${edge.name}: Envoy not ready within ${timeoutMs} ms:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
