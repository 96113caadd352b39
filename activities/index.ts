import { parseFault, type Fault } from '../domain/faults';
import { digestMismatch } from '../domain/kubernetes';
import type { MetricSpec, Target } from '../domain/spec';
import { targetTraits } from '../domain/targets';
import { createRunAnalysis } from './analysis';
import { checkReleaseContracts, recordReleaseContracts } from './release-contracts';
import { createDriverRegistry, registeredDrivers, type DriverRegistry, type TargetDriver } from './drivers';
import type { SimulatedFleet } from './fleet/fleet';
import { withSimulatedMetrics } from './fleet/simulated-metrics';
import { RolloutSimulations } from './fleet/simulations';
import { createHealthActivities } from './health';
import type { MetricProvider } from './metrics/provider';
import { createProviderRegistry, registeredProviders, type ProviderRegistry } from './metrics/registry';
import { createStatefulActivities } from './stateful';
import { createEdgeActivities } from './edges/activities';
import { registeredEdgeDrivers } from './edges/registry';
import type { EdgeDriver } from './edges/types';
import { createFlagActivities, registeredFlagDrivers } from './flags/activities';
import type { FlagDriver } from './flags/types';
import { createNotificationActivities } from './notifications/deliver';
import { createApproverActivities } from './approvers';
import type { PreflightInput, PreflightProblem, RolloutActivities } from './types';

export interface ActivityDeps {
  fleet: SimulatedFleet;
  /** Defaults to every registered provider (`metrics/registry.ts`), the simulated one over `fleet`. */
  providers?: MetricProvider[];
  /** Defaults to every registered driver (`drivers.ts`), the simulated one over `fleet`. */
  drivers?: TargetDriver[];
  /** Defaults to every registered edge driver (`edges/registry.ts`). */
  edgeDrivers?: EdgeDriver[];
  /** Defaults to every registered flag driver (`flags/activities.ts`). */
  flagDrivers?: FlagDriver[];
  /** A keyring file the worker enforces on every rollout's approvals (MERIDIAN_KEYRING). */
  keyring?: string;
}

/**
 * The activities over the drivers and providers. The simulated fleet takes part as a decorator:
 * every driver reports the weight it leaves to the fleet, so simulated metrics follow a real
 * target's traffic, and each rollout's scripted faults are registered once.
 */
export function createActivities(deps: ActivityDeps): RolloutActivities {
  const { fleet } = deps;
  const simulations = new RolloutSimulations(fleet);
  const providers = createProviderRegistry(deps.providers ?? registeredProviders(fleet));
  const drivers = createDriverRegistry((deps.drivers ?? registeredDrivers(fleet)).map((d) => withSimulatedMetrics(d, fleet)));
  const analyse = createRunAnalysis(providers);

  return {
    async preflight(input) {
      const { problems, faults } = await checkPreflight(input, drivers, providers);
      if (problems.length > 0) return problems;
      simulations.start(input, faults);
      return [];
    },
    snapshotRegion: async (input) => drivers.of(input.target).snapshot(input),
    deployCanary: async (input) => drivers.of(input.target).deployCanary(input),
    setWeight: async (input) => drivers.of(input.target).setWeight(input),
    promote: async (input) => drivers.of(input.target).promote(input),
    restoreTraffic: async (input) => drivers.of(input.target).restoreTraffic(input),
    restoreWorkload: async (input) => drivers.of(input.target).restoreWorkload(input),
    async runAnalysis(input) {
      simulations.ensure(input);
      return analyse(input);
    },
    checkContracts: (input) => checkReleaseContracts(input, drivers),
    recordContracts: (input) => recordReleaseContracts(input, drivers),
    ...createHealthActivities(providers),
    ...createStatefulActivities(),
    ...createEdgeActivities(deps.edgeDrivers ?? registeredEdgeDrivers()),
    ...createFlagActivities(deps.flagDrivers ?? registeredFlagDrivers()),
    ...createNotificationActivities(),
    ...createApproverActivities(deps.keyring),
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
    const missing = drivers.missing(r.target);
    if (missing) return [{ region: r.name, message: missing }];
    return (await drivers.of(r.target).preflight?.({ region: r.name, target: r.target })) ?? [];
  });
  for (const found of await Promise.all(checks)) problems.push(...found);
  // A region without a driver is reported above, and its kind may have no traits: it counts as the rollout's image.
  const imageOf = (target: Target) => (drivers.missing(target) ? undefined : targetTraits(target).image) || input.image;
  const images = input.regions.map((r) => ({ region: r.name, image: imageOf(r.target) }));
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
