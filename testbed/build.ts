import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { downloadModule, findGo, runGo } from '../lib/go';
import { withLock } from '../lib/lock';
import { type CacheLayout, cacheLayout } from './paths';
import { GATEWAY_API_VERSION, KUBERNETES_VERSION, KWOK_VERSION, STAGING_VERSION } from './versions';

export interface Binaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kwok: string;
  /** Gateway API standard-channel CRD manifests. */
  crdFiles: string[];
  /** kwok Stage objects (node initialize + lease heartbeat, pod ready/complete/delete), passed with --config. */
  kwokStages: string;
}

export type Log = (line: string) => void;

const KUBE_COMMANDS = {
  'kube-apiserver': ['k8s.io/kubernetes/cmd/kube-apiserver/app', 'app.NewAPIServerCommand()'],
  'kube-controller-manager': ['k8s.io/kubernetes/cmd/kube-controller-manager/app', 'app.NewControllerManagerCommand()'],
  'kube-scheduler': ['k8s.io/kubernetes/cmd/kube-scheduler/app', 'app.NewSchedulerCommand()'],
} as const;

const ETCD_MAIN = `package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
`;

const KWOK_STAGE_FILES = [
  'kustomize/stage/node/fast/node-initialize.yaml',
  'kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml',
  'kustomize/stage/pod/fast/pod-ready.yaml',
  'kustomize/stage/pod/fast/pod-complete.yaml',
  'kustomize/stage/pod/fast/pod-delete.yaml',
];

const KUBE_BINARIES = ['etcd', ...Object.keys(KUBE_COMMANDS)];

function kubeMain(pkg: string, constructor: string): string {
  return `package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	"${pkg}"
)

func main() {
	os.Exit(cli.Run(${constructor}))
}
`;
}

/** Without these the binaries report v0.0.0-master on /version. */
function versionLdflags(): string {
  const [major, minor] = KUBERNETES_VERSION.slice(1).split('.');
  const pkg = 'k8s.io/component-base/version';
  return [`-X ${pkg}.gitVersion=${KUBERNETES_VERSION}`, `-X ${pkg}.gitMajor=${major}`, `-X ${pkg}.gitMinor=${minor}`, `-X ${pkg}.gitTreeState=clean`].join(' ');
}

function binaries(layout: CacheLayout): Binaries {
  const crdFiles = existsSync(layout.crds)
    ? readdirSync(layout.crds).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(layout.crds, f))
    : [];
  return {
    etcd: join(layout.bin, 'etcd'),
    kubeApiserver: join(layout.bin, 'kube-apiserver'),
    kubeControllerManager: join(layout.bin, 'kube-controller-manager'),
    kubeScheduler: join(layout.bin, 'kube-scheduler'),
    kwok: join(layout.bin, 'kwok'),
    crdFiles,
    kwokStages: layout.kwokStages,
  };
}

function missing(layout: CacheLayout): { kube: boolean; kwok: boolean; crds: boolean; stages: boolean } {
  return {
    kube: KUBE_BINARIES.some((b) => !existsSync(join(layout.bin, b))),
    kwok: !existsSync(join(layout.bin, 'kwok')),
    crds: binaries(layout).crdFiles.length === 0,
    stages: !existsSync(layout.kwokStages) || !readFileSync(layout.kwokStages, 'utf8').includes(READY_DELAY_ANNOTATION),
  };
}

/** The staging modules k8s.io/kubernetes replaces with ./staging/src/X, each pinned to its published tag instead. */
function stagingReplaces(kubernetesGoMod: string): string[] {
  const replaces = [...readFileSync(kubernetesGoMod, 'utf8').matchAll(/^\s*(\S+)\s+=>\s+\.\/staging\/src\/(\S+)\s*$/gm)].map((m) => m[1]);
  if (replaces.length === 0) throw new Error(`no staging replace directives found in ${kubernetesGoMod}`);
  return replaces.map((mod) => `\t${mod} => ${mod} ${STAGING_VERSION}`);
}

async function buildKube(go: string, layout: CacheLayout, log: Log): Promise<void> {
  const dir = join(layout.build, 'kube');
  const logFile = join(layout.build, 'kube-build.log');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const kubernetes = await downloadModule(go, 'k8s.io/kubernetes', KUBERNETES_VERSION, dir);
  writeFileSync(
    join(dir, 'go.mod'),
    `module meridian.local/k8sbin\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes ${KUBERNETES_VERSION}\n\nreplace (\n${stagingReplaces(kubernetes.GoMod).join('\n')}\n)\n`,
  );
  for (const [name, [pkg, constructor]] of Object.entries(KUBE_COMMANDS)) {
    mkdirSync(join(dir, 'cmd', name), { recursive: true });
    writeFileSync(join(dir, 'cmd', name, 'main.go'), kubeMain(pkg, constructor));
  }
  mkdirSync(join(dir, 'cmd', 'etcd'), { recursive: true });
  writeFileSync(join(dir, 'cmd', 'etcd', 'main.go'), ETCD_MAIN);
  log(`resolving Kubernetes ${KUBERNETES_VERSION} modules (log: ${logFile})`);
  await runGo(go, ['mod', 'tidy'], { cwd: dir, logFile });
  log(`building etcd, kube-apiserver, kube-controller-manager, kube-scheduler … (first run only, about 17 min on 2 cores)`);
  const out = join(dir, 'out');
  await runGo(go, ['build', `-ldflags=${versionLdflags()}`, '-o', `${out}/`, './cmd/...'], { cwd: dir, logFile });
  for (const name of KUBE_BINARIES) renameSync(join(out, name), join(layout.bin, name));
}

