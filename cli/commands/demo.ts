import type { Command } from 'commander';
import { defaultUser } from '../context';
import { nonBlank, port } from '../options';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('roll examples/demo.yaml out on a local server and simulated fleet, nothing needed beforehand')
    .option('--no-fault', 'drop the scripted fault: the rollout should succeed')
    .option('--keep', 'leave the server and worker running afterwards, until Ctrl-C')
    .option('--port <port>', 'Temporal port of the local server (default 7233; a server already there is reused)', port)
    .option('--ui-port <port>', 'Web UI port of the local server (default 8233)', port)
    .option('--db-file <file>', 'SQLite file of the local server (default .meridian/temporal.db)', nonBlank)
    .option('--simulated-metrics', 'judge on the simulated fleet\'s metrics even when Prometheus is installed')
    .option('--kubernetes', 'roll out to the local Kubernetes test bed (npm run testbed) instead of the simulated fleet; starts it when it is down')
    .option('--release', 'roll out examples/release.yaml instead: orders and checkout, checkout after orders in each region, with a contract check (simulated metrics)')
    .option(
      '--edges',
      "roll out examples/edges.yaml instead: the demo behind two real Envoy edges (eu, us) with load through them; us-east-1's fault drains its share of the us edge to us-west-2 while the rollback runs (needs Envoy; simulated metrics)",
    )
    .option(
      '--flags',
      "roll out examples/flags.yaml instead: a flag step per region over real flagd flag files, read by a demo service per region; us-east-1's new path fails, so the rollback's first act is the kill switch (needs Prometheus; real metrics)",
    )
    .action(async (opts: { fault: boolean; keep?: boolean; port?: number; uiPort?: number; dbFile?: string; simulatedMetrics?: boolean; kubernetes?: boolean; release?: boolean; edges?: boolean; flags?: boolean }) => {
      const { runDemo } = await import('../demo');
      process.exitCode = await runDemo({
        fault: opts.fault,
        keep: opts.keep === true,
        startedBy: defaultUser() ?? 'demo',
        out: process.stdout,
        server: { port: opts.port, uiPort: opts.uiPort, dbFile: opts.dbFile },
        simulatedMetrics: opts.simulatedMetrics === true,
        kubernetes: opts.kubernetes === true,
        release: opts.release === true,
        edges: opts.edges === true,
        flags: opts.flags === true,
      });
    });

  program
    .command('rehearse')
    .description("rehearse a spec's rollback on a simulated fleet with scripted faults, on a Temporal dev server of its own (or the one --address names)")
    .argument('<spec>', 'rollout spec file (YAML)')
    .option('--scenario <file>', 'faults, one per line, same syntax as simulation.faults (default: the spec\'s own)')
    .option('--port <port>', 'Temporal port of the rehearsal\'s own server (default: a free port; a taken port is refused)', port)
    .option('--ui-port <port>', 'Web UI port of the rehearsal\'s own server (default: a free port)', port)
    .option('--db-file <file>', 'SQLite file of the rehearsal\'s own server (default: state in memory)', nonBlank)
    .action(async (specFile: string, opts: { scenario?: string; port?: number; uiPort?: number; dbFile?: string }, cmd: Command) => {
      const { runRehearsal } = await import('../rehearse');
      process.exitCode = await runRehearsal({
        specFile,
        scenarioFile: opts.scenario,
        startedBy: defaultUser() ?? 'rehearsal',
        out: process.stdout,
        ...explicitServer(cmd),
        port: opts.port,
        uiPort: opts.uiPort,
        dbFile: opts.dbFile,
      });
    });
}

/** `--address` and `--namespace` only when typed on the command line: a rehearsal never follows TEMPORAL_ADDRESS or a profile to a shared server. */
function explicitServer(cmd: Command): { address?: string; namespace?: string } {
  const typed = (key: string) => (cmd.getOptionValueSourceWithGlobals(key) === 'cli' ? cmd.optsWithGlobals<Record<string, string | undefined>>()[key] : undefined);
  return { address: typed('address'), namespace: typed('namespace') };
}
