/**
 * `node:sqlite`, loaded without the ExperimentalWarning that Node 24 releases before 24.15 print when
 * the module first loads (nothing a user of Meridian can act on). Only that warning is dropped, and
 * only while the module loads; every other warning passes through.
 */
export function loadSqlite(): typeof import('node:sqlite') {
  const emit = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (!isSqliteWarning(warning, rest[0])) (emit as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return process.getBuiltinModule('node:sqlite');
  } finally {
    process.emitWarning = emit;
  }
}

function isSqliteWarning(warning: string | Error, typeOrOptions: unknown): boolean {
  const type = typeof typeOrOptions === 'string' ? typeOrOptions : (typeOrOptions as { type?: unknown } | undefined)?.type;
  const message = typeof warning === 'string' ? warning : warning.message;
  return (type ?? (warning as Error).name) === 'ExperimentalWarning' && message.startsWith('SQLite ');
}
