import { spawn } from 'node:child_process';
import type { EdgeSpec } from '../../domain/edges';
import { writeEnvoyBootstrap } from '../../activities/edges/envoy';
import { requireTool } from '../../lib/tools';
import { stopChild } from '../../demo-service/stop';
import { freePort } from './processes';
import { tempDir } from './temp-dir';

export interface RunningEnvoy {
  edge: EdgeSpec;
  /** Where clients send the edge's traffic: `http://127.0.0.1:<port>`. */
  url: string;
  stop(): Promise<void>;
}

/** The Envoy binary (lib/tools.ts finds it); when there is none, throws the line that says how to install it. */
export function envoyBinary(): string {
  return requireTool('envoy');
}

/**
 * A real Envoy for `edge` on free loopback ports, its configuration in a fresh temporary folder
 * (the bootstrap from `writeEnvoyBootstrap`); resolves once its admin says it is ready.
 */
export async function startEnvoy(edge: Omit<EdgeSpec, 'provider'>, timeoutMs = 20_000): Promise<RunningEnvoy> {
  const [listenerPort, adminPort] = [await freePort(), await freePort()];
  const spec: EdgeSpec = { ...edge, provider: { type: 'envoy', admin: `http://127.0.0.1:${adminPort}`, configDir: tempDir('meridian-envoy-') } };
  const bootstrap = writeEnvoyBootstrap(spec, { listenerPort });
  const args = ['-c', bootstrap, '--disable-hot-restart', '--concurrency', '2', '--log-level', 'warn'];
  const child = spawn(envoyBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (chunk) => (log = (log + chunk).slice(-8_000)));
  const stop = () => stopChild(child);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`envoy exited with code ${child.exitCode}:\n${log}`);
    const ready = await fetch(`${spec.provider.admin}/ready`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`envoy not ready within ${timeoutMs} ms:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { edge: spec, url: `http://127.0.0.1:${listenerPort}`, stop };
}
