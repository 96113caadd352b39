import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import { DEFAULT_NAMESPACE } from '../workflows/definitions';

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

/** An error that names the address and what to do next. */
export class ConnectionFailedError extends Error {
  constructor(
    readonly address: string,
    cause: unknown,
  ) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`cannot reach Temporal at ${address} (${why}); is a Temporal server running? try: meridian dev`, { cause });
    this.name = 'ConnectionFailedError';
  }
}

export async function connectClient(overrides: ConnectionOverrides = {}): Promise<{ client: Client; namespace: string }> {
  const { address, namespace, connectionOptions } = connectionConfig(overrides);
  let connection: Connection;
  try {
    const { tls, apiKey, metadata } = connectionOptions;
    connection = await Connection.connect({ address, tls, apiKey, metadata, connectTimeout: '5s' });
  } catch (err) {
    throw new ConnectionFailedError(address, err);
  }
  return { client: new Client({ connection, namespace }), namespace };
}

export async function connectWorkerConnection(
  overrides: ConnectionOverrides = {},
): Promise<{ connection: NativeConnection; namespace: string }> {
  const { address, namespace, connectionOptions } = connectionConfig(overrides);
  try {
    const connection = await NativeConnection.connect(connectionOptions);
    return { connection, namespace };
  } catch (err) {
    throw new ConnectionFailedError(address, err);
  }
}
