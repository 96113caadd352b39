import '../lib/require-node.js';
import { Command } from 'commander';
import { runScript } from '../lib/script-main';
import { defaultTestbedDir, readTestbed } from '../testbed';
import { controllerLogFile, ensureArgoRollouts, installRolloutsCrds, startRolloutsController } from './argo';

const log = (line: string) => process.stderr.write(`${line}\n`);
const out = (text: string) => process.stdout.write(text);

function buildProgram(): Command {
  const program = new Command('peers')
    .description('The tools Meridian is measured against, built from source and run against the test bed: Argo Rollouts')
    .option('--json', 'machine-readable output')
    .exitOverride();

  program
    .command('build')
    .description('build (first run) or find the cached Argo Rollouts controller and its CRDs; prints where they are')
    .action(async () => {
      const argo = await ensureArgoRollouts({ log });
      if (program.opts<{ json?: boolean }>().json) out(`${JSON.stringify(argo, null, 2)}\n`);
      else out(`controller: ${argo.controller}\ncrds: ${argo.crdFiles.join(', ')}\n`);
    });

  program
    .command('argo')
    .description('install the CRDs into one test-bed cluster and run the Argo Rollouts controller against it until interrupted')
    .requiredOption('--region <name>', 'the test-bed cluster (its kubeconfig context)')
    .option('--namespace <ns>', 'watch only this namespace (--namespaced); default every namespace')
    .option('--dir <dir>', 'test bed state dir (default: MERIDIAN_TESTBED_DIR or ~/.cache/meridian/testbed)')
    .action(async (opts: { region: string; namespace?: string; dir?: string }) => {
      const dir = opts.dir ?? defaultTestbedDir();
      const testbed = readTestbed(dir);
      if (!testbed) throw new Error(`no test bed runs from ${dir}; start one with: npm run testbed -- up`);
      const context = testbed.contexts[opts.region];
      if (!context) throw new Error(`--region ${opts.region} is not a test-bed cluster (clusters: ${Object.keys(testbed.contexts).join(', ')})`);
      const argo = await ensureArgoRollouts({ log });
      await installRolloutsCrds({ kubeconfig: testbed.kubeconfigPath, context, crdFiles: argo.crdFiles });
      const logFile = controllerLogFile(testbed, opts.region);
      const controller = await startRolloutsController({ binary: argo.controller, kubeconfig: testbed.kubeconfigPath, context, namespace: opts.namespace, logFile });
      log(`Argo Rollouts controller ready for ${context} (pid ${controller.pid}, healthz :${controller.ports.healthz}, metrics :${controller.ports.metrics}); log ${logFile}; Ctrl-C stops it`);
      // Ctrl-C reaches the controller too (same process group); it stops on its own then.
      let interrupted = false;
      const stop = new Promise<void>((resolve) => {
        for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => ((interrupted = true), resolve()));
      });
      const ended = await Promise.race([stop.then(() => 'stopped' as const), controller.exited()]);
      if (ended !== 'stopped' && !interrupted) throw new Error(`the controller exited (${ended}); see ${logFile}`);
      await controller.stop();
    });
  return program;
}

runScript('peers', buildProgram());
