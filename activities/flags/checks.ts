import { ApplicationFailure } from '@temporalio/common';
import type { FlagSpec } from '../../domain/flags';
import { FAILURE } from '../../domain/vocabulary';
import type { FlagChange } from './types';

/** A flag whose kill switch and default are among its variants, else a non-retryable InvalidFlagChange. */
export function checkFlag(flag: FlagSpec): void {
  const names = Object.keys(flag.variants);
  for (const [role, name] of [['killSwitch', flag.killSwitch], ['defaultVariant', flag.defaultVariant]] as const) {
    if (!names.includes(name)) {
      throw ApplicationFailure.nonRetryable(`flag "${flag.key}": ${role} "${name}" is not one of its variants (${names.join(', ')})`, FAILURE.invalidFlagChange);
    }
  }
}

/** A change to a variant of the flag, for 0..100 percent of users, else a non-retryable InvalidFlagChange. */
export function checkChange(change: FlagChange): void {
  checkFlag(change.flag);
  const names = Object.keys(change.flag.variants);
  if (!names.includes(change.variant)) {
    throw ApplicationFailure.nonRetryable(`flag "${change.flag.key}": variant "${change.variant}" is not one of ${names.join(', ')}`, FAILURE.invalidFlagChange);
  }
  if (!(typeof change.fraction === 'number' && change.fraction >= 0 && change.fraction <= 100)) {
    throw ApplicationFailure.nonRetryable(`flag "${change.flag.key}": fraction must be 0..100 percent, got ${change.fraction}`, FAILURE.invalidFlagChange);
  }
}
