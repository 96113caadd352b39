import type { MetricSpec } from '../../domain/spec';

export interface MetricContext {
  rolloutId: string;
  service: string;
  version: string;
  region: string;
  role: 'canary' | 'stable';
  /** The region's namespace, for `{{namespace}}`: its `namespace` label. */
  namespace?: string;
  /**
   * In a release, the service the metric belongs to, which `{{service}}` names; `service` stays the
   * service whose stage judges it (a provider's stage may judge its consumer's metric).
   */
  owner?: string;
  /** The owner's new version, which `{{version}}` names with `owner`. */
  ownerVersion?: string;
}

/**
 * A source of metric values (Flagger's RunQuery/IsOnline). `query` resolves `undefined` when there
 * is no data (an Inconclusive verdict) and throws when the provider is down (an Error verdict).
 */
export interface MetricProvider {
  type: string;
  query(metric: MetricSpec, ctx: MetricContext): Promise<number | undefined>;
  /** One role's recent sample set, for a `compare` metric's statistical test; only some providers can. */
  samples?(metric: MetricSpec, ctx: MetricContext): Promise<number[]>;
  /** `metric` names which instance to ask, for providers whose address lives in the metric's spec. */
  isOnline?(metric?: MetricSpec): Promise<boolean>;
}
