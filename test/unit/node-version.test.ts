import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeVersionProblem, REQUIRED_NODE_MAJOR } from '../../lib/node-version.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'meridian.js');

describe('nodeVersionProblem', () => {
  it.each([
    ['20.20.2', true, 'npx meridian'],
    ['22.12.0', false, 'npm install'],
    ['18.0.0', false, 'https://nodejs.org/en/download'],
  ])('refuses Node %s (bundled Node installed: %s) and names the fix', (found, bundled, fix) => {
    const problem = nodeVersionProblem(found, bundled);
    expect(problem).toBeDefined();
    expect(problem).not.toContain('\n');
    expect(problem).toContain(`Node.js ${found}`);
    expect(problem).toContain(`Node.js ${REQUIRED_NODE_MAJOR} or newer`);
    expect(problem).toContain(fix);
  });

  it.each(['24.0.0', '24.22.3', '25.1.0'])('accepts Node %s', (found) => {
    expect(nodeVersionProblem(found, true)).toBeUndefined();
  });
});

/** Runs an entry point on a Node that reports `version`, as Node 20 would. */
function runAs(version: string, args: string[]) {
  const pretend = `data:text/javascript,Object.defineProperty(process.versions,'node',{value:'${version}'})`;
  return spawnSync(process.execPath, ['--import', pretend, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
}

describe('entry points on an old Node', () => {
  it.each([
    ['the CLI', [BIN, 'status', 'rollout/x/1']],
    ['the CLI help', [BIN, '--help']],
    ...['cli/main.ts', 'testbed/main.ts'].map(
      (entry): [string, string[]] => [`${entry} as npm scripts run it`, ['--import', 'tsx', entry, '--help']],
    ),
  ])('%s stops with one line and exit 1, before any dependency loads', (_name, args) => {
    const run = runAs('20.20.2', args);
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.trimEnd().split('\n')).toEqual([nodeVersionProblem('20.20.2', existsSync(join(ROOT, 'node_modules', '.bin', 'node')))]);
  });

  const systemNode = ['/usr/bin/node', '/usr/local/bin/node'].find((path) => {
    if (!existsSync(path)) return false;
    const major = Number(execFileSync(path, ['-p', 'process.versions.node'], { encoding: 'utf8' }).split('.')[0]);
    return major < REQUIRED_NODE_MAJOR;
  });

  it.skipIf(!systemNode)('the machine’s own older Node gets the same one line', () => {
    const run = spawnSync(systemNode!, [BIN, '--help'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect(run.status).toBe(1);
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/^meridian: Node\.js \d+\.\d+\.\d+ cannot run Meridian/);
  });

  const bundlesNode = process.platform === 'linux' && ['x64', 'arm64'].includes(process.arch);
  it.skipIf(!bundlesNode)('npm scripts run on the Node that npm install brings', () => {
    const bundled = join(ROOT, 'node_modules', '.bin', 'node');
    expect(existsSync(bundled)).toBe(true);
    const major = Number(execFileSync(bundled, ['-p', 'process.versions.node'], { encoding: 'utf8' }).split('.')[0]);
    expect(major).toBeGreaterThanOrEqual(REQUIRED_NODE_MAJOR);
  });
});
