import { join } from 'node:path';
import type { Binaries } from './build';
import { type ClusterPki, FRONT_PROXY_CLIENT } from './certs';
import type { Component } from './state';

export interface ClusterPorts {
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
  scheduler: number;
  kwok: number;
}

export const PORTS_PER_CLUSTER = 6;

export function assignPorts(ports: number[]): ClusterPorts {
  const [etcdClient, etcdPeer, apiserver, controllerManager, scheduler, kwok] = ports;
  return { etcdClient, etcdPeer, apiserver, controllerManager, scheduler, kwok };
}

const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export function componentArgs(c: Component, name: string, dir: string, pki: ClusterPki, ports: ClusterPorts, bins: Binaries): string[] {
  const local = (port: number) => `http://127.0.0.1:${port}`;
  const kubeconfig = (user: string) => join(dir, `${user}.kubeconfig`);
  const delegated = (user: string, port: number) => [
    `--kubeconfig=${kubeconfig(user)}`,
    `--authentication-kubeconfig=${kubeconfig(user)}`,
    `--authorization-kubeconfig=${kubeconfig(user)}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    `--cert-dir=${join(dir, `${user}-serving`)}`,
    '--leader-elect=false',
  ];
  switch (c) {
    case 'etcd':
      return [
        `--name=${name}`,
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${local(ports.etcdClient)}`,
        `--advertise-client-urls=${local(ports.etcdClient)}`,
        `--listen-peer-urls=${local(ports.etcdPeer)}`,
        `--initial-advertise-peer-urls=${local(ports.etcdPeer)}`,
        `--initial-cluster=${name}=${local(ports.etcdPeer)}`,
        '--unsafe-no-fsync',
        '--quota-backend-bytes=1073741824',
        '--auto-compaction-retention=1',
        '--log-level=warn',
      ];
    case 'kube-apiserver':
      return [
        `--etcd-servers=${local(ports.etcdClient)}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        '--endpoint-reconciler-type=none',
        `--secure-port=${ports.apiserver}`,
        `--cert-dir=${join(dir, 'apiserver-serving')}`,
        `--tls-cert-file=${pki.apiserver.cert}`,
        `--tls-private-key-file=${pki.apiserver.key}`,
        `--client-ca-file=${pki.ca.cert}`,
        `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
        `--service-account-key-file=${pki.serviceAccount.pub}`,
        `--service-account-signing-key-file=${pki.serviceAccount.key}`,
        '--service-cluster-ip-range=10.96.0.0/16',
        `--requestheader-client-ca-file=${pki.frontProxyCa.cert}`,
        `--requestheader-allowed-names=${FRONT_PROXY_CLIENT}`,
        '--requestheader-username-headers=X-Remote-User',
        '--requestheader-group-headers=X-Remote-Group',
        '--requestheader-extra-headers-prefix=X-Remote-Extra-',
        `--proxy-client-cert-file=${pki.frontProxyClient.cert}`,
        `--proxy-client-key-file=${pki.frontProxyClient.key}`,
        '--authorization-mode=Node,RBAC',
        '--allow-privileged=true',
        '--enable-priority-and-fairness=false',
        '--profiling=false',
      ];
    case 'kube-controller-manager':
      return [
        ...delegated('controller-manager', ports.controllerManager),
        `--cluster-name=${name}`,
        '--use-service-account-credentials=true',
        `--root-ca-file=${pki.ca.cert}`,
        `--service-account-private-key-file=${pki.serviceAccount.key}`,
        `--flex-volume-plugin-dir=${join(dir, 'flexvolume')}`,
        '--profiling=false',
      ];
    case 'kube-scheduler':
      return [...delegated('scheduler', ports.scheduler), '--profiling=false'];
    case 'kwok':
      return [
        `--kubeconfig=${kubeconfig('admin')}`,
        `--config=${bins.kwokStages}`,
        '--manage-all-nodes=false',
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        '--node-lease-duration-seconds=40',
        '--node-ip=127.0.0.1',
        `--server-address=127.0.0.1:${ports.kwok}`,
      ];
  }
}

type BinaryKey = Exclude<keyof Binaries, 'crdFiles' | 'kwokStages'>;

export const BINARY: Record<Component, BinaryKey> = {
  etcd: 'etcd',
  'kube-apiserver': 'kubeApiserver',
  'kube-controller-manager': 'kubeControllerManager',
  'kube-scheduler': 'kubeScheduler',
  kwok: 'kwok',
};

export function healthUrl(c: Component, ports: ClusterPorts): { url: string; port: number } {
  switch (c) {
    case 'etcd':
      return { url: `http://127.0.0.1:${ports.etcdClient}/health`, port: ports.etcdClient };
    case 'kube-apiserver':
      return { url: `https://127.0.0.1:${ports.apiserver}/readyz`, port: ports.apiserver };
    case 'kube-controller-manager':
      return { url: `https://127.0.0.1:${ports.controllerManager}/healthz`, port: ports.controllerManager };
    case 'kube-scheduler':
      return { url: `https://127.0.0.1:${ports.scheduler}/healthz`, port: ports.scheduler };
    case 'kwok':
      return { url: `http://127.0.0.1:${ports.kwok}/healthz`, port: ports.kwok };
  }
}
