import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { downloadModule, findGo, runGo } from '../../lib/go';
import { withLock } from '../../lib/lock';
import { ARGO_ROLLOUTS_MODULE, ARGO_ROLLOUTS_VERSION } from './versions';

export type Log = (line: string) => void;

export interface ArgoRollouts {
  /** `cmd/rollouts-controller`, built from the module proxy. */
  controller: string;
  /** The module's `manifests/crds`: Rollout, AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun, Experiment. */
  crdFiles: string[];
}

export interface ArgoCache {
  root: string;
  bin: string;
  crds: string;
  /** The wrapper module the controller is built from. */
  src: string;
  logFile: string;
  lock: string;
}

/** Built once per release, beside the test bed's Kubernetes binaries; MERIDIAN_ARGO_CACHE moves it. */
export function argoCache(env: NodeJS.ProcessEnv = process.env): ArgoCache {
  const root = join(env.MERIDIAN_ARGO_CACHE || join(homedir(), '.cache', 'meridian', 'argo-rollouts'), ARGO_ROLLOUTS_VERSION);
  return {
    root,
    bin: join(root, 'bin'),
    crds: join(root, 'crds'),
    src: join(root, 'src'),
    logFile: join(root, 'build.log'),
    lock: join(root, '.build.lock'),
  };
}

const CONTROLLER_PACKAGE = `${ARGO_ROLLOUTS_MODULE}/cmd/rollouts-controller`;

function artifacts(cache: ArgoCache): ArgoRollouts {
  const crdFiles = existsSync(cache.crds)
    ? readdirSync(cache.crds).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(cache.crds, f))
    : [];
  return { controller: join(cache.bin, 'rollouts-controller'), crdFiles };
}

const complete = (a: ArgoRollouts) => existsSync(a.controller) && a.crdFiles.length > 0;

/** The module's `go` line and its whole `replace (…)` block (or single-line replaces), as written. */
export function wrapperGoMod(moduleGoMod: string): string {
  const go = /^go\s+(\S+)\s*$/m.exec(moduleGoMod)?.[1];
  if (!go) throw new Error(`no go directive in ${ARGO_ROLLOUTS_MODULE}@${ARGO_ROLLOUTS_VERSION}'s go.mod`);
  const blocks = [...moduleGoMod.matchAll(/^replace\s*\(\n[\s\S]*?^\)\s*$/gm)].map((m) => m[0].trim());
  const singles = [...moduleGoMod.matchAll(/^replace\s+[^(\s].*$/gm)].map((m) => m[0].trim());
  const replaces = [...blocks, ...singles];
  if (replaces.length === 0) throw new Error(`no replace directives in ${ARGO_ROLLOUTS_MODULE}@${ARGO_ROLLOUTS_VERSION}'s go.mod; build it with go install instead`);
  if (replaces.some((r) => /=>\s*\.{1,2}\//.test(r))) throw new Error(`${ARGO_ROLLOUTS_MODULE}@${ARGO_ROLLOUTS_VERSION} replaces a module with a local path, which a wrapper module cannot copy`);
  return `module meridian.local/argo-rollouts\n\ngo ${go}\n\nrequire ${ARGO_ROLLOUTS_MODULE} ${ARGO_ROLLOUTS_VERSION}\n\n${replaces.join('\n\n')}\n`;
}

/** Part of what the release Makefile stamps: `--version` and the startup line say v1.10.1+unknown (the module has no commit to stamp) rather than v99.99.99. */
function versionLdflags(): string {
  const pkg = `${ARGO_ROLLOUTS_MODULE}/utils/version`;
  return [`-X ${pkg}.version=${ARGO_ROLLOUTS_VERSION.slice(1)}`, `-X ${pkg}.gitTreeState=clean`].join(' ');
}

function copyCrds(moduleDir: string, cache: ArgoCache): void {
  const src = join(moduleDir, 'manifests', 'crds');
  const files = readdirSync(src).filter((f) => f.endsWith('-crd.yaml'));
  if (files.length === 0) throw new Error(`no CRD manifests in ${src}`);
  const tmp = `${cache.crds}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const f of files) copyFileSync(join(src, f), join(tmp, f));
  rmSync(cache.crds, { recursive: true, force: true });
  renameSync(tmp, cache.crds);
}

async function buildController(go: string, moduleGoMod: string, cache: ArgoCache, log: Log): Promise<void> {
  rmSync(cache.src, { recursive: true, force: true });
  mkdirSync(cache.src, { recursive: true });
  writeFileSync(join(cache.src, 'go.mod'), wrapperGoMod(readFileSync(moduleGoMod, 'utf8')));
  log(`resolving Argo Rollouts ${ARGO_ROLLOUTS_VERSION} modules (log: ${cache.logFile})`);
  await runGo(go, ['get', `${CONTROLLER_PACKAGE}@${ARGO_ROLLOUTS_VERSION}`], { cwd: cache.src, logFile: cache.logFile });
  log(`building rollouts-controller ${ARGO_ROLLOUTS_VERSION} … (first run only, about 8 min on 2 cores with empty Go caches)`);
  const out = join(cache.src, 'out');
  await runGo(go, ['build', `-ldflags=${versionLdflags()}`, '-o', join(out, 'rollouts-controller'), CONTROLLER_PACKAGE], {
    cwd: cache.src,
    logFile: cache.logFile,
    env: { CGO_ENABLED: '0' },
  });
  renameSync(join(out, 'rollouts-controller'), join(cache.bin, 'rollouts-controller'));
}

/**
 * The Argo Rollouts controller and its CRD manifests, from the cache; on first use built through the
 * Go module proxy from a wrapper module that requires the release and copies its `replace` block
 * (`go install` refuses a module with replaces), under a lock so concurrent callers wait for one build.
 */
export async function ensureArgoRollouts(opts: { log?: Log; env?: NodeJS.ProcessEnv } = {}): Promise<ArgoRollouts> {
  const log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
  const cache = argoCache(opts.env);
  if (complete(artifacts(cache))) return artifacts(cache);
  return withLock(
    cache.lock,
    async () => {
      if (complete(artifacts(cache))) return artifacts(cache);
      const go = findGo(opts.env);
      mkdirSync(cache.bin, { recursive: true });
      const started = Date.now();
      const mod = await downloadModule(go, ARGO_ROLLOUTS_MODULE, ARGO_ROLLOUTS_VERSION, cache.root);
      if (artifacts(cache).crdFiles.length === 0) copyCrds(mod.Dir, cache);
      if (!existsSync(artifacts(cache).controller)) await buildController(go, mod.GoMod, cache, log);
      const seconds = Math.round((Date.now() - started) / 1000);
      writeFileSync(join(cache.root, 'build.json'), `${JSON.stringify({ at: new Date().toISOString(), seconds }, null, 2)}\n`);
      log(`Argo Rollouts ${ARGO_ROLLOUTS_VERSION} ready in ${cache.bin} (${seconds} s)`);
      return artifacts(cache);
    },
    (holder) => log(`another process (pid ${holder}) is building Argo Rollouts; waiting for it`),
  );
}
