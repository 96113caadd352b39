import { parseFault, type Fault } from '../domain/faults';
import { createRunAnalysis } from './analysis';
import { createHealthActivities } from './health';
import { createDriverRegistry, simulatedDriver, type DriverRegistry, type TargetDriver } from './drivers';
import type { SimulatedFleet } from './fleet/fleet';
import type { MetricProvider } from './metrics/provider';
import { createProviderRegistry, type ProviderRegistry } from './metrics/registry';
import { prometheusProvider } from './metrics/prometheus';
import { simulatedProvider } from './metrics/simulated';
import { webProvider } from './metrics/web';
import type { MetricSpec } from '../domain/spec';
import type { PreflightInput, PreflightProblem, RegionRef, RolloutActivities } from './types';
import { kubernetesDriver } from './kubernetes/driver';
import { sqlProvider } from './postgres/sql-provider';
import { createStatefulActivities } from './stateful';
import { digestMismatch } from '../domain/kubernetes';

export interface ActivityDeps {
  fleet: SimulatedFleet;
  /** Defaults to the simulated provider over `fleet`, Prometheus, web and sql. */
  providers?: MetricProvider[];
  /** Defaults to the simulated driver over `fleet`. */
  drivers?: TargetDriver[];
}

export function createActivities(deps: ActivityDeps): RolloutActivities {
  const { fleet } = deps;
  const providers = createProviderRegistry(deps.providers ?? [simulatedProvider(fleet), prometheusProvider(), webProvider(), sqlProvider()]);
  const drivers = createDriverRegistry(deps.drivers ?? [simulatedDriver(fleet), kubernetesDriver()]);
  /** Simulated metrics follow the weight whatever the target, so a real target can be rehearsed with scripted faults. */
  const observe = (ref: RegionRef, weight: number) => {
    if (ref.target.kind !== 'simulated') fleet.observeWeight(ref.service, ref.region, weight);
  };
  const analyse = createRunAnalysis(providers);

  return {
    async preflight(input) {
      const { problems, faults } = await checkPreflight(input, drivers, providers);
      if (problems.length > 0) return problems;
      fleet.registerRollout(input.rolloutId, { faults, baseline: input.simulation?.baseline ?? {}, image: input.image });
      for (const r of input.regions) {
        if (r.target.kind === 'simulated') fleet.seedRegion(input.service, r.name, r.target, input.image);
      }
      return [];
    },
    snapshotRegion: async (input) => drivers.get(input.target.kind).snapshot(input),
    deployCanary: async (input) => drivers.get(input.target.kind).deployCanary(input),
    async setWeight(input) {
      await drivers.get(input.target.kind).setWeight(input);
      observe(input, input.weight);
    },
    async promote(input) {
      await drivers.get(input.target.kind).promote(input);
      observe(input, 100);
    },
    async restoreTraffic(input) {
      await drivers.get(input.target.kind).restoreTraffic(input);
      observe(input, input.weight);
    },
    async restoreWorkload(input) {
      await drivers.get(input.target.kind).restoreWorkload(input);
      observe(input, input.snapshot.weight);
    },
    async runAnalysis(input) {
      if (input.simulation) {
        const faults = input.simulation.faults.map(parseFault).filter((f): f is Fault => !('error' in f));
        fleet.registerRollout(input.rolloutId, { faults, baseline: input.simulation.baseline }, { keepExisting: true });
      }
      return analyse(input);
    },
    ...createHealthActivities(providers),
    ...createStatefulActivities(),
  };
}

/** Every region has a driver, every metric an online provider, every fault parses and names a region and metric of the rollout. */
async function checkPreflight(
  input: PreflightInput,
  drivers: DriverRegistry,
  providers: ProviderRegistry,
): Promise<{ problems: PreflightProblem[]; faults: Fault[] }> {
  const problems: PreflightProblem[] = [];
  const checks = input.regions.map(async (r) => {
    if (!drivers.has(r.target.kind)) {
      return [{ region: r.name, message: `target kind "${r.target.kind}" has no driver (known: ${drivers.keys().join(', ')})` }];
    }
    return (await drivers.get(r.target.kind).preflight?.({ region: r.name, target: r.target })) ?? [];
  });
  for (const found of await Promise.all(checks)) problems.push(...found);
  const images = input.regions.map((r) => ({ region: r.name, image: (r.target.kind === 'kubernetes' && r.target.image) || input.image }));
  const mismatch = digestMismatch(images);
  if (mismatch) problems.push({ message: mismatch });
  for (const m of input.metrics) {
    const type = m.provider.type;
    if (!providers.has(type)) {
      problems.push({ message: `metric "${m.name}": provider type "${type}" is not registered (known: ${providers.keys().join(', ')})` });
      continue;
    }
    if (m.kind === 'compare' && !providers.get(type).samples) {
      problems.push({ message: `metric "${m.name}": provider type "${type}" cannot give the sample sets a compare metric needs` });
      continue;
    }
    const offline = await offlineReason(providers.get(type), m);
    if (offline) problems.push({ message: `metric "${m.name}": provider "${type}" is offline (${offline})` });
  }

  const regions = new Set(input.regions.map((r) => r.name));
  const metrics = new Set(input.metrics.map((m) => m.name));
  const faults: Fault[] = [];
  (input.simulation?.faults ?? []).forEach((line, index) => {
    const fault = parseFault(line);
    if ('error' in fault) problems.push({ message: `faults[${index}]: ${fault.error}` });
    else if (!regions.has(fault.region)) {
      problems.push({ message: `faults[${index}]: region "${fault.region}" is not part of this rollout (regions: ${[...regions].join(', ')})` });
    } else if (fault.kind === 'metric' && !metrics.has(fault.metric)) {
      problems.push({
        region: fault.region,
        message: `faults[${index}]: metric "${fault.metric}" is not one of the rollout's metrics (${[...metrics].join(', ') || 'none'})`,
      });
    } else faults.push(fault);
  });
  return { problems, faults };
}

async function offlineReason(provider: MetricProvider, metric: MetricSpec): Promise<string | undefined> {
  if (!provider.isOnline) return undefined;
  try {
    return (await provider.isOnline(metric)) ? undefined : 'it reports itself offline';
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

export { SimulatedFleet } from './fleet';
export type { MetricContext, MetricProvider } from './metrics/provider';
export type { TargetDriver } from './drivers';
