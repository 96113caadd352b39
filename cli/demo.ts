import { fileURLToPath } from 'node:url';
import { rolloutWorkflowId } from '../workflows/definitions';
import { parseFault } from '../domain/faults';
import { faultWithoutService, mapUnits } from '../domain/release';
import { targetTraits } from '../domain/targets';
import { CliError, ExitCode } from './exit-codes';
import type { LiveOutput } from './live';
import { loadSpecOrFail } from './load';
import type { ServerPlacement } from './sandbox';
import { runScenario, type ScenarioResult } from './scenario';
import { startDemoMetrics } from './demo-metrics';
import type { RolloutPlan } from '../domain/plan';
import { kubernetesDemo, type Observe } from './demo-kubernetes';
import { EDGES_DEMO_SPEC, envoyBinary, startEdgeDemo } from './demo-edges';
import { FLAGS_DEMO_SPEC, prometheusBinary, startFlagDemo } from './demo-flags';

export const DEMO_SPEC = fileURLToPath(new URL('../examples/demo.yaml', import.meta.url));
export const RELEASE_DEMO_SPEC = fileURLToPath(new URL('../examples/release.yaml', import.meta.url));
export const DEMO_FLEET_FILE = '.meridian/demo-fleet.db';
export const DEMO_TASK_QUEUE = 'meridian-demo';

export interface DemoOptions {
  fault: boolean;
  keep: boolean;
  startedBy: string;
  out: LiveOutput;
  server?: ServerPlacement;
  /** Keep the simulated metrics even when Prometheus is at hand. */
  simulatedMetrics?: boolean;
  /** Roll out to the local Kubernetes test bed instead of the simulated fleet. */
  kubernetes?: boolean;
  /** Roll out examples/release.yaml, a release of two services, instead of examples/demo.yaml. */
  release?: boolean;
  /** Roll out examples/edges.yaml, the demo behind two real Envoy edges, instead of examples/demo.yaml. */
  edges?: boolean;
  /** Roll out examples/flags.yaml, the demo with a flag step whose new path fails in us-east-1, on real flag files, services and metrics. */
  flags?: boolean;
}

/** `20250102T030405`: sorts by time and keeps every run's workflow id unique. */
export function runStamp(date = new Date()): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
}

/** The regions the demo's faults make misbehave; the rollback must name them. */
export function faultRegions(faults: string[]): string[] {
  return [...new Set(faults.map((f) => parseFault(faultWithoutService(f))).flatMap((f) => ('error' in f ? [] : [f.region])))];
}

export async function runDemo(opts: DemoOptions): Promise<ExitCode> {
  if (opts.flags) return runFlagsDemo(opts);
  if (opts.edges) return runEdgesDemo(opts);
  if (opts.release) return runReleaseDemo(opts);
  const { plan } = await loadSpecOrFail(DEMO_SPEC);
  if (!opts.fault && plan.simulation) plan.simulation = { ...plan.simulation, faults: [] };
  const faults = plan.simulation?.faults ?? [];
  const expect = faults.length > 0 ? 'RolledBack' : 'Succeeded';
  const log = (line: string) => opts.out.write(`${line}\n`);
  const intro = (p: RolloutPlan, where: string) =>
    log(
      `Demo: ${p.service} ${p.version} over ${Object.keys(p.regions).length} ${where}; ` +
        (faults.length > 0 ? `scripted fault: ${(p.simulation?.faults ?? []).join('; ')}; expecting a rollback` : 'no faults; expecting success'),
    );
  if (opts.kubernetes) {
    // kwok's pods serve no traffic, so the metrics stay simulated; the faults follow the clusters' real weights.
    const initial = Object.values(plan.regions).map((r) => targetTraits(r.target).initial?.image).find(Boolean);
    const k8s = await kubernetesDemo(plan, initial ?? `${plan.service}:previous`, log);
    intro(k8s.plan, 'Kubernetes clusters of the local test bed');
    log('metrics: simulated, following each cluster\'s canary weight');
    return runDemoScenario(k8s.plan, expect, faultRegions(k8s.plan.simulation?.faults ?? []), opts, k8s.observe);
  }
  intro(plan, 'simulated regions');
  const real = opts.simulatedMetrics ? undefined : await startDemoMetrics(plan, DEMO_FLEET_FILE, log);
  if (!real) log('metrics: simulated (install Prometheus to run the demo on real metrics)');
  try {
    return await runDemoScenario(real?.plan ?? plan, expect, faults, opts);
  } finally {
    await real?.stop();
  }
}

async function runDemoScenario(plan: RolloutPlan, expect: 'RolledBack' | 'Succeeded', faults: string[], opts: DemoOptions, observe?: Observe): Promise<ExitCode> {
  return (await demoScenario(plan, expect, faults, opts, observe)).code;
}

function demoScenario(plan: RolloutPlan, expect: 'RolledBack' | 'Succeeded', faults: string[], opts: DemoOptions, observe?: Observe): Promise<ScenarioResult> {
  return runScenario({
    plan,
    id: rolloutWorkflowId(plan.service, `${plan.version}-demo-${runStamp()}`),
    taskQueue: DEMO_TASK_QUEUE,
    fleetFile: DEMO_FLEET_FILE,
    expect,
    causes: faultRegions(faults),
    startedBy: opts.startedBy,
    keep: opts.keep,
    out: opts.out,
    server: opts.server,
    observe,
  });
}

/**
 * The edges demo: examples/edges.yaml behind two real Envoy edges on loopback, demo services behind
 * them and load through them; the scripted fault drains us-east-1's share of the us edge to
 * us-west-2 while the rollback runs. Its metrics are simulated.
 */
