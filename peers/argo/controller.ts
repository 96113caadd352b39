import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ApiException, ApiextensionsV1Api, KubeConfig, loadAllYaml, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { freePorts } from '../../lib/ports';
import { stopChild } from '../../lib/stop-child';
import { probe, waitFor } from '../../testbed/health';
import type { TestbedState } from '../../testbed/state';

/** Where a region's controller writes its log: beside the region's control-plane logs in the test bed's folder. */
export function controllerLogFile(testbed: Pick<TestbedState, 'dir'>, region: string): string {
  return join(testbed.dir, 'logs', region, 'argo-rollouts-controller.log');
}

/**
 * The CRDs in `files`, read into the client's typed model: the typed API writes only the fields its
 * model knows by their model names, and would drop a plain document's `x-kubernetes-int-or-string`.
 */
function crdsIn(files: string[]): V1CustomResourceDefinition[] {
  return files.flatMap((file) =>
    (loadAllYaml(readFileSync(file, 'utf8')) as (V1CustomResourceDefinition | null)[]).filter(
      (obj): obj is V1CustomResourceDefinition => obj?.kind === 'CustomResourceDefinition',
    ),
  );
}

function apiextensions(kubeconfig: string, context: string): ApiextensionsV1Api {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  if (!kc.getContextObject(context)) {
    const known = kc.getContexts().map((c) => c.name).join(', ') || 'none';
    throw new Error(`context "${context}" is not in kubeconfig ${kubeconfig} (contexts: ${known})`);
  }
  kc.setCurrentContext(context);
  return kc.makeApiClient(ApiextensionsV1Api);
}

/** Creates the CRD, or replaces the one there (keeping its resourceVersion), so installing twice or over an older release is harmless. */
async function put(api: ApiextensionsV1Api, crd: V1CustomResourceDefinition): Promise<void> {
  try {
    await api.createCustomResourceDefinition({ body: crd });
  } catch (err) {
    if (!(err instanceof ApiException && err.code === 409)) throw err;
    const current = await api.readCustomResourceDefinition({ name: crd.metadata!.name! });
    await api.replaceCustomResourceDefinition({
      name: crd.metadata!.name!,
      body: { ...crd, metadata: { ...crd.metadata, resourceVersion: current.metadata?.resourceVersion } },
    });
  }
}

/**
 * Installs Argo Rollouts' CRDs (ensureArgoRollouts().crdFiles) into one cluster through the
 * apiextensions API and waits until each is Established. Returns their names.
 */
