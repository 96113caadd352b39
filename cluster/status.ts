import { Connection } from '@temporalio/client';
import { serverPid } from '../lib/postgres-server';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';
import type { ClusterState } from './cluster';
import { SERVICES, type ServiceName } from './paths';
import { alive, usage } from './services';

export interface ServiceStatus {
  service: ServiceName | 'postgres';
  pid?: number;
  port: number;
  running: boolean;
  rssMiB?: number;
  cpuSeconds?: number;
  logFile: string;
}

export interface ClusterStatus {
  dir: string;
  address: string;
  namespace: string;
  serverVersion: string;
  startedAt: string;
  /** The frontend answers and the namespace is registered. */
  serving: boolean;
  /** Meridian's search attributes the namespace lacks. */
  missingSearchAttributes: string[];
  processes: ServiceStatus[];
  error?: string;
}

const mib = (bytes: number) => Math.round(bytes / 1024 / 1024);

function processStatus(state: ClusterState): ServiceStatus[] {
  const rows: ServiceStatus[] = SERVICES.map((service) => {
    const { pid, logFile } = state.services[service];
    const used = alive(pid) ? usage(pid) : undefined;
    return { service, pid, port: state.ports.grpc[service], running: used !== undefined, rssMiB: used && mib(used.rssBytes), cpuSeconds: used?.cpuSeconds, logFile };
  });
  const pgPid = serverPid(state.postgres.dataDir);
  const pgUsed = pgPid === undefined ? undefined : usage(pgPid);
  rows.push({ service: 'postgres', pid: pgPid, port: state.ports.postgres, running: pgPid !== undefined, rssMiB: pgUsed && mib(pgUsed.rssBytes), cpuSeconds: pgUsed?.cpuSeconds, logFile: state.postgres.logFile });
  return rows;
}

export async function clusterStatus(state: ClusterState): Promise<ClusterStatus> {
  const base = { dir: state.dir, address: state.address, namespace: state.namespace, serverVersion: state.serverVersion, startedAt: state.startedAt };
  const processes = processStatus(state);
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address: state.address, connectTimeout: 2_000 });
    await connection.workflowService.describeNamespace({ namespace: state.namespace });
    const attrs = await connection.operatorService.listSearchAttributes({ namespace: state.namespace });
    const known = new Set(Object.keys(attrs.customAttributes ?? {}));
    const missingSearchAttributes = Object.keys(SEARCH_ATTRIBUTES).filter((name) => !known.has(name));
    return { ...base, serving: true, missingSearchAttributes, processes };
  } catch (err) {
    return { ...base, serving: false, missingSearchAttributes: [], processes, error: (err as Error).message };
  } finally {
    await connection?.close();
  }
}

export function renderStatus(s: ClusterStatus): string {
  const lines = [
    `Temporal ${s.serverVersion} on PostgreSQL at ${s.address}, namespace ${s.namespace}: ${s.serving ? 'serving' : `NOT serving${s.error ? ` (${s.error})` : ''}`}`,
    ...s.processes.map(
      (p) =>
        `  ${p.service.padEnd(9)} ${p.running ? 'running' : 'stopped'}  port ${p.port}  pid ${p.pid ?? '-'}${p.running ? `  ${p.rssMiB} MiB  cpu ${p.cpuSeconds?.toFixed(1)} s` : ''}  log ${p.logFile}`,
    ),
  ];
  if (s.missingSearchAttributes.length > 0) lines.push(`  search attributes missing: ${s.missingSearchAttributes.join(', ')} (run: npm run cluster -- up)`);
  return `${lines.join('\n')}\n`;
}
