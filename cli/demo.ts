import { fileURLToPath } from 'node:url';
import { rolloutWorkflowId } from '../workflows/definitions';
import { parseFault } from '../domain/faults';
import { targetTraits } from '../domain/targets';
import type { ExitCode } from './exit-codes';
import type { LiveOutput } from './live';
import { loadSpecOrFail } from './load';
import type { ServerPlacement } from './sandbox';
import { runScenario } from './scenario';
import { startDemoMetrics } from './demo-metrics';
import type { RolloutPlan } from '../domain/plan';
import { kubernetesDemo, type Observe } from './demo-kubernetes';

export const DEMO_SPEC = fileURLToPath(new URL('../examples/demo.yaml', import.meta.url));
export const DEMO_FLEET_FILE = '.meridian/demo-fleet.json';
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
}

/** `20250102T030405`: sorts by time and keeps every run's workflow id unique. */
export function runStamp(date = new Date()): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
}

/** The regions the demo's faults make misbehave; the rollback must name them. */
export function faultRegions(faults: string[]): string[] {
  return [...new Set(faults.map(parseFault).flatMap((f) => ('error' in f ? [] : [f.region])))];
}

export async function runDemo(opts: DemoOptions): Promise<ExitCode> {
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
  const { code } = await runScenario({
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
  return code;
}
