import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { migrationChecksum, type MigrationPhase, type SqlSource } from '../../domain/stateful';
import { FAILURE } from '../../domain/vocabulary';

/** A migration as the spec gives it (`transactional` defaults to true). */
export interface MigrationInput {
  id: string;
  up: SqlSource;
  down: SqlSource;
  phase: MigrationPhase;
  transactional?: boolean;
}

/** A migration with its SQL read and its ledger checksum computed. */
export interface ResolvedMigration {
  id: string;
  up: string;
  down: string;
  phase: MigrationPhase;
  transactional: boolean;
  checksum: string;
}

/**
 * Reads `{ file }` sources relative to `baseDir`. Best done where the spec is loaded, so the text
 * (and the checksum) the workflow carries is the one that was reviewed; the worker reads files as a fallback.
 */
export function resolveMigration(m: MigrationInput, baseDir = process.cwd()): ResolvedMigration {
  const up = readSource(m.id, 'up', m.up, baseDir);
  return { id: m.id, up, down: readSource(m.id, 'down', m.down, baseDir), phase: m.phase, transactional: m.transactional ?? true, checksum: migrationChecksum(up) };
}

function readSource(id: string, direction: 'up' | 'down', source: SqlSource, baseDir: string): string {
  if (typeof source === 'string') return source;
  const path = isAbsolute(source.file) ? source.file : resolve(baseDir, source.file);
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw ApplicationFailure.nonRetryable(
      `migration "${id}": cannot read its ${direction} file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      FAILURE.migrationFileMissing,
    );
  }
}
