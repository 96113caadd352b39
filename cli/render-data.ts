import type { RolloutStatus } from '../domain/status';

/** Migrations each region ran or skipped, and each reconciliation's counts; nothing for a stateless rollout. */
export function renderDatabaseLines(status: RolloutStatus, nameWidth: number): string[] {
  const lines: string[] = [];
  for (const r of status.regions) {
    if (!r.migrations?.length) continue;
    const byPhase = (['expand', 'contract'] as const)
      .map((phase) => {
        const ms = r.migrations!.filter((m) => m.phase === phase);
        return ms.length ? `${phase} ${ms.map((m) => (m.action === 'applied' ? m.id : `${m.id} (${m.action})`)).join(', ')}` : '';
      })
      .filter(Boolean);
    lines.push(`  ${r.name.padEnd(nameWidth)}  migrations: ${byPhase.join('; ')}`);
  }
  for (const c of status.compensation) {
    if (c.undo.kind === 'revertMigrations' && c.outcome !== 'pending') {
      lines.push(`  ${c.undo.region.padEnd(nameWidth)}  revert ${c.undo.migrationIds.join(', ')}: ${c.outcome === 'done' ? 'done, schema matches its fingerprint' : c.outcome}`);
    }
    if (c.undo.kind === 'reconcileData' && c.outcome !== 'pending') {
      const counts = c.counts ? `found ${c.counts.found}, fixed ${c.counts.fixed}, ${c.counts.remaining} remaining` : c.outcome;
      lines.push(`  ${c.undo.region.padEnd(nameWidth)}  reconcile ${c.undo.recipe}: ${counts}`);
    }
  }
  return lines.length ? ['', 'Database:', ...lines] : [];
}
