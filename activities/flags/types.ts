import type { FlagProvider, FlagSnapshot, FlagSpec, JsonValue } from '../../domain/flags';

export type { FlagSnapshot, JsonValue };

/**
 * What a flag step asks of one region's flag: `variant` for `fraction` percent (0..100) of users,
 * sticky by the user's targeting key (a user on `variant` stays on it as `fraction` grows), every
 * other user on `flag.defaultVariant`.
 */
export interface FlagChange {
  flag: FlagSpec;
  variant: string;
  fraction: number;
}

/** The last change Meridian made to a flag: what `drift` compares the provider's flag against. */
export type FlagWrite = ({ action: 'apply' } & FlagChange) | { action: 'killSwitch'; flag: FlagSpec };

export interface FlagDrift {
  drifted: boolean;
  /** Empty when not drifted; otherwise short lines such as `targeting: expected …, found …`. */
  differences: string[];
}

/**
 * One flag service (flagd, Unleash) behind the same five calls; one implementation per provider
 * `type`. Every call names the region's provider config, never a path or a secret. Every change is
 * keyed: repeating a call with the same `key` changes nothing, and a change that would leave the flag
 * as it already is writes nothing. A change touches only the named flag.
 */
export interface FlagDriver<P extends FlagProvider = FlagProvider> {
  kind: P['type'];
  /** The flag as it is now, before any change of this rollout. */
  snapshot(provider: P, flagKey: string): Promise<FlagSnapshot>;
  /** Sets `change.variant` for `change.fraction` percent of users, the rest on the default variant. */
  apply(provider: P, change: FlagChange, key: string): Promise<void>;
  /** Every user gets `flag.killSwitch`; the rollback's first action, so it must not depend on anything else being reachable. */
  killSwitch(provider: P, flag: FlagSpec, key: string): Promise<void>;
  /** The flag exactly as `snapshot` found it; removed when it did not exist then. */
  restore(provider: P, snapshot: FlagSnapshot, key: string): Promise<void>;
  /** Whether someone changed the flag since Meridian's last write `expected`. */
  drift(provider: P, expected: FlagWrite): Promise<FlagDrift>;
}

