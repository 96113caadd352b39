import { join } from 'node:path';
import { type FaultProxy, type FaultProxyOptions, startFaultProxy } from './fault-proxy';
import { type KubeconfigEntry, writeKubeconfig } from './kubeconfig';
import type { ClusterInfo, TestbedState } from './state';

function cluster(tb: TestbedState, region: string): ClusterInfo {
  const found = tb.clusters.find((c) => c.name === region);
  if (!found) throw new Error(`the test bed in ${tb.dir} has no cluster ${region} (it has ${tb.clusters.map((c) => c.name).join(', ')})`);
  return found;
}

/**
 * A fault proxy in front of `region`'s API server: it serves the API server's own certificate (so
 * the cluster CA vouches for it) and reaches the API server with the admin client certificate.
 */
export function startRegionProxy(tb: TestbedState, region: string, opts: Omit<FaultProxyOptions, 'upstream' | 'upstreamCa' | 'clientCert' | 'clientKey' | 'servingCert' | 'servingKey'> = {}): Promise<FaultProxy> {
  const c = cluster(tb, region);
  const pki = join(c.dir, 'pki');
  return startFaultProxy({
    ...opts,
    upstream: c.server,
    upstreamCa: c.caFile,
    clientCert: c.adminCertFile,
    clientKey: c.adminKeyFile,
    servingCert: join(pki, 'apiserver.crt'),
    servingKey: join(pki, 'apiserver.key'),
  });
}

/** A kubeconfig with the test bed's admin context per region, where the regions in `via` reach their cluster at the given URL (a proxy). */
export function writeKubeconfigVia(tb: TestbedState, path: string, via: Record<string, string>): void {
  const entries: KubeconfigEntry[] = tb.clusters.map((c) => ({
    context: c.context,
    cluster: c.name,
    server: via[c.name] ?? c.server,
    caFile: c.caFile,
    credentials: { certFile: c.adminCertFile, keyFile: c.adminKeyFile },
  }));
  writeKubeconfig(path, entries);
}
