import { readFile } from 'node:fs/promises';
import { rolloutWorkflowId } from '../workflows/definitions';
import { parseFault } from '../domain/faults';
import type { RolloutPlan } from '../domain/plan';
import { runStamp } from './demo';
import { CliError, ExitCode } from './exit-codes';
import type { LiveOutput } from './live';
import { loadSpecOrFail } from './load';
import { runScenario } from './scenario';

export const REHEARSAL_FLEET_FILE = '.meridian/rehearsal-fleet.json';
export const REHEARSAL_TASK_QUEUE = 'meridian-rehearsal';

/** Fault lines of a scenario file: one per line, blank lines and `#` comments skipped, each checked. */
export function parseScenario(text: string, file: string): string[] {
  const faults: string[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const parsed = parseFault(line);
    if ('error' in parsed) problems.push(`${file}:${i + 1}: ${parsed.error}`);
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
  const regions = Object.fromEntries(
    Object.entries(plan.regions).map(([name, r]) => [name, { ...r, target: { kind: 'simulated' as const } }]),
  );
  return {
    ...plan,
    regions,
    failurePolicy: 'rollback-all',
    simulation: { faults, baseline: plan.simulation?.baseline ?? {} },
  };
}

export interface RehearseOptions {
  specFile: string;
  scenarioFile?: string;
  startedBy: string;
  out: LiveOutput;
}

export async function runRehearsal(opts: RehearseOptions): Promise<ExitCode> {
  const { plan } = await loadSpecOrFail(opts.specFile);
  let faults = plan.simulation?.faults ?? [];
  if (opts.scenarioFile) {
    let text: string;
    try {
      text = await readFile(opts.scenarioFile, 'utf8');
    } catch (err) {
      throw new CliError(`${opts.scenarioFile}: cannot read the scenario (${(err as Error).message}); check the path`, ExitCode.Usage);
    }
    faults = parseScenario(text, opts.scenarioFile);
  }
  if (faults.length === 0) {
    throw new CliError(
      `${opts.scenarioFile ?? opts.specFile}: no faults to rehearse; pass --scenario FILE with lines like "us-east-1: error_rate 0.08 when weight >= 25"`,
      ExitCode.Usage,
    );
  }
  opts.out.write(`Rehearsing the rollback of ${plan.service} ${plan.version} on a simulated fleet with: ${faults.join('; ')}\n`);
  return runScenario({
    plan: rehearsalPlan(plan, faults),
    id: rolloutWorkflowId(plan.service, `${plan.version}-rehearsal-${runStamp()}`),
    taskQueue: REHEARSAL_TASK_QUEUE,
    fleetFile: REHEARSAL_FLEET_FILE,
    expect: 'RolledBack',
    startedBy: opts.startedBy,
    keep: false,
    out: opts.out,
  });
}
