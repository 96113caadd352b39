import { checkUnique, isRec, list, type Add, type Rec } from './raw-input';

/**
 * Stateful rollouts: migration ids and reconciliation names are unique, and every region has a
 * database to run them on when the rollout has any.
 */
export function statefulProblems(input: Rec, add: Add): void {
  const migrations = list(input.migrations);
  const reconciliations = list(input.reconciliations);
  checkUnique(migrations, 'migrations', 'id', 'migration id', add);
  checkUnique(reconciliations, 'reconciliations', 'name', 'reconciliation name', add);
  if (migrations.length === 0 && reconciliations.length === 0) return;
  const what = [migrations.length && 'migrations', reconciliations.length && 'reconciliations'].filter(Boolean).join(' and ');
  list(input.regions).forEach((r, i) => {
    if (!isRec(r) || r.database !== undefined) return;
    const name = typeof r.name === 'string' ? `region "${r.name}"` : 'this region';
    add(['regions', i], `${name} has no database, but the rollout has ${what}; add database: <name> (the worker resolves it from MERIDIAN_DATABASE_<NAME>)`);
  });
}
