import { errorVerdict, judgeMetric } from '../domain/health';
import type { MetricSpec } from '../domain/spec';
import type { Verdict } from '../domain/status';
import type { ProviderRegistry } from './metrics/registry';
import type { BaselineInput, Baselines, HealthCheckInput } from './types';

interface Where {
  rolloutId: string;
  service: string;
  version: string;
  region: string;
  namespace?: string;
}

/**
 * Health of what runs before a region changes: the baselines relative thresholds refer to, and the
 * alarm blocker's check that a region is healthy before its wave touches it.
 */
export function createHealthActivities(providers: ProviderRegistry) {
  /** The running (stable) version's value of a metric in one region. */
  const readStable = (metric: MetricSpec, { rolloutId, service, version, region, namespace }: Where) =>
    providers.get(metric.provider.type).query(metric, { rolloutId, service, version, region, namespace, role: 'stable', ...(metric.service ? { owner: metric.service, ownerVersion: metric.serviceVersion } : {}) });

  return {
    async measureBaselines(input: BaselineInput): Promise<{ baselines: Baselines; notes: string[] }> {
      const baselines: Baselines = {};
      const notes: string[] = [];
      await Promise.all(
        input.regions.flatMap((region) =>
          input.metrics.map(async (metric) => {
            try {
              const value = await readStable(metric, { ...input, region: region.name, namespace: region.namespace });
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
      return Promise.all(
        input.metrics.map(async (metric) => {
          try {
            return judgeMetric(metric, await readStable(metric, input), at, input.baselines?.[metric.name]);
          } catch (err) {
            return errorVerdict(metric, err instanceof Error ? err.message : String(err), at);
          }
        }),
      );
    },
  };
}
