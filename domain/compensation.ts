import type { Undo, UndoRecord } from './status';

/**
 * The instant traffic cut runs a region's restoreTraffic undo under the undo's key plus this suffix,
 * so a driver call tells the cut from the ordered restore by its key alone.
 */
export const TRAFFIC_CUT_KEY_SUFFIX = '-first';

export interface RegionUndo {
  region: string;
  wave: number;
  undo: Undo[];
  /** A release's region: its services in rollback order, consumers first; each service's stack runs newest first. */
  serviceOrder?: string[];
}

/** A region's undo steps in the order they run: newest first, and in a release service by service in `serviceOrder`. */
function regionStack(r: RegionUndo): Undo[] {
  const newest = [...r.undo].reverse();
  if (!r.serviceOrder) return newest;
  const rank = (u: Undo) => (u.service === undefined ? r.serviceOrder!.length : r.serviceOrder!.indexOf(u.service));
  return newest.map((u, i) => ({ u, i })).sort((a, b) => rank(a.u) - rank(b.u) || a.i - b.i).map(({ u }) => u);
}

/**
 * The saga's plan: which regions to undo, grouped so that the newest wave goes first and the
 * regions of one wave are undone in parallel. Within a region the undo stack runs newest first.
 */
export function compensationPlan(regions: RegionUndo[], scope: ReadonlySet<string>): UndoRecord[][] {
  const byWave = new Map<number, UndoRecord[]>();
  const kills: UndoRecord[] = [];
  for (const r of regions) {
    if (!scope.has(r.region) || r.undo.length === 0) continue;
    const group = byWave.get(r.wave) ?? [];
    for (const undo of regionStack(r)) (undo.kind === 'killSwitch' ? kills : group).push({ undo, wave: r.wave, outcome: 'pending', attempts: 0 });
    if (group.length > 0) byWave.set(r.wave, group);
  }
  // Kill switches first, every region's at once: the fastest undo, and the one nothing else waits on.
  const waves = [...byWave.keys()].sort((a, b) => b - a).map((w) => byWave.get(w)!);
  return kills.length > 0 ? [kills, ...waves] : waves;
}

/** Undo entries keep their first recording; a re-run region never duplicates an undo. */
export function mergeUndo(known: Undo[], incoming: Undo[]): Undo[] {
  const keys = new Set(known.map((u) => u.key));
  return [...known, ...incoming.filter((u) => !keys.has(u.key))];
}

export function describeUndo(u: Undo): string {
  switch (u.kind) {
    case 'restoreTraffic':
      return `restore traffic in ${u.region} to ${u.weight}%`;
    case 'restoreWorkload':
      return `restore ${u.region} to ${u.snapshot.image}`;
    case 'revertMigrations':
      return `revert migrations ${u.migrationIds.join(', ')} on ${u.database} in ${u.region}`;
    case 'reconcileData':
      return `reconcile data on ${u.database} in ${u.region}`;
    case 'killSwitch':
      return `kill switch of flag ${u.flag.key} (${u.flag.killSwitch} for everyone) in ${u.region}`;
    case 'restoreFlag':
      return `restore flag ${u.snapshot.flagKey} in ${u.region} as it was before the rollout`;
  }
}
