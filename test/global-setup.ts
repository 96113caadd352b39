import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { temporalExecutable, testServerExecutable } from '../lib/binaries';
import { provisionAll, realHost, summaryLine } from '../lib/tools';
import { ensureServerBinaries } from '../cluster/build';

const ROOT = resolve(import.meta.dirname, '..');
const WORKFLOWS_PATH = join(ROOT, 'workflows', 'index.ts');
const OUT_DIR = join(ROOT, '.meridian', 'test');
/** What the workflow bundle is built from; the bundle is rebuilt when any of it changes. */
const INPUTS = [join(ROOT, 'workflows'), join(ROOT, 'domain')];
const SDK_PACKAGE = join(ROOT, 'node_modules', '@temporalio', 'workflow', 'package.json');

function* sources(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (/\.[cm]?[jt]s$/.test(entry.name)) yield path;
  }
}

/** Bundles of older sources, kept a day in case another test run still uses one. */
function removeStaleBundles(keep: string): void {
  const cutoff = Date.now() - 24 * 3_600_000;
  for (const name of readdirSync(OUT_DIR)) {
    const path = join(OUT_DIR, name);
    if (path !== keep && name.startsWith('workflow-bundle.') && statSync(path).mtimeMs < cutoff) rmSync(path, { force: true });
  }
}

function inputsHash(): string {
  const hash = createHash('sha256');
  for (const dir of INPUTS) {
    if (!existsSync(dir)) continue;
    for (const file of sources(dir)) hash.update(file.slice(ROOT.length)).update(readFileSync(file));
  }
  if (existsSync(SDK_PACKAGE)) hash.update(readFileSync(SDK_PACKAGE));
  return hash.digest('hex').slice(0, 16);
}

const say = (line: string) => console.log(`[tools] ${line}`);

/**
 * Finds or installs, once per run, the programs the tests run for real, and exports where each is,
 * so every test worker uses the same binaries. A missing one is one line here, and the tests that
 * need it fail with that line.
 */
function provisionTools(): void {
  for (const outcome of provisionAll(realHost(process.env), say)) say(summaryLine(outcome));
  const servers = [
    ['temporal', 'TEMPORAL_CLI_PATH', temporalExecutable(say)],
    ['temporal-test-server', 'TEMPORAL_TEST_SERVER_PATH', testServerExecutable(say)],
  ] as const;
  for (const [name, variable, executable] of servers) {
    if (executable.type !== 'existing-path') {
      say(`${name}: not installed; the Temporal SDK downloads one when a test starts a server`);
      continue;
    }
    process.env[variable] = executable.path;
    say(`${name}: ${executable.path}`);
  }
}

/**
 * The Temporal server and schema tool of the local cluster, built once (about 10 min cold) before
 * any test file asks for them; when the build fails, the cluster tests fail with its error.
 */
async function provisionServer(): Promise<void> {
  try {
    const bins = await ensureServerBinaries({ log: say });
    say(`temporal-server: ${bins.server}`);
  } catch (err) {
    say(`temporal-server: not built (${err instanceof Error ? err.message.split('\n')[0] : err}); the cluster tests will fail`);
  }
}

/**
 * Provisions the external tools, then bundles the workflow code once per change of its sources and
 * hands the path to every test file through MERIDIAN_WORKFLOW_BUNDLE, so workers in tests skip webpack.
 */
export default async function setup(): Promise<void> {
  provisionTools();
  await provisionServer();
  if (!existsSync(WORKFLOWS_PATH)) {
    console.warn('workflows/index.ts is missing; workflow tests will have no bundle');
    return;
  }
  mkdirSync(OUT_DIR, { recursive: true });
  const file = join(OUT_DIR, `workflow-bundle.${inputsHash()}.js`);
  if (!existsSync(file)) {
    const logged: string[] = [];
    let code: string;
    try {
      ({ code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: collectingLogger(logged) }));
    } catch (err) {
      // Unit tests still run; workflow tests report this when they ask for the bundle.
      const details = logged.join('\n').split('\n').filter((l) => /^(ERROR in|Module not found|.*error TS\d+)/.test(l));
      const why = [err instanceof Error ? err.message : String(err), ...details.slice(0, 12)].join('\n');
      process.env.MERIDIAN_WORKFLOW_BUNDLE_ERROR = why;
      console.warn(`workflow code did not bundle; workflow tests will fail:\n${details.slice(0, 12).join('\n') || why}`);
      return;
    }
    // Written aside and renamed, so a concurrent run never reads half a bundle.
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, code);
    renameSync(partial, file);
    removeStaleBundles(file);
  }
  process.env.MERIDIAN_WORKFLOW_BUNDLE = file;
}

function collectingLogger(into: string[]) {
  const keep = (message: string) => void into.push(message);
  const drop = () => {};
  return { log: drop, trace: drop, debug: drop, info: keep, warn: keep, error: keep };
}
