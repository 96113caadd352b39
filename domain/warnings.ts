import type { RolloutSpec } from './spec';
import { IMAGE_DIGEST } from './spec-defaults';

/** Things a valid spec may do but an operator should know about; they never stop a rollout. */
export function specWarnings(spec: RolloutSpec): string[] {
  const out: string[] = [];
  if (spec.image !== undefined && !IMAGE_DIGEST.test(spec.image)) {
    out.push(`image: "${spec.image}" is not pinned by digest; a tag can point at different builds in different regions (use image@sha256:...)`);
  }
  out.push(...flagStepWarnings(spec));
  return out;
}

/**
 * An analysis straight after a flag step judges the fraction before it: services pick a flag change
 * up on their own schedule (flagd's in-process provider reads its file every 5 s by default).
 */
function flagStepWarnings(spec: RolloutSpec): string[] {
  const lists: [string, RolloutSpec['steps'] | undefined][] = [
    ['steps', spec.steps],
    ...spec.waves.map((w, i): [string, RolloutSpec['steps'] | undefined] => [`waves[${i}].steps`, w.steps]),
    ...spec.regions.map((r, i): [string, RolloutSpec['steps'] | undefined] => [`regions[${i}].steps`, r.steps]),
  ];
  return lists.flatMap(([at, steps]) =>
    (steps ?? []).flatMap((s, i) =>
      s.kind === 'analysis' && steps![i - 1]?.kind === 'flag'
        ? [`${at}[${i}]: this analysis comes right after a flag step, before services may have picked the change up; put a pause between them as long as the flag provider's refresh (flagd in process: 5s by default)`]
        : [],
    ),
  );
}
