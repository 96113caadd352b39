import { join, resolve } from 'node:path';
import { temporalExecutable, testServerExecutable } from '../lib/binaries';
import { provisionAll, realHost, summaryLine } from '../lib/tools';
import { ensureServerBinaries } from '../cluster/build';
import { ensureArgoRollouts } from '../peers/argo';
import { cachedWorkflowBundle } from '../worker/bundle';

const ROOT = resolve(import.meta.dirname, '..');
const OUT_DIR = join(ROOT, '.meridian', 'test');

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
 * The Argo Rollouts controller the peer tests run beside Meridian, built once (about 8 min cold)
 * like the Temporal server; when the build fails, the peer tests fail with its error.
 */
async function provisionPeers(): Promise<void> {
  try {
    const argo = await ensureArgoRollouts({ log: say });
    say(`rollouts-controller: ${argo.controller}`);
  } catch (err) {
    say(`rollouts-controller: not built (${err instanceof Error ? err.message.split('\n')[0] : err}); the peer tests will fail`);
  }
}

/**
 * Provisions the external tools, then bundles the workflow code once per change of its sources and
 * hands the path to every test file through MERIDIAN_WORKFLOW_BUNDLE, so workers in tests skip webpack.
 */
export default async function setup(): Promise<void> {
  provisionTools();
  await provisionServer();
  await provisionPeers();
  const logged: string[] = [];
  try {
    const { codePath } = await cachedWorkflowBundle({ dir: OUT_DIR, logger: collectingLogger(logged) });
    process.env.MERIDIAN_WORKFLOW_BUNDLE = codePath;
  } catch (err) {
    // Unit tests still run; workflow tests report this when they ask for the bundle.
    const details = logged.join('\n').split('\n').filter((l) => /^(ERROR in|Module not found|.*error TS\d+)/.test(l));
    const why = [err instanceof Error ? err.message : String(err), ...details.slice(0, 12)].join('\n');
    process.env.MERIDIAN_WORKFLOW_BUNDLE_ERROR = why;
    console.warn(`workflow code did not bundle; workflow tests will fail:\n${details.slice(0, 12).join('\n') || why}`);
  }
}

function collectingLogger(into: string[]) {
  const keep = (message: string) => void into.push(message);
  const drop = () => {};
  return { log: drop, trace: drop, debug: drop, info: keep, warn: keep, error: keep };
}
