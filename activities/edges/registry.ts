import type { EdgeSpec } from '../../domain/edges';
import { FAILURE } from '../../domain/vocabulary';
import { createRegistry } from '../registry';
import { envoyEdgeDriver } from './envoy';
import type { EdgeDriver } from './types';

/** The driver of every edge provider type, one line each. */
export function registeredEdgeDrivers(): EdgeDriver[] {
  return [envoyEdgeDriver()];
}

/** The edge drivers by `provider.type`; an unknown type throws a non-retryable `UnknownEdgeProvider` failure that names the known ones. */
export function createEdgeDriverRegistry(drivers: EdgeDriver[]): { of(edge: EdgeSpec): EdgeDriver } {
  const registry = createRegistry(drivers, (d) => d.kind, { noun: 'edge provider', failureType: FAILURE.unknownEdgeProvider });
  return { of: (edge) => registry.get(edge.provider.type) };
}
