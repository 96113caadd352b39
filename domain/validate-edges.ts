import { checkEdgePlan, compilePolicies, policyInput, type CompiledPolicy } from './edge-policy';
import type { EdgeSpec } from './edges';
import type { PathSegment } from './parse';
import { checkUnique, isRec, list, regionSteps, text, type Add, type Rec } from './raw-input';
import { normalShares } from './steering';
import { didYouMean } from './suggest';

/**
 * The `edges` and `steering` checks beyond the schema: routes to known regions of the edge's
 * residency (or allowed across it), shares that add up, the spec's own policies compiled and
 * passing on every edge's normal shares, and mirror steps only where a region has a canary behind an edge.
 */
export function edgeProblems(input: Rec, regionNames: string[], add: Add): void {
  const edges = list(input.edges);
  if (input.steering !== undefined && edges.length === 0) add(['steering'], 'steering has no effect without edges; add edges or remove it');
  checkUnique(edges, 'edges', 'name', 'edge name', add);
  const residency = residencies(input);
  edges.forEach((e, i) => isRec(e) && checkEdge(e, i, regionNames, residency, add));
  const policies = userPolicies(input, add);
  if (policies) edges.forEach((e, i) => isRec(e) && checkNormalShares(e, i, residency, policies, add));
  checkMirrorSteps(input, add);
}

function residencies(input: Rec): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  for (const r of list(input.regions)) {
    if (!isRec(r) || typeof r.name !== 'string') continue;
    out.set(r.name, isRec(r.labels) ? text(r.labels.residency) : undefined);
  }
  return out;
}

function checkEdge(e: Rec, i: number, regionNames: string[], residency: Map<string, string | undefined>, add: Add): void {
  const at = (...rest: PathSegment[]): PathSegment[] => ['edges', i, ...rest];
  const own = text(e.residency);
  const cross = new Map(list(e.crossResidency).flatMap((c, j) => (isRec(c) && typeof c.region === 'string' ? [[c.region, j] as const] : [])));
  const seen = new Map<string, number>();
  const routes = list(e.routes);
  routes.forEach((r, k) => {
    if (!isRec(r) || typeof r.region !== 'string') return;
    const region = r.region;
    const path = at('routes', k, 'region');
    if (!regionNames.includes(region)) return add(path, `unknown region ${JSON.stringify(region)}${didYouMean(region, regionNames) || ` (regions: ${regionNames.join(', ')})`}`);
    if (seen.has(region)) return add(path, `region ${JSON.stringify(region)} has two routes on this edge (also routes[${seen.get(region)}])`);
    seen.set(region, k);
    const theirs = residency.get(region);
    if (theirs === undefined) {
      return add(path, `region ${JSON.stringify(region)} has no residency label; give it labels.residency so Meridian can keep this edge's traffic where it may go`);
    }
    if (own !== undefined && theirs !== own && !cross.has(region)) {
      add(path, `region ${JSON.stringify(region)} is of residency ${JSON.stringify(theirs)} and edge ${JSON.stringify(text(e.name) ?? '')} serves ${JSON.stringify(own)}; remove the route, or allow it under crossResidency with a reason`);
    }
  });
  for (const [region, j] of cross) {
    if (!seen.has(region)) add(at('crossResidency', j, 'region'), `region ${JSON.stringify(region)} is not one of this edge's routes; crossResidency only allows a route the edge has`);
  }
  const shares = routes.map((r) => (isRec(r) ? r.share : undefined));
  if (shares.length > 0 && shares.every((s) => Number.isInteger(s))) {
    const total = (shares as number[]).reduce((a, b) => a + b, 0);
    if (total !== 100) add(at('routes'), `shares add up to ${total}; an edge's normal shares must add up to 100`);
  }
}

/** The spec's own policies, compiled; undefined when one does not compile (each is reported at its rule). */
function userPolicies(input: Rec, add: Add): CompiledPolicy[] | undefined {
  if (!isRec(input.steering)) return [];
  const raw = list(input.steering.policies);
  checkUnique(raw, 'policies', 'name', 'policy name', (path, message) => add(['steering', ...path], message));
  const written = raw.flatMap((p, index) => (isRec(p) && typeof p.name === 'string' && typeof p.rule === 'string' ? [{ index, policy: { name: p.name, rule: p.rule, ...(typeof p.message === 'string' ? { message: p.message } : {}) } }] : []));
  const { compiled, problems } = compilePolicies(written.map((w) => w.policy));
  for (const p of problems) add(['steering', 'policies', written[p.index]!.index, 'rule'], `policy ${JSON.stringify(p.name)} does not compile: ${p.error} (rule: ${p.rule})`);
  return problems.length === 0 && written.length === raw.length ? compiled : undefined;
}

/** Every guardrail must already pass on the shares the edge is written with, or Meridian could never restore it. */
function checkNormalShares(e: Rec, i: number, residency: Map<string, string | undefined>, policies: CompiledPolicy[], add: Add): void {
  const edge = asEdge(e);
  if (!edge) return;
  const known = Object.fromEntries([...residency].flatMap(([r, v]) => (v === undefined ? [] : [[r, v]])));
  const failures = checkEdgePlan(policyInput(edge, normalShares(edge), known, new Set()), policies);
  for (const f of failures) {
    if (f.name === 'residency' || f.name === 'shares') continue;
    add(['edges', i], `the edge's normal shares fail policy ${JSON.stringify(f.name)}: ${f.message}${f.error ? ` (${f.error})` : ''}; rule: ${f.rule}; it saw ${JSON.stringify(f.saw)}`);
  }
}

function asEdge(e: Rec): EdgeSpec | undefined {
  const routes = list(e.routes);
  if (typeof e.name !== 'string' || typeof e.residency !== 'string' || routes.length === 0) return undefined;
  if (!routes.every((r) => isRec(r) && typeof r.region === 'string' && Number.isInteger(r.share))) return undefined;
  const cross = list(e.crossResidency).flatMap((c) => (isRec(c) && typeof c.region === 'string' ? [{ region: c.region, reason: text(c.reason) ?? '' }] : []));
  return {
    name: e.name,
    residency: e.residency,
    provider: { type: 'envoy', admin: '', configDir: '' },
    routes: routes.map((r) => ({ region: (r as Rec).region as string, share: (r as Rec).share as number, address: '' })),
    crossResidency: cross,
    minHealthyShare: Number.isInteger(e.minHealthyShare) ? (e.minHealthyShare as number) : 50,
  };
}

/** A mirror step copies traffic an edge sends to a region's stable ingress to its canary, so the region needs one behind an edge. */
function checkMirrorSteps(input: Rec, add: Add): void {
  list(input.services).forEach((svc, i) => {
    if (!isRec(svc)) return;
    list(svc.steps).forEach((s, k) => {
      if (isRec(s) && s.kind === 'mirror') add(['services', i, 'steps', k], 'mirror steps run in one-service rollouts only; a release\'s services share their regions\' edges');
    });
  });
  const mirrored = new Set<string>();
  for (const e of list(input.edges)) {
    if (!isRec(e)) continue;
    for (const r of list(e.routes)) if (isRec(r) && typeof r.region === 'string' && typeof r.canaryAddress === 'string') mirrored.add(r.region);
  }
  for (const { name, steps, base } of regionSteps(input)) {
    list(steps).forEach((s, k) => {
      if (!isRec(s) || s.kind !== 'mirror' || mirrored.has(name)) return;
      add([...base, k], `region ${JSON.stringify(name)} runs this mirror step but no edge route to it has a canaryAddress; add canaryAddress to its route under edges`);
    });
  }
}
