import type { SimulatedFleet } from '../fleet/fleet';
import type { MetricProvider } from './provider';

/** Metrics of the simulated fleet: the rollout's baseline, or a scripted fault's value. */
export function simulatedProvider(fleet: SimulatedFleet): MetricProvider {
  return {
    type: 'simulated',
    query: async (metric, ctx) => fleet.metricValue(ctx.service, ctx.region, metric.name, ctx.role, ctx.rolloutId),
    samples: async (metric, ctx) => {
      const value = fleet.metricValue(ctx.service, ctx.region, metric.name, ctx.role, ctx.rolloutId);
      return value === undefined ? [] : spread(value);
    },
    isOnline: async () => true,
  };
}

/** A deterministic sample set around `value` (within +-2%), so a statistical test has something to rank. */
function spread(value: number, n = 20): number[] {
  return Array.from({ length: n }, (_, i) => value * (1 + (((i * 7) % 9) - 4) / 200));
}
