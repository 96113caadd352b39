import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Binaries } from './build';
import { generatePki } from './certs';
import { BINARY, type ClusterPorts, componentArgs, healthUrl } from './components';
import { probe, waitFor } from './health';
import { writeKubeconfig } from './kubeconfig';
import { isAlive, startDaemon } from './process';
import type { ClusterInfo, Component, ProcessInfo } from './state';

export interface StartClusterOptions {
  name: string;
  dir: string;
  logDir: string;
  ports: ClusterPorts;
  binaries: Binaries;
  /** Told each started process at once, so a failure later on can still stop it. */
  onProcess: (p: ProcessInfo) => void;
  timeoutMs?: number;
}

export interface StartedCluster {
  info: Omit<ClusterInfo, 'nodes'>;
  /** Settles once the controller-manager, scheduler and kwok answer their health endpoints. */
  components: Promise<void>;
}

/**
 * Starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok for one cluster.
 * Resolves as soon as the API server answers /readyz, so bootstrapping can overlap with the
 * remaining components coming up.
 */
export async function startCluster(opts: StartClusterOptions): Promise<StartedCluster> {
  const { name, dir, ports, binaries } = opts;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  mkdirSync(dir, { recursive: true });
  mkdirSync(opts.logDir, { recursive: true });
  const pki = await generatePki(join(dir, 'pki'), name);
  const server = `https://127.0.0.1:${ports.apiserver}`;
  for (const [user, pair] of [['admin', pki.admin], ['controller-manager', pki.controllerManager], ['scheduler', pki.scheduler]] as const) {
    writeKubeconfig(join(dir, `${user}.kubeconfig`), [
      { context: name, cluster: name, server, caFile: pki.ca.cert, credentials: { certFile: pair.cert, keyFile: pair.key } },
    ]);
  }
  const admin = { ca: pki.ca.cert, cert: pki.admin.cert, key: pki.admin.key };
  const processes: ProcessInfo[] = [];

  const start = (component: Component): ProcessInfo => {
    const binary = binaries[BINARY[component]];
    const log = join(opts.logDir, `${component}.log`);
    const pid = startDaemon(binary, componentArgs(component, name, dir, pki, ports, binaries), log);
    const { url, port } = healthUrl(component, ports);
    const info: ProcessInfo = { component, pid, binary, port, healthUrl: url, log };
    processes.push(info);
    opts.onProcess(info);
    return info;
  };
  const healthy = (p: ProcessInfo) =>
    waitFor(
      `${name} ${p.component} health (${p.healthUrl})`,
      async () => ((await probe(p.healthUrl, p.component === 'kube-apiserver' ? admin : { insecure: true })).ok ? true : undefined),
      { timeoutMs, alive: () => (isAlive(p.pid) ? undefined : `${p.component} exited; see ${p.log}`) },
    );

  await healthy(start('etcd'));
  await healthy(start('kube-apiserver'));
  const rest = (['kube-controller-manager', 'kube-scheduler', 'kwok'] as const).map(start);
  const components = Promise.all(rest.map(healthy)).then(() => undefined);
  // Rejections are observed by the caller; this keeps an early one from being reported as unhandled.
  components.catch(() => {});

  const info = {
    name,
    server,
    context: name,
    processes,
    dir,
    caFile: pki.ca.cert,
    adminCertFile: pki.admin.cert,
    adminKeyFile: pki.admin.key,
  };
  return { info, components };
}
