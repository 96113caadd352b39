import { ApplicationFailure } from '@temporalio/common';
import type { MetricProvider } from './provider';

export interface ProviderRegistry {
  types(): string[];
  has(type: string): boolean;
  /** Throws a non-retryable `UnknownMetricProvider` naming the known types. */
  get(type: string): MetricProvider;
}

export function createProviderRegistry(providers: MetricProvider[]): ProviderRegistry {
  const byType = new Map(providers.map((p) => [p.type, p]));
  return {
    types: () => [...byType.keys()],
    has: (type) => byType.has(type),
    get(type) {
      const provider = byType.get(type);
      if (!provider) {
        throw ApplicationFailure.nonRetryable(
          `unknown metric provider type "${type}" (known: ${[...byType.keys()].join(', ') || 'none'})`,
          'UnknownMetricProvider',
        );
      }
      return provider;
    },
  };
}
