import type { PathSegment } from './parse';

type Add = (path: PathSegment[], message: string) => void;
type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/**
 * Stateful rollouts: migration ids and reconciliation names are unique, and every region has a
 * database to run them on when the rollout has any.
 */
export function statefulProblems(input: Rec, add: Add): void {
  const migrations = list(input.migrations);
  const reconciliations = list(input.reconciliations);
  unique(migrations, 'migrations', 'id', 'migration id', add);
  unique(reconciliations, 'reconciliations', 'name', 'reconciliation name', add);
  if (migrations.length === 0 && reconciliations.length === 0) return;
  const what = [migrations.length && 'migrations', reconciliations.length && 'reconciliations'].filter(Boolean).join(' and ');
  list(input.regions).forEach((r, i) => {
    if (!isRec(r) || r.database !== undefined) return;
    const name = typeof r.name === 'string' ? `region "${r.name}"` : 'this region';
    add(['regions', i], `${name} has no database, but the rollout has ${what}; add database: <name> (the worker resolves it from MERIDIAN_DATABASE_<NAME>)`);
  });
}

function unique(items: unknown[], key: string, field: string, noun: string, add: Add): void {
  const first = new Map<string, number>();
  items.forEach((item, i) => {
    const value = isRec(item) ? item[field] : undefined;
    if (typeof value !== 'string') return;
    const seen = first.get(value);
    if (seen === undefined) first.set(value, i);
    else add([key, i, field], `duplicate ${noun} ${JSON.stringify(value)} (also ${key}[${seen}])`);
  });
}
