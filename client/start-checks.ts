import { identityProblem, type IdentityField } from '../domain/identity';
import type { RolloutPlan } from '../domain/plan';
import { payloadTooLarge, type PayloadCheck } from './payload-size';

export class InvalidIdentityError extends Error {
  readonly field: IdentityField;

  constructor(
    field: IdentityField,
    message: string,
  ) {
    super(message);
    this.field = field;
    this.name = 'InvalidIdentityError';
  }
}

/**
 * What a start request must satisfy before it is sent, for plans that did not come through a
 * spec file too: a service and version fit for the workflow id, and input within the server's
 * payload limit. Throws InvalidIdentityError or PayloadTooLargeError.
 */
export function assertStartable(input: { plan: RolloutPlan }, opts: Omit<PayloadCheck, 'weighed' | 'what'> = {}): void {
  const identity = identityProblem(input.plan);
  if (identity) throw new InvalidIdentityError(identity.field, identity.message);
  const tooLarge = payloadTooLarge([input], { ...opts, what: 'the rollout input', weighed: input.plan });
  if (tooLarge) throw tooLarge;
}
