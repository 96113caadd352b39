import type { RolloutPlan } from './plan';
import { regionOrder, rollbackOrder, type Dependency, type ServiceNode, type ServiceStep } from './release-graph';
import type { ContractKind } from './spec';

/** One version of a contract as the plan carries it: each file's text keyed by its path inside the contract. */
export interface ContractText {
  contract: string;
  kind: ContractKind;
  files: Record<string, string>;
  /** An OpenAPI document's root file. */
  entry?: string;
}

export interface ServiceContracts {
  /** The new versions this service provides, with what regions not yet rolled out by Meridian run. */
  provides: (ContractText & { running?: ContractText })[];
  /** The versions this service is built against; `files` empty when the spec gave none. */
  consumes: ContractText[];
}

/** One service of a release: its own single-service plan, its dependencies and its contracts. */
export interface ReleaseService {
  name: string;
  dependsOn: Dependency[];
  contracts: ServiceContracts;
  plan: RolloutPlan;
}

export interface ReleasePlan {
  services: ReleaseService[];
  externalContracts: string[];
}

/** The rollout's services, one for a one-service plan, each with its own plan. */
export interface Unit {
  service: string;
  plan: RolloutPlan;
}

export function units(plan: RolloutPlan): Unit[] {
  return plan.release ? plan.release.services.map((s) => ({ service: s.name, plan: s.plan })) : [{ service: plan.service, plan }];
}

/** The plan a service's region stages run on: its own in a release, the rollout's otherwise. */
export function unitPlan(plan: RolloutPlan, service: string | undefined): RolloutPlan {
  if (!plan.release || service === undefined) return plan;
  const found = plan.release.services.find((s) => s.name === service);
  if (!found) throw new Error(`release ${plan.service} has no service "${service}"`);
  return found.plan;
}

/**
 * The rollout id a release service's stages and driver calls use: unique per service, so its effect
 * keys, scripted faults and recorded objects never meet another service's. A one-service plan uses
 * the rollout's own id.
 */
export function unitRolloutId(rolloutId: string, plan: RolloutPlan, service: string): string {
  return plan.release ? `${rolloutId}/${service}` : rolloutId;
}

export function serviceNodes(release: ReleasePlan): ServiceNode[] {
  return release.services.map((s) => ({
    name: s.name,
    dependsOn: s.dependsOn,
    provides: s.contracts.provides.map((c) => c.contract),
    consumes: s.contracts.consumes.map((c) => c.contract),
    regions: Object.keys(s.plan.regions),
  }));
}

/** The region's services in dependency order, each with what it waits for. */
export function releaseOrder(release: ReleasePlan, region: string): ServiceStep[] {
  return regionOrder(serviceNodes(release), region).flat();
}

export function releaseRollbackOrder(release: ReleasePlan, region: string): string[] {
  return rollbackOrder(serviceNodes(release), region);
}

/** Scripted faults of a release name their service: `checkout/eu-west-1: error_rate 0.08 when weight >= 25`. */
export const RELEASE_FAULT = /^\s*([a-z0-9-]+)\/(.*)$/;

/** A release's fault lines for one service, without the service. */
export function serviceFaults(lines: readonly string[], service: string): string[] {
  return lines.flatMap((line) => {
    const m = RELEASE_FAULT.exec(line);
    return m && m[1] === service ? [m[2]!.trim()] : [];
  });
}

/** A release's fault line without its service; a one-service fault line as it is. */
export function faultWithoutService(line: string): string {
  return RELEASE_FAULT.exec(line)?.[2]?.trim() ?? line;
}

/** The plan with `change` applied to the plan every stage runs on: itself, or each service's plan and the release's own. */
export function mapUnits(plan: RolloutPlan, change: (p: RolloutPlan, service?: string) => RolloutPlan): RolloutPlan {
  const top = change(plan);
  if (!plan.release) return top;
  return { ...top, release: { ...plan.release, services: plan.release.services.map((s) => ({ ...s, plan: change(s.plan, s.name) })) } };
}
