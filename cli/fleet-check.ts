export interface FleetWorkload {
  image: string;
  config: Record<string, string>;
}

/** The part of a simulated region the checks read. */
export interface FleetRegion {
  stable: FleetWorkload;
  canary: FleetWorkload | null;
  weight: number;
}

function sameConfig(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/** Problems, one per region, when a region does not run exactly what it ran before the rollout. */
export function knownGoodProblems(before: Record<string, FleetRegion>, after: Record<string, FleetRegion | undefined>): string[] {
  const problems: string[] = [];
  for (const [name, was] of Object.entries(before)) {
    const now = after[name];
    if (!now) problems.push(`${name}: missing from the fleet`);
    else if (now.stable.image !== was.stable.image) problems.push(`${name}: runs ${now.stable.image}, known-good is ${was.stable.image}`);
    else if (!sameConfig(now.stable.config, was.stable.config)) problems.push(`${name}: config differs from the known-good config`);
    else if (now.canary) problems.push(`${name}: a canary (${now.canary.image}) is still deployed`);
    else if (now.weight !== was.weight) problems.push(`${name}: canary weight is ${now.weight}%, known-good is ${was.weight}%`);
  }
  return problems;
}

/** Problems when a stage (a region, or a service in a release's region) does not run its new image with all traffic. */
export function promotedProblems(images: Record<string, string>, after: Record<string, FleetRegion | undefined>): string[] {
  const problems: string[] = [];
  for (const [name, image] of Object.entries(images)) {
    const now = after[name];
    if (!now) problems.push(`${name}: missing from the fleet`);
    else if (now.stable.image !== image) problems.push(`${name}: runs ${now.stable.image}, expected ${image}`);
    else if (now.canary) problems.push(`${name}: a canary (${now.canary.image}) is still deployed`);
    else if (now.weight !== 100) problems.push(`${name}: weight is ${now.weight}%, expected 100%`);
  }
  return problems;
}