async function buildKwok(go: string, layout: CacheLayout, log: Log): Promise<void> {
  const out = join(layout.build, 'kwok-out');
  mkdirSync(out, { recursive: true });
  log(`building kwok ${KWOK_VERSION} … (first run only, about 5 min)`);
  await runGo(go, ['install', `sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}`], {
    cwd: layout.build,
    logFile: join(layout.build, 'kwok-build.log'),
    env: { GOBIN: out },
  });
  renameSync(join(out, 'kwok'), join(layout.bin, 'kwok'));
}

async function fetchCrds(go: string, layout: CacheLayout, log: Log): Promise<void> {
  log(`fetching Gateway API ${GATEWAY_API_VERSION} standard CRDs`);
  const mod = await downloadModule(go, 'sigs.k8s.io/gateway-api', GATEWAY_API_VERSION, layout.build);
  const src = join(mod.Dir, 'config', 'crd', 'standard');
  const files = readdirSync(src).filter((f) => f.endsWith('.yaml'));
  if (files.length === 0) throw new Error(`no CRD manifests in ${src}`);
  const tmp = `${layout.crds}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const f of files) copyFileSync(join(src, f), join(tmp, f));
  rmSync(layout.crds, { recursive: true, force: true });
  renameSync(tmp, layout.crds);
}

/** Pods become ready at once, unless their `READY_DELAY_ANNOTATION` (e.g. `8s`) holds them back, as kwok's slower stages allow. */
export const READY_DELAY_ANNOTATION = 'pod-ready.stage.kwok.x-k8s.io/delay';

function withReadyDelay(doc: string): string {
  const delay = `  delay:\n    durationMilliseconds: 0\n    durationFrom:\n      expressionFrom: '.metadata.annotations["${READY_DELAY_ANNOTATION}"]'\n  next:\n`;
  if (!doc.includes('\n  next:\n')) throw new Error('kwok pod-ready stage changed shape: no spec.next');
  return doc.replace('\n  next:\n', `\n${delay}`);
}

async function fetchKwokStages(go: string, layout: CacheLayout, log: Log): Promise<void> {
  log(`fetching kwok ${KWOK_VERSION} default stages`);
  const mod = await downloadModule(go, 'sigs.k8s.io/kwok', KWOK_VERSION, layout.build);
  const docs = KWOK_STAGE_FILES.map((f) => readFileSync(join(mod.Dir, f), 'utf8').trim()).map((doc, i) =>
    KWOK_STAGE_FILES[i]!.endsWith('pod-ready.yaml') ? withReadyDelay(doc) : doc,
  );
  mkdirSync(join(layout.kwokStages, '..'), { recursive: true });
  writeFileSync(`${layout.kwokStages}.tmp`, `${docs.join('\n---\n')}\n`);
  renameSync(`${layout.kwokStages}.tmp`, layout.kwokStages);
}

/**
 * The Kubernetes control-plane binaries, kwok, its stages and the Gateway API CRDs, from the cache;
 * whatever is missing is built or fetched once through the Go module proxy, under a lock so
 * concurrent callers wait for one build.
 */
export async function ensureBinaries(opts: { log?: Log; env?: NodeJS.ProcessEnv } = {}): Promise<Binaries> {
  const log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
  const layout = cacheLayout(opts.env);
  if (!Object.values(missing(layout)).some(Boolean)) return binaries(layout);
  return withLock(
    layout.lock,
    async () => {
      const todo = missing(layout);
      if (!Object.values(todo).some(Boolean)) return binaries(layout);
      const go = findGo(opts.env);
      mkdirSync(layout.bin, { recursive: true });
      mkdirSync(layout.build, { recursive: true });
      const started = Date.now();
      if (todo.crds) await fetchCrds(go, layout, log);
      if (todo.stages) await fetchKwokStages(go, layout, log);
      if (todo.kwok) await buildKwok(go, layout, log);
      if (todo.kube) await buildKube(go, layout, log);
      const seconds = Math.round((Date.now() - started) / 1000);
      log(`binaries ready in ${layout.bin} (${seconds} s)`);
      if (todo.kube || todo.kwok) {
        writeFileSync(join(layout.bin, '..', 'build.json'), `${JSON.stringify({ at: new Date().toISOString(), seconds, built: todo }, null, 2)}\n`);
      }
      return binaries(layout);
    },
    (holder) => log(`another process (pid ${holder}) is building the Kubernetes binaries; waiting for it`),
  );
}
