import type { Problem } from './parse';
import { didYouMean } from './suggest';

/** How far a provider must have got in a region before a dependent's canary starts there. */
export const DEPENDENCY_POINTS = ['canary', 'promoted', 'baked'] as const;
export type DependencyPoint = (typeof DEPENDENCY_POINTS)[number];

export interface Dependency {
  service: string;
  until: DependencyPoint;
}

/** One service of a release, as the dependency graph sees it. */
export interface ServiceNode {
  name: string;
  dependsOn: Dependency[];
  /** Names of the contracts this service provides. */
  provides: string[];
  /** Names of the contracts it calls or reads. */
  consumes: string[];
  /** The regions where it has a target. */
  regions: string[];
}

export interface GraphContext {
  waves: { name: string; regions: string[] }[];
  /** Contracts the release consumes but no service of it provides: owned and rolled out elsewhere. */
  externalContracts: string[];
}

/** Every problem of the release's graph at once, each with the spec path it is written at. */
export function graphProblems(services: readonly ServiceNode[], ctx: GraphContext): Problem[] {
  return [
    ...duplicateNames(services),
    ...unknownDependencies(services),
    ...cycles(services),
    ...contractProblems(services, ctx.externalContracts),
    ...missingTargets(services, ctx.waves),
  ];
}

function duplicateNames(services: readonly ServiceNode[]): Problem[] {
  const first = new Map<string, number>();
  return services.flatMap((s, i) => {
    const at = first.get(s.name);
    if (at === undefined) {
      first.set(s.name, i);
      return [];
    }
    return [{ path: `services[${i}].name`, message: `service "${s.name}" is already defined at services[${at}]; service names must be unique` }];
  });
}

function unknownDependencies(services: readonly ServiceNode[]): Problem[] {
  const names = services.map((s) => s.name);
  return services.flatMap((s, i) =>
    s.dependsOn.flatMap((d, j) =>
      names.includes(d.service)
        ? []
        : [{ path: `services[${i}].dependsOn[${j}].service`, message: `"${s.name}" depends on unknown service "${d.service}"${didYouMean(d.service, names)}; services: ${names.join(', ')}` }],
    ),
  );
}

/** Strongly connected components with more than one member, or one member that depends on itself (Tarjan). */
export function dependencyCycles(services: readonly ServiceNode[]): string[][] {
  const byName = new Map(services.map((s) => [s.name, s]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (name: string): void => {
    index.set(name, next);
    low.set(name, next++);
    stack.push(name);
    onStack.add(name);
    for (const { service: to } of byName.get(name)!.dependsOn) {
      if (!byName.has(to)) continue;
      if (!index.has(to)) {
        visit(to);
        low.set(name, Math.min(low.get(name)!, low.get(to)!));
      } else if (onStack.has(to)) low.set(name, Math.min(low.get(name)!, index.get(to)!));
    }
    if (low.get(name) !== index.get(name)) return;
    const component: string[] = [];
    for (let member = stack.pop()!; ; member = stack.pop()!) {
      onStack.delete(member);
      component.push(member);
      if (member === name) break;
    }
    const selfLoop = byName.get(name)!.dependsOn.some((d) => d.service === name);
    if (component.length > 1 || selfLoop) found.push(orderCycle(component, byName));
  };
  for (const s of services) if (!index.has(s.name)) visit(s.name);
  return found;
}

/** The members in the order the dependencies run, starting from the first one declared. */
function orderCycle(members: string[], byName: Map<string, ServiceNode>): string[] {
  const set = new Set(members);
  const start = [...byName.keys()].find((n) => set.has(n))!;
  const ordered = [start];
  for (let at = start; ; ) {
    const to = byName.get(at)!.dependsOn.find((d) => set.has(d.service) && !ordered.includes(d.service))?.service;
    if (to === undefined) break;
    ordered.push(to);
    at = to;
  }
  return [...ordered, ...members.filter((m) => !ordered.includes(m))];
}

function cycles(services: readonly ServiceNode[]): Problem[] {
  const position = new Map(services.map((s, i) => [s.name, i]));
  return dependencyCycles(services).map((members) => ({
    path: `services[${position.get(members[0]!)}].dependsOn`,
    message: `dependency cycle: ${[...members, members[0]].join(' → ')}; one of these services must not wait for the next`,
  }));
}

function contractProblems(services: readonly ServiceNode[], external: readonly string[]): Problem[] {
  const providers = new Map<string, string>();
  const problems: Problem[] = [];
  services.forEach((s, i) =>
    s.provides.forEach((c, j) => {
      const other = providers.get(c);
      if (other !== undefined && other !== s.name) {
        problems.push({ path: `services[${i}].provides[${j}]`, message: `contract "${c}" is provided by both "${other}" and "${s.name}"; a contract has one provider` });
      } else providers.set(c, s.name);
    }),
  );
  const known = [...providers.keys(), ...external];
  services.forEach((s, i) =>
    s.consumes.forEach((c, j) => {
      if (known.includes(c)) return;
      problems.push({
        path: `services[${i}].consumes[${j}]`,
        message: `"${s.name}" consumes contract "${c}", which no service of the release provides${didYouMean(c, known)}; provide it, or list it under externalContracts if another team ships it`,
      });
    }),
  );
  return problems;
}

function missingTargets(services: readonly ServiceNode[], waves: GraphContext['waves']): Problem[] {
  return services.flatMap((s, i) =>
    waves.flatMap((w) =>
      w.regions
        .filter((r) => !s.regions.includes(r))
        .map((r) => ({ path: `services[${i}].targets`, message: `"${s.name}" has no target in region ${r} (wave ${w.name}); give it one under services[${i}].targets.${r}, or a default target for the region` })),
    ),
  );
}

/** One service's place in a region's release: what it waits for before its canary starts there. */
export interface ServiceStep {
  service: string;
  waitsFor: Dependency[];
}

/**
 * The order services roll out in one region: groups that may run in parallel, each after the groups
 * before it, with each service's waits. Only for a graph without problems.
 */
export function regionOrder(services: readonly ServiceNode[], region: string): ServiceStep[][] {
  const here = services.filter((s) => s.regions.includes(region));
  const present = new Set(here.map((s) => s.name));
  const level = new Map<string, number>();
  const visiting = new Set<string>();
  const depth = (s: ServiceNode): number => {
    const known = level.get(s.name);
    if (known !== undefined) return known;
    if (visiting.has(s.name)) throw new Error(`dependency cycle through "${s.name}" in ${region}; validate the release first`);
    visiting.add(s.name);
    const providers = s.dependsOn.filter((d) => present.has(d.service)).map((d) => here.find((p) => p.name === d.service)!);
    const value = providers.length === 0 ? 0 : 1 + Math.max(...providers.map(depth));
    level.set(s.name, value);
    return value;
  };
  const groups: ServiceStep[][] = [];
  for (const s of here) {
    const d = depth(s);
    (groups[d] ??= []).push({ service: s.name, waitsFor: s.dependsOn.filter((dep) => present.has(dep.service)) });
  }
  return groups.map((g) => g.sort((a, b) => a.service.localeCompare(b.service)));
}

/** The order a region's services roll back in: consumers before the providers they depend on. */
export function rollbackOrder(services: readonly ServiceNode[], region: string): string[] {
  return regionOrder(services, region)
    .reverse()
    .flatMap((g) => g.map((s) => s.service));
}
