import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kwok';

/** Start order; stopped in reverse. */
export const COMPONENTS: readonly Component[] = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'];

export interface ProcessInfo {
  component: Component;
  /** Also the process group id: every component leads its own group. */
  pid: number;
  binary: string;
  port: number;
  healthUrl: string;
  log: string;
}

export interface ClusterInfo {
  name: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** The kubeconfig context with cluster-admin rights on this cluster. */
  context: string;
  processes: ProcessInfo[];
  dir: string;
  caFile: string;
  /** Client cert and key of a system:masters user, for tools that take files rather than a kubeconfig. */
  adminCertFile: string;
  adminKeyFile: string;
  nodes: string[];
}

export interface TestbedState {
  dir: string;
  kubernetesVersion: string;
  kubeconfigPath: string;
  /** Region → admin context name (the same string). */
  contexts: Record<string, string>;
  /** Context whose ServiceAccount may only get/list/watch Deployments in the demo namespace. */
  restrictedContext: string;
  clusters: ClusterInfo[];
  startedAt: string;
  startupMs: number;
}

export function statePath(dir: string): string {
  return join(dir, 'state.json');
}

export function writeState(state: TestbedState): void {
  const path = statePath(state.dir);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}

export function loadState(dir: string): TestbedState | undefined {
  const path = statePath(dir);
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as TestbedState;
}
