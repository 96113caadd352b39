import '../lib/require-node.js';
import { Command } from 'commander';
import { runScript } from '../lib/script-main';
import { ensureBinaries } from './build';
import { defaultTestbedDir } from './paths';
import { loadState } from './state';
import { renderStatus, testbedStatus } from './status';
import { readTestbed, startTestbed, stopTestbed } from './testbed';

const log = (line: string) => process.stderr.write(`${line}\n`);
const out = (text: string) => process.stdout.write(text);

interface Common {
  dir?: string;
  json?: boolean;
}

async function printStatus(dir: string, json: boolean): Promise<boolean> {
  const state = loadState(dir);
  if (!state) {
    if (json) out(`${JSON.stringify({ dir, running: false, clusters: [] }, null, 2)}\n`);
    else out(`no test bed in ${dir}; start one with: npm run testbed -- up\n`);
    return false;
  }
  const status = await testbedStatus(state);
  const ready = status.clusters.every((c) => c.ready);
  if (json) out(`${JSON.stringify({ running: ready, ...status }, null, 2)}\n`);
  else out(renderStatus(status));
  return ready;
}

function buildProgram(): Command {
  const program = new Command('testbed')
    .description('Local Kubernetes control planes (etcd, kube-apiserver, controller-manager, scheduler, kwok) for Meridian, one per region')
    .option('--dir <dir>', 'state dir (default: MERIDIAN_TESTBED_DIR or ~/.cache/meridian/testbed)')
    .option('--json', 'machine-readable output')
    .exitOverride();
  const common = () => program.opts<Common>();

  program
    .command('up')
    .description('build the binaries on first use, start the clusters; prints status when already up')
    .option('--regions <names>', 'comma-separated cluster names', (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .action(async (opts: { regions?: string[] }) => {
      const dir = common().dir ?? defaultTestbedDir();
      const invoked = Date.now();
      const testbed = readTestbed(dir) ?? (await startTestbed({ dir, regions: opts.regions, log }));
      if (Date.parse(testbed.startedAt) < invoked) log('test bed already up');
      else log(`up in ${(testbed.startupMs / 1000).toFixed(1)} s; kubeconfig ${testbed.kubeconfigPath}`);
      if (!(await printStatus(dir, Boolean(common().json)))) process.exitCode = 1;
    });

  program
    .command('build')
    .description('build (first run) or find the cached binaries, CRDs and kwok stages; prints where they are')
    .action(async () => {
      const bins = await ensureBinaries({ log });
      if (common().json) out(`${JSON.stringify(bins, null, 2)}\n`);
      else out(`${Object.entries(bins).map(([k, v]) => `${k}: ${Array.isArray(v) ? `${v.length} files` : v}`).join('\n')}\n`);
    });

  program
    .command('status')
    .description('each cluster: ports, pids, health, memory')
    .action(async () => {
      if (!(await printStatus(common().dir ?? defaultTestbedDir(), Boolean(common().json)))) process.exitCode = 1;
    });

  program
    .command('down')
    .description('stop every process and remove the data dirs')
    .action(async () => {
      const dir = common().dir ?? defaultTestbedDir();
      await stopTestbed(dir);
      log(`stopped; removed the data in ${dir}`);
    });
  return program;
}

runScript('testbed', buildProgram());
