import type { RolloutSpec } from './spec';

const DIGEST = /@sha256:[0-9a-f]{64}$/;

/** Things a valid spec may do but an operator should know about; they never stop a rollout. */
export function specWarnings(spec: RolloutSpec): string[] {
  const out: string[] = [];
  if (!DIGEST.test(spec.image)) {
    out.push(`image: "${spec.image}" is not pinned by digest; a tag can point at different builds in different regions (use image@sha256:...)`);
  }
  return out;
}
