import { errorVerdict, judgeMetric } from '../src/domain/health';
import type { MetricSpec } from '../src/domain/spec';
import type { Verdict } from '../src/domain/status';
import type { ProviderRegistry } from './metrics/registry';
import type { BaselineInput, Baselines, HealthCheckInput } from './types';

/**
 * Health of what runs before a region changes: the baselines relative thresholds refer to, and the
 * alarm blocker's check that a region is healthy before its wave touches it.
 */
export function createHealthActivities(providers: ProviderRegistry) {
  return {
    async measureBaselines(input: BaselineInput): Promise<{ baselines: Baselines; notes: string[] }> {
      const baselines: Baselines = {};
      const notes: string[] = [];
      await Promise.all(
        input.regions.flatMap((region) =>
          input.metrics.map(async (metric) => {
            try {
              const value = await providers.get(metric.provider.type).query(metric, {
                rolloutId: input.rolloutId,
                service: input.service,
                version: input.version,
                region: region.name,
                role: 'stable',
              });
              if (value === undefined || Number.isNaN(value)) notes.push(`${region.name}: ${metric.name} has no data before the rollout`);
              else (baselines[region.name] ??= {})[metric.name] = value;
            } catch (err) {
              notes.push(`${region.name}: ${metric.name} could not be read (${err instanceof Error ? err.message : String(err)})`);
            }
          }),
        ),
      );
      return { baselines, notes: notes.sort() };
    },

    async checkHealth(input: HealthCheckInput): Promise<Verdict[]> {
      const at = new Date().toISOString();
      return Promise.all(input.metrics.map((metric) => stableVerdict(providers, input, metric, at)));
    },
  };
}

async function stableVerdict(providers: ProviderRegistry, input: HealthCheckInput, metric: MetricSpec, at: string): Promise<Verdict> {
  try {
    const value = await providers.get(metric.provider.type).query(metric, {
      rolloutId: input.rolloutId,
      service: input.service,
      version: input.version,
      region: input.region,
      role: 'stable',
    });
    return judgeMetric(metric, value, at, input.baselines?.[metric.name]);
  } catch (err) {
    return errorVerdict(metric, err instanceof Error ? err.message : String(err), at);
  }
}
