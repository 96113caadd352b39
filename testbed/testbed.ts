import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bootstrapCluster } from './bootstrap';
import { type Binaries, ensureBinaries, type Log } from './build';
import { startCluster } from './cluster';
import { assignPorts, type ClusterPorts, PORTS_PER_CLUSTER } from './components';
import { type KubeconfigEntry, writeKubeconfig } from './kubeconfig';
import { withLock } from '../lib/lock';
import { defaultTestbedDir } from './paths';
import { freePorts } from '../lib/ports';
import { runs, stopGroup } from './process';
import { type ClusterInfo, COMPONENTS, loadState, type ProcessInfo, statePath, type TestbedState, writeState } from './state';
import { DEFAULT_REGIONS, KUBERNETES_VERSION, RESTRICTED_REGION } from './versions';

export interface StartOptions {
  /** State dir; default MERIDIAN_TESTBED_DIR or ~/.cache/meridian/testbed. */
  dir?: string;
  /** Cluster names; default eu-west-1, us-east-1, ap-south-1. */
  regions?: string[];
  log?: Log;
  binaries?: Binaries;
}

export interface Testbed extends TestbedState {
  stop(): Promise<void>;
}

const noop: Log = () => {};

function handle(state: TestbedState): Testbed {
  return { ...state, stop: () => stopTestbed(state.dir) };
}

/** Every recorded process is still running its binary. */
export function isRunning(state: TestbedState): boolean {
  return state.clusters.every((c) => c.processes.length === COMPONENTS.length && c.processes.every((p) => runs(p.pid, p.binary)));
}

/** The test bed running from `dir`, or undefined when none is (fully) up there. */
export function readTestbed(dir = defaultTestbedDir()): Testbed | undefined {
  const state = loadState(resolve(dir));
  return state && isRunning(state) ? handle(state) : undefined;
}

async function stopProcesses(processes: ProcessInfo[]): Promise<void> {
  const order = [...COMPONENTS].reverse();
  for (const component of order) {
    await Promise.all(processes.filter((p) => p.component === component && runs(p.pid, p.binary)).map((p) => stopGroup(p.pid)));
  }
}

function removeData(dir: string): void {
  rmSync(join(dir, 'clusters'), { recursive: true, force: true });
  rmSync(join(dir, 'kubeconfig'), { force: true });
  rmSync(statePath(dir), { force: true });
}

/** Stops every process of the test bed in `dir` (process groups, newest component first) and removes its data; logs stay. */
export async function stopTestbed(dir = defaultTestbedDir()): Promise<void> {
  dir = resolve(dir);
  await withLock(join(dir, '.lock'), async () => {
    const state = loadState(dir);
    if (state) await Promise.all(state.clusters.map((c) => stopProcesses(c.processes)));
    removeData(dir);
  });
}

interface RegionResult {
  cluster: ClusterInfo;
  token?: string;
}

async function startRegion(opts: {
  name: string;
  dir: string;
  ports: ClusterPorts;
  binaries: Binaries;
  restricted: boolean;
  onProcess: (p: ProcessInfo) => void;
  log: Log;
}): Promise<RegionResult> {
  const clusterDir = join(opts.dir, 'clusters', opts.name);
  const { info: cluster, components } = await startCluster({
    name: opts.name,
    dir: clusterDir,
    logDir: join(opts.dir, 'logs', opts.name),
    ports: opts.ports,
    binaries: opts.binaries,
    onProcess: opts.onProcess,
  });
  opts.log(`API server ready at ${cluster.server}`);
  const [boot] = await Promise.all([
    bootstrapCluster({
      name: opts.name,
      adminKubeconfig: join(clusterDir, 'admin.kubeconfig'),
      manifestFiles: opts.binaries.crdFiles,
      restricted: opts.restricted,
    }),
    components,
  ]);
  opts.log('ready');
  return { cluster: { ...cluster, nodes: boot.nodes }, token: boot.restrictedToken };
}

/**
 * Starts one control plane per region (in parallel), bootstraps them and writes state.json and
 * the kubeconfig. When a complete test bed already runs from `dir`, returns it untouched.
 */
export async function startTestbed(opts: StartOptions = {}): Promise<Testbed> {
  const dir = resolve(opts.dir ?? defaultTestbedDir());
  const log = opts.log ?? noop;
  const regions = opts.regions ?? [...DEFAULT_REGIONS];
  if (regions.length === 0 || new Set(regions).size !== regions.length) throw new Error(`regions must be distinct and non-empty: ${regions.join(', ')}`);
  const binaries = opts.binaries ?? (await ensureBinaries({ log: opts.log }));
  mkdirSync(dir, { recursive: true });

  const onWait = (pid: string) => log(`another process (pid ${pid}) is starting or stopping the test bed in ${dir}; waiting`);
  return withLock(join(dir, '.lock'), async () => {
    const existing = loadState(dir);
    if (existing && isRunning(existing)) return handle(existing);
    if (existing) {
      log('a previous test bed is partly running; stopping what is left of it');
      await Promise.all(existing.clusters.map((c) => stopProcesses(c.processes)));
    }
    removeData(dir);
    rmSync(join(dir, 'logs'), { recursive: true, force: true });

    const started = Date.now();
    const restrictedRegion = regions.includes(RESTRICTED_REGION) ? RESTRICTED_REGION : regions[0];
    const ports = await freePorts(PORTS_PER_CLUSTER * regions.length);
    const launched: ProcessInfo[] = [];
    log(`starting ${regions.length} control planes: ${regions.join(', ')}`);
    try {
      const settled = await Promise.allSettled(
        regions.map((name, i) =>
          startRegion({
            name,
            dir,
            ports: assignPorts(ports.slice(i * PORTS_PER_CLUSTER, (i + 1) * PORTS_PER_CLUSTER)),
            binaries,
            restricted: name === restrictedRegion,
            onProcess: (p) => launched.push(p),
            log: (line) => log(`${name}: ${line} (${Math.round((Date.now() - started) / 100) / 10} s)`),
          }),
        ),
      );
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      const results = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const clusters = results.map((r) => r.cluster);
      const entries: KubeconfigEntry[] = clusters.map((c) => ({
        context: c.context,
        cluster: c.name,
        server: c.server,
        caFile: c.caFile,
        credentials: { certFile: c.adminCertFile, keyFile: c.adminKeyFile },
      }));
      const restricted = results.find((r) => r.token)!;
      const restrictedContext = `${restricted.cluster.name}-restricted`;
      entries.push({ ...entries.find((e) => e.cluster === restricted.cluster.name)!, context: restrictedContext, credentials: { token: restricted.token! } });
      const kubeconfigPath = join(dir, 'kubeconfig');
      writeKubeconfig(kubeconfigPath, entries);
      const state: TestbedState = {
        dir,
        kubernetesVersion: KUBERNETES_VERSION,
        kubeconfigPath,
        contexts: Object.fromEntries(clusters.map((c) => [c.name, c.context])),
        restrictedContext,
        clusters,
        startedAt: new Date(started).toISOString(),
        startupMs: Date.now() - started,
      };
      writeState(state);
      return handle(state);
    } catch (err) {
      await stopProcesses(launched);
      removeData(dir);
      throw err;
    }
  }, onWait);
}
