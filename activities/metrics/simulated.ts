import type { SimulatedFleet } from '../fleet/fleet';
import type { MetricProvider } from './provider';

/** Metrics of the simulated fleet: the rollout's baseline, or a scripted fault's value. */
export function simulatedProvider(fleet: SimulatedFleet): MetricProvider {
  return {
    type: 'simulated',
    query: async (metric, ctx) => fleet.metricValue(ctx.service, ctx.region, metric.name, ctx.role, ctx.rolloutId),
    isOnline: async () => true,
  };
}
