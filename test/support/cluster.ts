import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killClusterSync, killServices, restartServices, startCluster, stopCluster, type ClusterPorts, type ClusterState } from '../../cluster/index';
import { freePort } from './processes';

export interface TestCluster {
  state: ClusterState;
  address: string;
  namespace: string;
  dir: string;
  /** SIGKILLs every Temporal service process (PostgreSQL keeps running). */
  kill(): Promise<void>;
  /** Starts the killed services again and waits until the frontend serves. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function testPorts(): Promise<ClusterPorts> {
  const take = async () => freePort();
  const grpc = { history: await take(), matching: await take(), frontend: await take(), worker: await take() };
  const membership = { history: await take(), matching: await take(), frontend: await take(), worker: await take() };
  return { frontend: grpc.frontend, frontendHttp: await take(), postgres: await take(), grpc, membership };
}

/** A local Temporal cluster on PostgreSQL (cluster/), on free ports of this test worker, removed again by `stop()`. */
export async function startTestCluster(): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-cluster-'));
  const cleanup = () => killClusterSync(dir);
  process.once('exit', cleanup);
  const state = await startCluster({ dir, ports: await testPorts(), log: () => {} });
  return {
    state,
    address: state.address,
    namespace: state.namespace,
    dir,
    kill: () => killServices(dir),
    restart: async () => void (await restartServices(dir)),
    stop: async () => {
      process.removeListener('exit', cleanup);
      await stopCluster(dir);
    },
  };
}
