import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Problem } from '../domain/parse';

const DIRECTIONS = ['up', 'down'] as const;

/**
 * Replaces each migration's `{ file }` source with the file's text, read relative to `baseDir` (the
 * spec file's directory), so the plan, the workflow input and the ledger checksum all carry the text
 * that was reviewed. A file that cannot be read is a problem at its path.
 */
export function readSqlFiles(input: unknown, baseDir: string): { value: unknown; problems: Problem[] } {
  const problems: Problem[] = [];
  if (typeof input !== 'object' || input === null || !Array.isArray((input as { migrations?: unknown }).migrations)) return { value: input, problems };
  const spec = input as { migrations: unknown[] };
  const migrations = spec.migrations.map((m, i) => {
    if (typeof m !== 'object' || m === null) return m;
    const out: Record<string, unknown> = { ...(m as Record<string, unknown>) };
    for (const direction of DIRECTIONS) {
      const source = out[direction] as { file?: unknown } | undefined;
      if (typeof source !== 'object' || source === null || typeof source.file !== 'string' || Object.keys(source).length !== 1) continue;
      const path = isAbsolute(source.file) ? source.file : resolve(baseDir, source.file);
      try {
        out[direction] = readFileSync(path, 'utf8');
      } catch (err) {
        problems.push({ path: `migrations[${i}].${direction}.file`, message: `cannot read ${path}: ${whyUnreadable(err)} (paths are relative to the spec file)` });
      }
    }
    return out;
  });
  return { value: { ...spec, migrations }, problems };
}

/** Why a file a spec names could not be read, in a few words. */
export function whyUnreadable(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
}
