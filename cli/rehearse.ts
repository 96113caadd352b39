import { readFile } from 'node:fs/promises';
import { rolloutWorkflowId } from '../workflows/definitions';
import { parseFault } from '../domain/faults';
import { faultWithoutService, mapUnits, RELEASE_FAULT, serviceFaults } from '../domain/release';
import type { RolloutPlan } from '../domain/plan';
import { runStamp } from './demo';
import { CliError, ExitCode } from './exit-codes';
import type { LiveOutput } from './live';
import { loadSpecOrFail } from './load';
import { freePorts, portFree } from '../lib/ports';
import type { ServerPlacement } from './sandbox';
import { runScenario, type ScenarioResult } from './scenario';

export const REHEARSAL_FLEET_FILE = '.meridian/rehearsal-fleet.db';
export const REHEARSAL_TASK_QUEUE = 'meridian-rehearsal';

/** Fault lines of a scenario file: one per line, blank lines and `#` comments skipped, each checked. */
export function parseScenario(text: string, file: string, services?: string[]): string[] {
  const faults: string[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const problem = services ? releaseFaultProblem(line, services) : undefined;
    const parsed = parseFault(services ? faultWithoutService(line) : line);
    if (problem) problems.push(`${file}:${i + 1}: ${problem}`);
    else if ('error' in parsed) problems.push(`${file}:${i + 1}: ${parsed.error}`);
    else faults.push(line);
  });
  if (problems.length > 0) throw new CliError(problems.join('\n'), ExitCode.Usage);
  return faults;
}

/**
 * The plan as a rehearsal runs it: every region simulated, the given faults, and rollback-all so a
 * fault anywhere exercises the rollback of every touched region.
 */
export function rehearsalPlan(plan: RolloutPlan, faults: string[]): RolloutPlan {
  return mapUnits(plan, (p, service) => ({
    ...p,
    regions: Object.fromEntries(Object.entries(p.regions).map(([name, r]) => [name, { ...r, target: { kind: 'simulated' as const } }])),
    failurePolicy: 'rollback-all',
    simulation: { faults: service === undefined ? faults : serviceFaults(faults, service), baseline: plan.simulation?.baseline ?? {} },
  }));
}

/** A release's scenario line names one of its services: `checkout/us-east-1: ...`. */
function releaseFaultProblem(line: string, services: string[]): string | undefined {
  const m = RELEASE_FAULT.exec(line);
  if (!m) return `in a release, a fault names its service: "<service>/${line}" (services: ${services.join(', ')})`;
  return services.includes(m[1]!) ? undefined : `unknown service "${m[1]}" (services: ${services.join(', ')})`;
}

/** Where a rehearsal runs: on the server at an address given explicitly, else on a server of its own. */
export interface RehearsalServerOptions {
  /** `--address`, only when given on the command line; TEMPORAL_ADDRESS and config profiles never choose it. */
  address?: string;
  namespace?: string;
  port?: number;
  uiPort?: number;
  /** Keep the rehearsal's server state in this file; in memory when absent. */
  dbFile?: string;
}

/**
 * The server a rehearsal runs on. Without an explicit address it starts a dev server of its own, on
 * free ports (`free`) unless told which, in memory unless given a file, and never reuses a server it
 * finds on its port: a rehearsal must not land on a shared Temporal.
 */
export function rehearsalServer(opts: RehearsalServerOptions, free: [number, number]): ServerPlacement {
  if (opts.address) return { address: opts.address, namespace: opts.namespace };
  return {
    port: opts.port ?? free[0],
    uiPort: opts.uiPort ?? free[1],
    ...(opts.dbFile ? { dbFile: opts.dbFile } : { inMemory: true }),
    reuse: false,
    namespace: opts.namespace,
  };
}

export interface RehearseOptions extends RehearsalServerOptions {
  specFile: string;
  scenarioFile?: string;
  /** The simulated fleet's state file; defaults to {@link REHEARSAL_FLEET_FILE}. */
  fleetFile?: string;
  startedBy: string;
  out: LiveOutput;
}

export async function runRehearsal(opts: RehearseOptions): Promise<ExitCode> {
  return (await rehearse(opts)).code;
}

async function placement(opts: RehearsalServerOptions): Promise<ServerPlacement> {
  if (!opts.address && opts.port !== undefined && !(await portFree(opts.port))) {
    throw new CliError(
      `port ${opts.port} is taken; a rehearsal starts a server of its own, so pick a free --port, or pass --address 127.0.0.1:${opts.port} to rehearse on the server there`,
      ExitCode.Usage,
    );
  }
  const free = await freePorts(2);
  return rehearsalServer(opts, [free[0]!, free[1]!]);
}

/** Runs the rehearsal and returns how it ended, with the rollout's id, server and last status. */
export async function rehearse(opts: RehearseOptions): Promise<ScenarioResult> {
  const { plan } = await loadSpecOrFail(opts.specFile);
  let faults = plan.simulation?.faults ?? [];
  if (opts.scenarioFile) {
    let text: string;
    try {
      text = await readFile(opts.scenarioFile, 'utf8');
    } catch (err) {
      throw new CliError(`${opts.scenarioFile}: cannot read the scenario (${(err as Error).message}); check the path`, ExitCode.Usage);
    }
    faults = parseScenario(text, opts.scenarioFile, plan.release?.services.map((x) => x.name));
  }
  if (faults.length === 0) {
    throw new CliError(
      `${opts.scenarioFile ?? opts.specFile}: no faults to rehearse; pass --scenario FILE with lines like "us-east-1: error_rate 0.08 when weight >= 25" (in a release, "checkout/us-east-1: ...")`,
      ExitCode.Usage,
    );
  }
  const server = await placement(opts);
  opts.out.write(`Rehearsing the rollback of ${plan.service} ${plan.version} on a simulated fleet with: ${faults.join('; ')}\n`);
  return runScenario({
    plan: rehearsalPlan(plan, faults),
    id: rolloutWorkflowId(plan.service, `${plan.version}-rehearsal-${runStamp()}`),
    taskQueue: REHEARSAL_TASK_QUEUE,
    fleetFile: opts.fleetFile ?? REHEARSAL_FLEET_FILE,
    expect: 'RolledBack',
    startedBy: opts.startedBy,
    keep: false,
    out: opts.out,
    server,
  });
}
