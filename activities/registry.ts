import { ApplicationFailure } from '@temporalio/common';
import type { FailureType } from '../domain/vocabulary';

/** Implementations keyed by the spec's discriminator (`target.kind`, `provider.type`). */
export interface Registry<T> {
  keys(): string[];
  has(key: string): boolean;
  /** Throws a non-retryable ApplicationFailure of `failureType` that names the known keys. */
  get(key: string): T;
}

export function createRegistry<T>(
  items: T[],
  keyOf: (item: T) => string,
  unknown: { noun: string; failureType: FailureType },
): Registry<T> {
  const byKey = new Map(items.map((item) => [keyOf(item), item]));
  const known = () => [...byKey.keys()].join(', ') || 'none';
  return {
    keys: () => [...byKey.keys()],
    has: (key) => byKey.has(key),
    get(key) {
      const item = byKey.get(key);
      if (item === undefined) {
        throw ApplicationFailure.nonRetryable(`unknown ${unknown.noun} "${key}" (known: ${known()})`, unknown.failureType);
      }
      return item;
    },
  };
}