export async function installRolloutsCrds(opts: { kubeconfig: string; context: string; crdFiles: string[]; timeoutMs?: number }): Promise<string[]> {
  const crds = crdsIn(opts.crdFiles);
  if (crds.length === 0) throw new Error(`no CustomResourceDefinition in ${opts.crdFiles.join(', ') || '(no files)'}; run: npm run peers -- build`);
  const api = apiextensions(opts.kubeconfig, opts.context);
  await Promise.all(crds.map((crd) => put(api, crd)));
  const names = crds.map((crd) => crd.metadata!.name!);
  await waitFor(
    `${opts.context}: Argo Rollouts CRDs established`,
    async () => {
      for (const name of names) {
        const crd = await api.readCustomResourceDefinition({ name });
        if (!crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return undefined;
      }
      return true;
    },
    { timeoutMs: opts.timeoutMs ?? 30_000 },
  );
  return names;
}

export interface ControllerOptions {
  /** ensureArgoRollouts().controller */
  binary: string;
  kubeconfig: string;
  context: string;
  /**
   * The one namespace the controller watches (`--namespaced`); its notification and
   * `argo-rollouts-config` ConfigMaps are read there too. Without it the controller watches every namespace.
   */
  namespace?: string;
  /** Appended to across restarts; each start writes a header line first. */
  logFile: string;
  /** Seconds between full resyncs of every Rollout (`--rollout-resync`); default the controller's 900. */
  resyncSeconds?: number;
  readyTimeoutMs?: number;
}

export interface ControllerPorts {
  healthz: number;
  metrics: number;
}

/** The flags that run the controller out of cluster: the kubeconfig's context, no leader election, its two HTTP ports on free ports. */
export function controllerArgs(opts: ControllerOptions, ports: ControllerPorts): string[] {
  return [
    `--kubeconfig=${opts.kubeconfig}`,
    `--context=${opts.context}`,
    ...(opts.namespace ? ['--namespaced', `--namespace=${opts.namespace}`] : []),
    '--leader-elect=false',
    `--healthzPort=${ports.healthz}`,
    `--metricsPort=${ports.metrics}`,
    ...(opts.resyncSeconds ? [`--rollout-resync=${opts.resyncSeconds}`] : []),
    '--logformat=json',
    '--loglevel=info',
  ];
}

/** The controller logs this once its informer caches have synced and its workers run. */
const STARTED = 'Started controller';

function fileSize(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/** What the log holds past byte `offset`. */
function since(logFile: string, offset: number): string {
  return readFileSync(logFile).subarray(offset).toString('utf8');
}

function startedSince(logFile: string, offset: number): boolean {
  return since(logFile, offset).split('\n').some((line) => {
    try {
      return (JSON.parse(line) as { msg?: string }).msg === STARTED;
    } catch {
      return false;
    }
  });
}

function tail(logFile: string, offset: number): string {
  return since(logFile, offset).trim().split('\n').slice(-8).join('\n');
}

/**
 * One Argo Rollouts controller run out of cluster against one kubeconfig context. Its HTTP ports
 * (healthz, metrics) are picked once and kept across restarts; every listener binds 0.0.0.0, as the
 * controller has no flag for the address.
 */
export class RolloutsController {
  readonly opts: ControllerOptions;
  readonly ports: ControllerPorts;
  private child: ChildProcess | undefined;

  constructor(opts: ControllerOptions, ports: ControllerPorts) {
    this.opts = opts;
    this.ports = ports;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    const child = this.child;
    return child?.pid !== undefined && child.exitCode === null && child.signalCode === null;
  }

  get args(): string[] {
    return controllerArgs(this.opts, this.ports);
  }

  /** Starts the process and resolves once /healthz answers and the controller has logged that its workers run. */
  async start(): Promise<void> {
    if (this.running) throw new Error(`the Argo Rollouts controller for ${this.opts.context} already runs (pid ${this.child!.pid})`);
    if (!existsSync(this.opts.binary)) throw new Error(`${this.opts.binary} does not exist; build it with: npm run peers -- build`);
    mkdirSync(dirname(this.opts.logFile), { recursive: true });
    appendFileSync(this.opts.logFile, `# ${new Date().toISOString()} ${this.opts.binary} ${this.args.join(' ')}\n`);
    const offset = fileSize(this.opts.logFile);
    const fd = openSync(this.opts.logFile, 'a');
    let child: ChildProcess;
    try {
      const env = { ...process.env, ...(this.opts.namespace ? { POD_NAMESPACE: this.opts.namespace } : {}) };
      child = spawn(this.opts.binary, this.args, { stdio: ['ignore', fd, fd], env });
    } finally {
      closeSync(fd);
    }
    this.child = child;
    const spawnError = new Promise<string>((resolve) => child.once('error', (err) => resolve(err.message)));
    let failed: string | undefined;
    void spawnError.then((message) => (failed = message));
    const healthz = `http://127.0.0.1:${this.ports.healthz}/healthz`;
    await waitFor(
      `the Argo Rollouts controller for ${this.opts.context} (log ${this.opts.logFile})`,
      async () => ((await probe(healthz)).ok && startedSince(this.opts.logFile, offset) ? true : undefined),
      {
        timeoutMs: this.opts.readyTimeoutMs ?? 60_000,
        intervalMs: 100,
        alive: () =>
          failed ??
          (child.exitCode !== null || child.signalCode !== null
            ? `exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${tail(this.opts.logFile, offset)}`
            : undefined),
      },
    );
  }

  /** Resolves when the running process ends, with its exit code or signal; at once when none runs. */
  exited(): Promise<number | NodeJS.Signals | undefined> {
    const child = this.child;
    if (!child || !this.running) return Promise.resolve(child ? (child.exitCode ?? child.signalCode ?? undefined) : undefined);
    return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? undefined)));
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.child) await stopChild(this.child, graceMs);
  }

  /** SIGKILL at once, as a crash would; resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }

  /** Stops the running process (when there is one) and starts a new one on the same ports. */
  async restart(graceMs?: number): Promise<void> {
    await this.stop(graceMs);
    await this.start();
  }
}

/** Picks the controller's two ports and starts it; see RolloutsController. */
export async function startRolloutsController(opts: ControllerOptions): Promise<RolloutsController> {
  const [healthz, metrics] = await freePorts(2);
  const controller = new RolloutsController(opts, { healthz: healthz!, metrics: metrics! });
  await controller.start();
  return controller;
}
