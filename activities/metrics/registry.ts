import { FAILURE } from '../../domain/vocabulary';
import type { SimulatedFleet } from '../fleet/fleet';
import { sqlProvider } from '../postgres/sql-provider';
import { createRegistry, type Registry } from '../registry';
import { prometheusProvider } from './prometheus';
import type { MetricProvider } from './provider';
import { simulatedProvider } from './simulated';
import { webProvider } from './web';

export type ProviderRegistry = Registry<MetricProvider>;

/** The provider of every `provider.type`, one line each. */
export function registeredProviders(fleet: SimulatedFleet): MetricProvider[] {
  return [simulatedProvider(fleet), prometheusProvider(), webProvider(), sqlProvider()];
}

export function createProviderRegistry(providers: MetricProvider[]): ProviderRegistry {
  return createRegistry(providers, (p) => p.type, { noun: 'metric provider type', failureType: FAILURE.unknownMetricProvider });
}
