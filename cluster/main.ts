import '../lib/require-node.js';
import { Command } from 'commander';
import { runScript } from '../lib/script-main';
import { ensureServerBinaries } from './build';
import { readCluster, startCluster, stopCluster } from './cluster';
import { defaultClusterDir } from './paths';
import { clusterStatus, renderStatus } from './status';

const log = (line: string) => process.stderr.write(`${line}\n`);
const out = (text: string) => process.stdout.write(text);

interface Common {
  dir?: string;
  json?: boolean;
}

async function printStatus(dir: string, json: boolean): Promise<boolean> {
  const state = readCluster(dir);
  if (!state) {
    if (json) out(`${JSON.stringify({ dir, serving: false, processes: [] }, null, 2)}\n`);
    else out(`no cluster in ${dir}; start one with: npm run cluster -- up\n`);
    return false;
  }
  const status = await clusterStatus(state);
  const ok = status.serving && status.processes.every((p) => p.running) && status.missingSearchAttributes.length === 0;
  out(json ? `${JSON.stringify(status, null, 2)}\n` : renderStatus(status));
  return ok;
}

function buildProgram(): Command {
  const program = new Command('cluster')
    .description(
      'A local Temporal cluster on PostgreSQL: the server and its schema tool built from the Go module proxy, the history, matching, frontend and worker services each in a process of their own, Meridian\'s namespace and search attributes registered. Point Meridian at it with --address or TEMPORAL_ADDRESS.',
    )
    .option('--dir <dir>', 'state, logs and data (default: MERIDIAN_CLUSTER_DIR or ~/.cache/meridian/cluster)')
    .option('--json', 'machine-readable output')
    .exitOverride();
  const common = () => program.opts<Common>();
  const dir = () => common().dir ?? defaultClusterDir();

  program
    .command('up')
    .description('build the server on first use (about 10 min), start PostgreSQL and the services; prints status when already up')
    .option('--port <port>', 'the frontend gRPC port; the others follow Temporal\'s layout (history +1, matching +2, worker +6, membership -300, HTTP +10, PostgreSQL +199)', (v) => Number(v), 7233)
    .action(async (opts: { port: number }) => {
      const invoked = Date.now();
      const state = await startCluster({ dir: dir(), port: opts.port, log });
      if (Date.parse(state.startedAt) < invoked) log(`cluster already up at ${state.address}`);
      else log(`up in ${(state.startupMs / 1000).toFixed(1)} s at ${state.address}; use it with: meridian --address ${state.address} …, or TEMPORAL_ADDRESS=${state.address}`);
      if (!(await printStatus(dir(), Boolean(common().json)))) process.exitCode = 1;
    });

  program
    .command('status')
    .description('each process (pid, port, memory, CPU), whether the frontend serves, missing search attributes; exit 1 when not healthy')
    .action(async () => {
      if (!(await printStatus(dir(), Boolean(common().json)))) process.exitCode = 1;
    });

  program
    .command('down')
    .description('stop the services and PostgreSQL; --keep-data keeps the database for the next up')
    .option('--keep-data', 'keep the database (rollouts, histories) for the next up')
    .action(async (opts: { keepData?: boolean }) => {
      await stopCluster(dir(), { keepData: opts.keepData });
      if (common().json) out(`${JSON.stringify({ dir: dir(), stopped: true, keptData: Boolean(opts.keepData) })}\n`);
      else log(opts.keepData ? `stopped; the data in ${dir()} is kept` : `stopped; removed the data in ${dir()}`);
    });

  program
    .command('build')
    .description('build (first run) or find the cached server and schema tool; prints where they are')
    .action(async () => {
      const bins = await ensureServerBinaries({ log });
      out(common().json ? `${JSON.stringify(bins, null, 2)}\n` : `${Object.entries(bins).map(([k, v]) => `${k}: ${v}`).join('\n')}\n`);
    });
  return program;
}

runScript('cluster', buildProgram());
