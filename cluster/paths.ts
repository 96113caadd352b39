import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const SERVICES = ['history', 'matching', 'frontend', 'worker'] as const;
export type ServiceName = (typeof SERVICES)[number];

export interface ClusterPorts {
  /** The frontend's gRPC port: what clients and workers connect to. */
  frontend: number;
  frontendHttp: number;
  postgres: number;
  /** gRPC and membership (ringpop) port of each service. */
  grpc: Record<ServiceName, number>;
  membership: Record<ServiceName, number>;
}

/** Temporal's own layout around a frontend port: 7233 → history 7234, matching 7235, worker 7239, membership 6933…, HTTP 7243; PostgreSQL on 7432. */
export function portsFrom(frontend: number): ClusterPorts {
  const grpc = { frontend, history: frontend + 1, matching: frontend + 2, worker: frontend + 6 };
  const membership = Object.fromEntries(Object.entries(grpc).map(([s, p]) => [s, p - 300])) as Record<ServiceName, number>;
  return { frontend, frontendHttp: frontend + 10, postgres: frontend + 199, grpc, membership };
}

/** Every port of a layout, for checking that none is taken. */
export function allPorts(ports: ClusterPorts): number[] {
  return [ports.frontendHttp, ports.postgres, ...Object.values(ports.grpc), ...Object.values(ports.membership)];
}

export function defaultClusterDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.MERIDIAN_CLUSTER_DIR || join(homedir(), '.cache', 'meridian', 'cluster'));
}

/**
 * Where the cluster's PostgreSQL keeps its data. As root the server runs as an unprivileged user,
 * who may not enter root's home folder, so root's data lives outside it, one folder per cluster dir.
 */
export function postgresBase(dir: string): string {
  if (process.getuid?.() !== 0) return join(dir, 'postgres');
  const id = createHash('sha256').update(resolve(dir)).digest('hex').slice(0, 12);
  return join('/var/cache/meridian/cluster-postgres', id);
}
