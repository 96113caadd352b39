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
  /** The new version is safe with the flag at its kill switch. */
  safeWhenOff?: boolean;
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

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * A flag as it was before Meridian changed it, for an exact restore. `definition` is the flag in the
 * provider's own format, plain JSON (it travels in workflow history), or null when the flag did not
 * exist. Only the driver of `kind` reads it.
 */
export interface FlagSnapshot {
  kind: string;
  flagKey: string;
  definition: JsonValue | null;
}

/** A region's flag settings as the plan carries them: its provider with `{{region}}` filled in, and its cap. */
export interface RegionFlags {
  provider: FlagProvider;
  maxFraction?: number;
}

/** A rollout's flags as its workflows run them. */
export interface FlagPlan {
  flags: FlagSpec[];
  /** Every region with a provider. */
  regions: Record<string, RegionFlags>;
  onFailure: 'rollback' | 'killSwitchOnly';
}

/** Each flag's state in a region as the stage last set it. */
export type FlagStates = Record<string, { variant: string; fraction: number }>;
