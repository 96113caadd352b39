import type { EdgeSpec } from '../../domain/edges';
import { startEnvoyProcess } from '../../activities/edges/envoy-process';
import { requireTool } from '../../lib/tools';
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
  const running = await startEnvoyProcess(spec, { binary: envoyBinary(), listenerPort, readyTimeoutMs: timeoutMs });
  return { edge: spec, ...running };
}