async function runEdgesDemo(opts: DemoOptions): Promise<ExitCode> {
  if (opts.kubernetes) throw new CliError('--edges runs on the simulated fleet behind local Envoy edges; drop --kubernetes (the Kubernetes demo has no edges)', ExitCode.Usage);
  if (opts.release) throw new CliError('--edges rolls out examples/edges.yaml, one service behind two edges; drop --release', ExitCode.Usage);
  const envoy = envoyBinary();
  const { plan } = await loadSpecOrFail(EDGES_DEMO_SPEC);
  if (!opts.fault && plan.simulation) plan.simulation = { ...plan.simulation, faults: [] };
  const faults = plan.simulation?.faults ?? [];
  const log = (line: string) => opts.out.write(`${line}\n`);
  const edgeNames = (plan.edges?.edges ?? []).map((e) => `${e.name} (${e.routes.map((r) => r.region).join(', ')})`).join(' and ');
  log(
    `Demo: ${plan.service} ${plan.version} over ${Object.keys(plan.regions).length} simulated regions behind the Envoy edges ${edgeNames}; ` +
      (faults.length > 0 ? `scripted fault: ${faults.join('; ')}; expecting a rollback, with the failing region's edge share moved to its healthy neighbour meanwhile` : 'no faults; expecting success'),
  );
  const edges = await startEdgeDemo(plan, envoy, log);
  try {
    log('metrics: simulated, following each region\'s simulated canary weight; the edges, the services behind them and the traffic are real');
    const result = await demoScenario(edges.plan, faults.length > 0 ? 'RolledBack' : 'Succeeded', faults, opts);
    const { lines, problems } = await edges.report(result.status, faultRegions(faults));
    log('');
    for (const line of [...lines, ...(problems.length > 0 ? ['NOT as expected:', ...problems.map((p) => `  ${p}`)] : [])]) log(line);
    return result.code === ExitCode.Success && problems.length > 0 ? ExitCode.Unexpected : result.code;
  } finally {
    await edges.stop();
  }
}

/**
 * The flags demo: examples/flags.yaml with a flagd flag file per region, a demo service per region
 * that reads it through OpenFeature, load with named users, and Prometheus over the services; the
 * scripted fault makes us-east-1's new path fail, so the breach is behind the flag, and the
 * rollback's first act is every touched region's kill switch. Its metrics are real.
 */
async function runFlagsDemo(opts: DemoOptions): Promise<ExitCode> {
  const other = opts.kubernetes ? '--kubernetes' : opts.release ? '--release' : opts.edges ? '--edges' : undefined;
  if (other) throw new CliError(`--flags rolls out examples/flags.yaml on the simulated fleet with real flag files; drop ${other}`, ExitCode.Usage);
  if (opts.simulatedMetrics) {
    throw new CliError("--flags judges the new path's real errors on Prometheus; simulated metrics follow the canary weight, not the flag (rehearse examples/flags.yaml for that)", ExitCode.Usage);
  }
  prometheusBinary();
  const { plan } = await loadSpecOrFail(FLAGS_DEMO_SPEC);
  if (!opts.fault && plan.simulation) plan.simulation = { ...plan.simulation, faults: [] };
  const faults = plan.simulation?.faults ?? [];
  const log = (line: string) => opts.out.write(`${line}\n`);
  const flagKeys = (plan.flags?.flags ?? []).map((f) => f.key).join(', ');
  log(
    `Demo: ${plan.service} ${plan.version} over ${Object.keys(plan.regions).length} simulated regions with flag ${flagKeys}; ` +
      (faults.length > 0 ? `scripted fault: ${faults.join('; ')}, on the flag's new path; expecting a rollback whose first act is the kill switch` : 'no faults; expecting success'),
  );
  const flags = await startFlagDemo(plan, DEMO_FLEET_FILE, log);
  try {
    const result = await demoScenario(flags.plan, faults.length > 0 ? 'RolledBack' : 'Succeeded', faults, opts);
    const { lines, problems } = await flags.report(result.status, faults.length > 0);
    log('');
    for (const line of [...lines, ...(problems.length > 0 ? ['NOT as expected:', ...problems.map((p) => `  ${p}`)] : [])]) log(line);
    return result.code === ExitCode.Success && problems.length > 0 ? ExitCode.Unexpected : result.code;
  } finally {
    await flags.stop();
  }
}

/**
 * The release demo: orders and checkout over simulated regions, checkout after orders in each
 * region; the scripted fault breaks checkout's canary and both services roll back, checkout first.
 * Its metrics are simulated.
 */
async function runReleaseDemo(opts: DemoOptions): Promise<ExitCode> {
  if (opts.kubernetes) throw new CliError('--release runs on the simulated fleet; drop --kubernetes (the Kubernetes demo rolls out one service)', ExitCode.Usage);
  const loaded = (await loadSpecOrFail(RELEASE_DEMO_SPEC)).plan;
  const faults = opts.fault ? (loaded.simulation?.faults ?? []) : [];
  const plan = mapUnits(loaded, (p) => (p.simulation && !opts.fault ? { ...p, simulation: { ...p.simulation, faults: [] } } : p));
  const services = plan.release!.services.map((s) => `${s.name} ${s.plan.version}`).join(' and ');
  opts.out.write(
    `Demo: release ${plan.service} ${plan.version} of ${services} over ${Object.keys(plan.regions).length} simulated regions; ` +
      (faults.length > 0 ? `scripted fault: ${faults.join('; ')}; expecting both services to roll back, checkout first\n` : 'no faults; expecting success\n'),
  );
  opts.out.write('metrics: simulated\n');
  return runDemoScenario(plan, faults.length > 0 ? 'RolledBack' : 'Succeeded', faults, opts);
}
