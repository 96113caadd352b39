import { createConnection } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnection, NativeConnectionOptions } from '@temporalio/worker';
import { DEFAULT_NAMESPACE } from '../workflows/definitions';
import { codecDataConverter } from './codec';
import { ConnectionFailedError } from './connection-error';

export { ConnectionFailedError } from './connection-error';

export const DEFAULT_ADDRESS = 'localhost:7233';

export interface ConnectionOverrides {
  address?: string;
  namespace?: string;
}

export interface ResolvedConnectionConfig {
  address: string;
  namespace: string;
  connectionOptions: NativeConnectionOptions & { address: string };
}

/**
 * Address, namespace, TLS and API key from TEMPORAL_* variables or a profile of the Temporal config file
 * (TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE); explicit overrides win, then localhost:7233 and 'default'.
 */
export function connectionConfig(overrides: ConnectionOverrides = {}): ResolvedConnectionConfig {
  const loaded = loadClientConnectConfig();
  const address = overrides.address ?? loaded.connectionOptions.address ?? DEFAULT_ADDRESS;
  const namespace = overrides.namespace ?? loaded.namespace ?? DEFAULT_NAMESPACE;
  return { address, namespace, connectionOptions: { ...loaded.connectionOptions, address } };
}

/** How long a TCP connect to the frontend may take; a refused port fails at once. */
export const PROBE_TIMEOUT_MS = 3_000;

/** `host:port` or `[v6]:port` split; undefined when the address has no port to probe. */
export function hostAndPort(address: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(address);
  if (!m) return undefined;
  const port = Number(m[3]);
  return port > 0 && port < 65536 ? { host: (m[1] ?? m[2])!, port } : undefined;
}

/**
 * One TCP connect before the gRPC client, which retries a refused port until its connect timeout:
 * a port nobody listens on, or a host that does not resolve, is reported at once.
 */
export function probeAddress(address: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<void> {
  const target = hostAndPort(address);
  if (!target) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: target.host, port: target.port });
    const done = (err?: Error) => {
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };
    socket.setTimeout(timeoutMs, () => done(new Error(`no answer within ${timeoutMs / 1000}s`)));
    socket.once('connect', () => done());
    socket.once('error', (err: NodeJS.ErrnoException) => done(new Error(err.code === 'ECONNREFUSED' ? 'connection refused' : err.message)));
  });
}

/** gRPC goes through a proxy named in the environment: a direct TCP probe would test the wrong hop. */
function viaProxy(env: NodeJS.ProcessEnv = process.env): boolean {
  return ['grpc_proxy', 'https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY'].some((k) => env[k]);
}

/** A client of the configured server; its payloads are encrypted when the environment sets codec keys (client/codec.ts). */
export async function connectClient(overrides: ConnectionOverrides = {}): Promise<{ client: Client; namespace: string }> {
  const { address, namespace, connectionOptions } = connectionConfig(overrides);
  // Read before connecting, so a bad key is reported as what it is, not as an unreachable server.
  const dataConverter = codecDataConverter();
  let connection: Connection;
  try {
    if (!viaProxy()) await probeAddress(address);
    const { tls, apiKey, metadata } = connectionOptions;
    connection = await Connection.connect({ address, tls, apiKey, metadata, connectTimeout: '5s' });
  } catch (err) {
    throw new ConnectionFailedError(address, err);
  }
  return { client: new Client({ connection, namespace, ...(dataConverter ? { dataConverter } : {}) }), namespace };
}

export async function connectWorkerConnection(
  overrides: ConnectionOverrides = {},
): Promise<{ connection: NativeConnection; namespace: string }> {
  const { address, namespace, connectionOptions } = connectionConfig(overrides);
  try {
    if (!viaProxy()) await probeAddress(address);
    const { NativeConnection } = await import('@temporalio/worker');
    const connection = await NativeConnection.connect(connectionOptions);
    return { connection, namespace };
  } catch (err) {
    throw new ConnectionFailedError(address, err);
  }
}
