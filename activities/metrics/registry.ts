import { createRegistry, type Registry } from '../registry';
import type { MetricProvider } from './provider';

export type ProviderRegistry = Registry<MetricProvider>;

export function createProviderRegistry(providers: MetricProvider[]): ProviderRegistry {
  return createRegistry(providers, (p) => p.type, { noun: 'metric provider type', failureType: 'UnknownMetricProvider' });
}
