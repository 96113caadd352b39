import { IMAGE_DIGEST } from './spec-defaults';

/**
 * Pods of each Deployment for a canary weight under the `replicas` strategy, rounded as Argo Rollouts
 * does for a canary without traffic routing: both sides round up, so at 0 < weight < 100 each side
 * has at least one pod and the total may exceed `total` by one during the rollout.
 */
export function replicaSplit(total: number, weight: number): { canary: number; stable: number } {
  const w = Math.min(100, Math.max(0, weight));
  return { canary: Math.ceil((total * w) / 100), stable: Math.ceil((total * (100 - w)) / 100) };
}

/** `sha256:…` of an image reference pinned by digest, or undefined for a tag. */
export function imageDigest(ref: string): string | undefined {
  return IMAGE_DIGEST.exec(ref)?.[1];
}

/** Where regions pin the image to different digests, one message naming each digest's regions. */
export function digestMismatch(images: { region: string; image: string }[]): string | undefined {
  const byDigest = new Map<string, string[]>();
  for (const { region, image } of images) {
    const digest = imageDigest(image);
    if (digest) byDigest.set(digest, [...(byDigest.get(digest) ?? []), region]);
  }
  if (byDigest.size <= 1) return undefined;
  const parts = [...byDigest].map(([d, regions]) => `${d.slice(0, 19)}… in ${regions.join(', ')}`);
  return `the image is pinned to different digests: ${parts.join('; ')}; every region must run the same bits`;
}

type Json = unknown;

/**
 * Field-by-field differences between two API objects, one line each. Lists whose items have a `name`
 * (containers, env, ports) are matched by name, as the API server's merge keys do.
 */
export function diffFields(before: Json, after: Json, path = ''): string[] {
  if (Object.is(before, after)) return [];
  if (Array.isArray(before) && Array.isArray(after)) {
    if (before.every(named) && after.every(named)) {
      const a = new Map(before.map((x) => [x.name, x]));
      const b = new Map(after.map((x) => [x.name, x]));
      const names = [...new Set([...a.keys(), ...b.keys()])];
      return names.flatMap((n) => diffFields(a.get(n), b.get(n), `${path}[${n}]`));
    }
    const n = Math.max(before.length, after.length);
    return Array.from({ length: n }, (_, i) => diffFields(before[i], after[i], `${path}[${i}]`)).flat();
  }
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => diffFields(before[k], after[k], path ? `${path}.${k}` : k));
  }
  if (before === undefined) return [`${path}: added ${show(after)}`];
  if (after === undefined) return [`${path}: removed (was ${show(before)})`];
  return [`${path}: ${show(before)} -> ${show(after)}`];
}

function named(x: unknown): x is { name: string } {
  return isObject(x) && typeof x.name === 'string';
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function show(x: Json): string {
  const text = JSON.stringify(x);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
