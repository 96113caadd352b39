import { probe } from './health';
import { rssBytes, runs } from './process';
import type { Component, TestbedState } from './state';

export interface ProcessStatus {
  component: Component;
  pid: number;
  port: number;
  running: boolean;
  healthy: boolean;
  health: string;
  rssBytes?: number;
  log: string;
}

export interface ClusterStatus {
  name: string;
  server: string;
  context: string;
  ready: boolean;
  processes: ProcessStatus[];
  rssBytes: number;
}

export interface TestbedStatus {
  dir: string;
  kubeconfigPath: string;
  contexts: string[];
  clusters: ClusterStatus[];
  rssBytes: number;
}

/** Probes every process of the test bed: alive, health endpoint (/readyz for the API server), resident memory. */
export async function testbedStatus(state: TestbedState): Promise<TestbedStatus> {
  const clusters = await Promise.all(
    state.clusters.map(async (c): Promise<ClusterStatus> => {
      const processes = await Promise.all(
        c.processes.map(async (p): Promise<ProcessStatus> => {
          const running = runs(p.pid, p.binary);
          const tls = p.component === 'kube-apiserver' ? { ca: c.caFile, cert: c.adminCertFile, key: c.adminKeyFile } : { insecure: true };
          const result = running ? await probe(p.healthUrl, tls) : { ok: false, error: 'not running' };
          return {
            component: p.component,
            pid: p.pid,
            port: p.port,
            running,
            healthy: result.ok,
            health: result.ok ? 'ok' : (result.error ?? `HTTP ${result.status}: ${result.body ?? ''}`),
            rssBytes: running ? rssBytes(p.pid) : undefined,
            log: p.log,
          };
        }),
      );
      return {
        name: c.name,
        server: c.server,
        context: c.context,
        ready: processes.every((p) => p.healthy),
        processes,
        rssBytes: processes.reduce((sum, p) => sum + (p.rssBytes ?? 0), 0),
      };
    }),
  );
  return {
    dir: state.dir,
    kubeconfigPath: state.kubeconfigPath,
    contexts: [...Object.values(state.contexts), state.restrictedContext],
    clusters,
    rssBytes: clusters.reduce((sum, c) => sum + c.rssBytes, 0),
  };
}

const mib = (bytes?: number) => (bytes === undefined ? '-' : `${Math.round(bytes / 1024 / 1024)} MiB`);

export function renderStatus(status: TestbedStatus): string {
  const lines: string[] = [];
  for (const c of status.clusters) {
    lines.push(`${c.name}  ${c.ready ? 'ready' : 'NOT READY'}  ${c.server}  context ${c.context}  ${mib(c.rssBytes)}`);
    for (const p of c.processes) {
      lines.push(`  ${p.component.padEnd(24)} pid ${String(p.pid).padEnd(8)} port ${String(p.port).padEnd(6)} ${mib(p.rssBytes).padStart(8)}  ${p.health}`);
    }
  }
  lines.push(`total memory  ${mib(status.rssBytes)}`);
  lines.push(`kubeconfig    ${status.kubeconfigPath}`);
  lines.push(`contexts      ${status.contexts.join(', ')}`);
  return `${lines.join('\n')}\n`;
}
