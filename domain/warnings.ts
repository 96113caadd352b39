import type { RolloutSpec } from './spec';
import { IMAGE_DIGEST } from './spec-defaults';

/** Things a valid spec may do but an operator should know about; they never stop a rollout. */
export function specWarnings(spec: RolloutSpec): string[] {
  const out: string[] = [];
  if (spec.image !== undefined && !IMAGE_DIGEST.test(spec.image)) {
    out.push(`image: "${spec.image}" is not pinned by digest; a tag can point at different builds in different regions (use image@sha256:...)`);
  }
  return out;
}
