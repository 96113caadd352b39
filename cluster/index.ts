export { ensureServerBinaries, serverCache, type ServerBinaries } from './build';
export { connectWhenServing, killClusterSync, killServices, readCluster, restartServices, startCluster, stopCluster, type ClusterState } from './cluster';
export { defaultClusterDir, portsFrom, SERVICES, type ClusterPorts, type ServiceName } from './paths';
export { clusterStatus, type ClusterStatus } from './status';
export { TEMPORAL_IMAGE_TAG, TEMPORAL_SERVER_VERSION } from './versions';
