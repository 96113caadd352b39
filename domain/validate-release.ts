import { formatPath, parsePath, type PathSegment } from './parse';
import { RELEASE_FAULT } from './release';
import { graphProblems, type Dependency, type ServiceNode } from './release-graph';
import { isRec, list, text, type Add, type Rec } from './raw-input';
import { IMAGE_DIGEST } from './spec-defaults';
import { didYouMean } from './suggest';

/** What a one-service spec must have that a release gives each service instead. */
export function oneServiceProblems(input: Rec, add: Add): void {
  if (input.image === undefined) add(['image'], 'required field is missing');
  list(input.regions).forEach((r, i) => {
    if (isRec(r) && r.target === undefined) add(['regions', i, 'target'], 'required field is missing');
  });
}

/**
 * A release's problems beyond the schema: the dependency graph (cycles, unknown services, contracts
 * nobody provides, services without a target in a region of a wave), images by digest, targets in
 * known regions, metrics owned by a service of the release, and scripted faults that name a service.
 * Returns every metric name of the release, for the checks of analysis steps.
 */
export function releaseProblems(input: Rec, regionNames: string[], add: Add): string[] {
  const services = list(input.services);
  const serviceNames = services.flatMap((s) => (isRec(s) && typeof s.name === 'string' ? [s.name] : []));
  if (input.image !== undefined) add(['image'], 'a release gives each service its own image: move it to services[].image');
  for (const field of ['migrations', 'reconciliations'] as const) {
    if (list(input[field]).length > 0) add([field], `in a release, ${field} belong to the service that owns the data: move them under services[].${field}`);
  }
  services.forEach((s, i) => {
    if (!isRec(s)) return;
    const image = text(s.image);
    if (image && !IMAGE_DIGEST.test(image)) {
      add(['services', i, 'image'], `"${image}" is not pinned by digest; a release checks contracts between exact builds, so give image@sha256:...`);
    }
    list(s.migrations).forEach((m, k) => {
      if (isRec(m) && m.phase === 'contract') {
        add(['services', i, 'migrations', k, 'phase'], 'contract migrations are not run in a release yet: ship this one in a one-service rollout of this service after the release');
      }
    });
    if (isRec(s.targets)) {
      for (const region of Object.keys(s.targets)) {
        if (!regionNames.includes(region)) add(['services', i, 'targets', region], `unknown region "${region}"${didYouMean(region, regionNames) || ` (regions: ${regionNames.join(', ')})`}`);
      }
    }
  });
  const nodes = services.map((s) => serviceNode(s, input));
  const waves = list(input.waves).flatMap((w, i) => (isRec(w) ? [{ name: text(w.name) ?? `wave-${i + 1}`, regions: list(w.regions).filter((r): r is string => typeof r === 'string' && regionNames.includes(r)) }] : []));
  const externalContracts = list(input.externalContracts).filter((c): c is string => typeof c === 'string');
  for (const p of graphProblems(nodes, { waves, externalContracts })) add(parsePath(p.path), p.message);
  const metrics = metricNames(input, serviceNames, add);
  if (isRec(input.simulation)) releaseFaults(list(input.simulation.faults), serviceNames, add);
  return metrics;
}

function serviceNode(s: unknown, input: Rec): ServiceNode {
  const svc = isRec(s) ? s : {};
  const targets = isRec(svc.targets) ? Object.keys(svc.targets) : [];
  const defaults = list(input.regions).flatMap((r) => (isRec(r) && r.target !== undefined && typeof r.name === 'string' ? [r.name] : []));
  return {
    name: text(svc.name) ?? '',
    dependsOn: list(svc.dependsOn).flatMap((d): Dependency[] =>
      isRec(d) && typeof d.service === 'string' ? [{ service: d.service, until: (text(d.until) ?? 'promoted') as Dependency['until'] }] : [],
    ),
    provides: list(svc.provides).flatMap((c) => (isRec(c) && typeof c.contract === 'string' ? [c.contract] : [])),
    consumes: list(svc.consumes).flatMap((c) => (isRec(c) && typeof c.contract === 'string' ? [c.contract] : [])),
    regions: [...new Set([...targets, ...defaults])],
  };
}

/** Metric names are unique across the release, and a release-level metric names a service of it. */
function metricNames(input: Rec, serviceNames: string[], add: Add): string[] {
  const seen = new Map<string, string>();
  const note = (m: unknown, at: PathSegment[]) => {
    if (!isRec(m) || typeof m.name !== 'string') return;
    const where = seen.get(m.name);
    if (where !== undefined) add([...at, 'name'], `duplicate metric name "${m.name}" (also ${where}); metric names are unique across the release`);
    else seen.set(m.name, formatPath(at));
  };
  list(input.metrics).forEach((m, i) => {
    note(m, ['metrics', i]);
    if (!isRec(m)) return;
    const owner = text(m.service);
    if (owner === undefined) add(['metrics', i, 'service'], `in a release, a metric belongs to a service: name one of ${serviceNames.join(', ')}, or move the metric under that service's metrics`);
    else if (!serviceNames.includes(owner)) add(['metrics', i, 'service'], `unknown service "${owner}"${didYouMean(owner, serviceNames) || ` (services: ${serviceNames.join(', ')})`}`);
  });
  list(input.services).forEach((s, i) => isRec(s) && list(s.metrics).forEach((m, k) => note(m, ['services', i, 'metrics', k])));
  return [...seen.keys()];
}

function releaseFaults(lines: unknown[], serviceNames: string[], add: Add): void {
  lines.forEach((line, i) => {
    if (typeof line !== 'string') return;
    const m = RELEASE_FAULT.exec(line);
    if (!m) return add(['simulation', 'faults', i], `in a release, a fault names its service: "<service>/${line.trim()}" (services: ${serviceNames.join(', ')})`);
    if (!serviceNames.includes(m[1]!)) add(['simulation', 'faults', i], `unknown service "${m[1]}"${didYouMean(m[1]!, serviceNames) || ` (services: ${serviceNames.join(', ')})`}`);
  });
}
