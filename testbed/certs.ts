import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface KeyPair {
  cert: string;
  key: string;
}

export interface ClusterPki {
  ca: KeyPair;
  apiserver: KeyPair;
  admin: KeyPair;
  controllerManager: KeyPair;
  scheduler: KeyPair;
  /** Request-header authentication: the API server's proxy identity, trusted by the controller-manager and scheduler. */
  frontProxyCa: KeyPair;
  frontProxyClient: KeyPair;
  /** Signs and verifies service-account tokens. */
  serviceAccount: { key: string; pub: string };
}

const SERVING_SANS = [
  'IP:127.0.0.1',
  'IP:10.96.0.1',
  'DNS:localhost',
  'DNS:kubernetes',
  'DNS:kubernetes.default',
  'DNS:kubernetes.default.svc',
  'DNS:kubernetes.default.svc.cluster.local',
];

export const FRONT_PROXY_CLIENT = 'front-proxy-client';

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('the openssl CLI is needed to generate the test bed certificates (apt-get install openssl)');
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.trim() || e.message}`);
  }
}

async function ecKey(path: string): Promise<void> {
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
}

async function selfSignedCa(ca: KeyPair, commonName: string): Promise<void> {
  await ecKey(ca.key);
  await openssl([
    'req', '-x509', '-new', '-key', ca.key, '-subj', `/CN=${commonName}`, '-days', '3650', '-out', ca.cert,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

async function issue(ca: KeyPair, pair: KeyPair, subject: string, extensions: string[]): Promise<void> {
  await ecKey(pair.key);
  const ext = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', ...extensions].flatMap((e) => ['-addext', e]);
  await openssl(['req', '-x509', '-new', '-key', pair.key, '-CA', ca.cert, '-CAkey', ca.key, '-subj', subject, '-days', '3650', '-out', pair.cert, ...ext]);
}

/** A CA, the API server's serving cert, client certs per component and the service-account key pair, in `dir`. */
export async function generatePki(dir: string, clusterName: string): Promise<ClusterPki> {
  mkdirSync(dir, { recursive: true });
  const pair = (name: string): KeyPair => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) });
  const pki: ClusterPki = {
    ca: pair('ca'),
    apiserver: pair('apiserver'),
    admin: pair('admin'),
    controllerManager: pair('controller-manager'),
    scheduler: pair('scheduler'),
    frontProxyCa: pair('front-proxy-ca'),
    frontProxyClient: pair('front-proxy-client'),
    serviceAccount: { key: join(dir, 'sa.key'), pub: join(dir, 'sa.pub') },
  };
  const client = 'extendedKeyUsage=clientAuth';
  await Promise.all([
    selfSignedCa(pki.ca, `meridian-testbed-${clusterName}-ca`),
    selfSignedCa(pki.frontProxyCa, `meridian-testbed-${clusterName}-front-proxy-ca`),
    ecKey(pki.serviceAccount.key).then(() => openssl(['pkey', '-in', pki.serviceAccount.key, '-pubout', '-out', pki.serviceAccount.pub])),
  ]);
  await Promise.all([
    issue(pki.frontProxyCa, pki.frontProxyClient, `/CN=${FRONT_PROXY_CLIENT}`, [client]),
    issue(pki.ca, pki.apiserver, '/CN=kube-apiserver', ['extendedKeyUsage=serverAuth', `subjectAltName=${SERVING_SANS.join(',')}`]),
    issue(pki.ca, pki.admin, '/O=system:masters/CN=meridian-admin', [client]),
    issue(pki.ca, pki.controllerManager, '/CN=system:kube-controller-manager', [client]),
    issue(pki.ca, pki.scheduler, '/CN=system:kube-scheduler', [client]),
  ]);
  return pki;
}
