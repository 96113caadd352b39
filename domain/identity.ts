import { SERVICE_NAME, VERSION_TAG } from './spec-defaults';

/** The form each part of a rollout's identity must take, as the spec's errors state it. */
export const IDENTITY_FORMS = {
  service: 'lower-case letters, digits, "-" or ".", starting and ending with a letter or digit, at most 63 characters',
  version: 'an OCI image tag: letters, digits, "_", "." or "-", not starting with "." or "-", at most 128 characters',
} as const;

const PATTERNS = { service: SERVICE_NAME, version: VERSION_TAG } as const;

export type IdentityField = keyof typeof IDENTITY_FORMS;

/**
 * The service and version name the rollout's workflow id (`rollout/<service>/<version>`), its
 * search attributes and the UI, so both are held to a form no path, shell or query can misread.
 * Returns the first field that breaks its form, for a plan that did not come from a spec.
 */
export function identityProblem(plan: { service: unknown; version: unknown }): { field: IdentityField; message: string } | undefined {
  for (const field of ['service', 'version'] as const) {
    const value = plan[field];
    if (typeof value !== 'string' || !PATTERNS[field].test(value)) {
      return { field, message: `${field} ${JSON.stringify(value)} must be ${IDENTITY_FORMS[field]}` };
    }
  }
  return undefined;
}
