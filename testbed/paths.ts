import { homedir } from 'node:os';
import { join } from 'node:path';
import { KUBERNETES_VERSION } from './versions';

export interface CacheLayout {
  root: string;
  bin: string;
  crds: string;
  kwokStages: string;
  build: string;
  lock: string;
}

/** Built binaries and fetched manifests, shared by every test bed on this machine. */
export function cacheLayout(env: NodeJS.ProcessEnv = process.env): CacheLayout {
  const base = env.MERIDIAN_K8S_CACHE || join(homedir(), '.cache', 'meridian', 'k8s');
  const root = join(base, KUBERNETES_VERSION);
  return {
    root,
    bin: join(root, 'bin'),
    crds: join(root, 'crds'),
    kwokStages: join(root, 'kwok', 'stages.yaml'),
    build: join(root, 'build'),
    lock: join(root, '.build.lock'),
  };
}

export function defaultTestbedDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.MERIDIAN_TESTBED_DIR || join(homedir(), '.cache', 'meridian', 'testbed');
}
