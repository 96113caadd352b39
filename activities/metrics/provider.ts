import type { MetricSpec } from '../../src/domain/spec';

export interface MetricContext {
  rolloutId: string;
  service: string;
  version: string;
  region: string;
  role: 'canary' | 'stable';
}

/**
 * A source of metric values (Flagger's RunQuery/IsOnline). `query` resolves `undefined` when there
 * is no data (an Inconclusive verdict) and throws when the provider is down (an Error verdict).
 */
export interface MetricProvider {
  type: string;
  query(metric: MetricSpec, ctx: MetricContext): Promise<number | undefined>;
  isOnline?(): Promise<boolean>;
}
