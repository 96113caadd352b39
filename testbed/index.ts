export { type Binaries, ensureBinaries, type Log, READY_DELAY_ANNOTATION } from './build';
export { cacheLayout, defaultTestbedDir } from './paths';
export type { ClusterInfo, Component, ProcessInfo, TestbedState } from './state';
export { type ClusterStatus, type ProcessStatus, renderStatus, testbedStatus, type TestbedStatus } from './status';
export { isRunning, readTestbed, type StartOptions, startTestbed, stopTestbed, type Testbed } from './testbed';
export { DEFAULT_REGIONS, DEMO_NAMESPACE, GATEWAY_API_VERSION, KUBERNETES_VERSION, KWOK_VERSION, RESTRICTED_ACCOUNT } from './versions';
