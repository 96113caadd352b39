import type { AuditEntry, RegionStatus, RolloutStatus } from '../../domain/status';
import type { AuditAction, AuditData } from '../../domain/vocabulary';

/** A region's status by name; throws when the rollout has no such region, so a typo fails loudly. */
export function regionOf(status: RolloutStatus, name: string): RegionStatus {
  const region = status.regions.find((r) => r.name === name);
  if (!region) throw new Error(`no region "${name}" in ${status.id} (regions: ${status.regions.map((r) => r.name).join(', ')})`);
  return region;
}

/** Every audit entry of `action`, oldest first, in one region when `region` is given. */
export function auditOf(status: RolloutStatus, action: AuditAction, region?: string): AuditEntry[] {
  return status.audit.filter((a) => a.action === action && (region === undefined || a.region === region));
}

/** The data of every `action` entry, oldest first, in one region when `region` is given. */
export function auditDataOf<A extends keyof AuditData>(status: RolloutStatus, action: A, region?: string): Partial<AuditData[A]>[] {
  return auditOf(status, action, region).map((a) => (a.data ?? {}) as Partial<AuditData[A]>);
}
