import { readFileSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

export type Credentials = { certFile: string; keyFile: string } | { token: string };

export interface KubeconfigEntry {
  context: string;
  cluster: string;
  server: string;
  caFile: string;
  credentials: Credentials;
}

const b64 = (file: string) => readFileSync(file).toString('base64');

/** A self-contained kubeconfig (certificates embedded), one context per entry; the first is current. */
export function renderKubeconfig(entries: KubeconfigEntry[]): string {
  const clusters = new Map<string, { name: string; cluster: Record<string, string> }>();
  for (const e of entries) {
    clusters.set(e.cluster, { name: e.cluster, cluster: { server: e.server, 'certificate-authority-data': b64(e.caFile) } });
  }
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    'current-context': entries[0]?.context ?? '',
    clusters: [...clusters.values()],
    users: entries.map((e) => ({
      name: e.context,
      user:
        'token' in e.credentials
          ? { token: e.credentials.token }
          : { 'client-certificate-data': b64(e.credentials.certFile), 'client-key-data': b64(e.credentials.keyFile) },
    })),
    contexts: entries.map((e) => ({ name: e.context, context: { cluster: e.cluster, user: e.context } })),
  });
}

export function writeKubeconfig(path: string, entries: KubeconfigEntry[]): void {
  writeFileSync(path, renderKubeconfig(entries), { mode: 0o600 });
}
