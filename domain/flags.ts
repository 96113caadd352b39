/**
 * Feature flags as rollout steps: a flag's variant for a sticky fraction of a region's users, with
 * a kill switch that the rollback applies before anything else.
 */

export interface FlagSpec {
  key: string;
  /** Variant name -> value; values are what the service reads through OpenFeature. */
  variants: Record<string, string | number | boolean>;
  /** The variant every user gets when the flag is off; the rollback's first action sets it. */
  killSwitch: string;
  /** The variant users get outside the rolled-out fraction, normally the kill switch. */
  defaultVariant: string;
}

/** What a flag step asks of one region: `variant` for `fraction` percent of users, sticky by a key of the request. */
export interface FlagRollout {
  flag: string;
  variant: string;
  /** 0..100 percent of users. */
  fraction: number;
}

/** flagd in process: Meridian writes the region's flag file, which the service's flagd provider watches. */
export interface FlagdProvider {
  type: 'flagd';
  /** The region's flag file, a name the worker resolves to a path (never a path in the workflow input). */
  file: string;
}

/** Unleash through its admin API: one environment per region; the token is read by the worker from `tokenEnv`. */
export interface UnleashProvider {
  type: 'unleash';
  url: string;
  project: string;
  environment: string;
  tokenEnv: string;
}

export type FlagProvider = FlagdProvider | UnleashProvider;
