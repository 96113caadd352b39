import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseSpecText, type Problem } from '../domain/parse';
import { formatProblem, validateSpec, type Validation } from '../domain/validate';
import { payloadTooLarge } from './payload-size';
import { readContractFiles } from './contract-files';
import { readSqlFiles } from './sql-files';

export interface LoadOptions {
  /** The Temporal server's payload size limit; PAYLOAD_LIMIT_BYTES when absent. */
  payloadLimitBytes?: number;
}

/**
 * Parses and validates spec text; problems carry line and column where the document allows.
 * Migration `{ file }` sources and a release's contract files are read relative to the spec file's directory. A plan too large
 * for the server to start is a problem too.
 */
export function validateSpecText(text: string, file: string, opts: LoadOptions = {}): Validation {
  const parsed = parseSpecText(text, file);
  if (!parsed.ok) return parsed;
  const sql = readSqlFiles(parsed.value, dirname(file));
  const contracts = readContractFiles(sql.value, dirname(file));
  const result = validateSpec(contracts.value);
  const read = [...sql.problems, ...contracts.problems];
  if (result.ok && read.length === 0) {
    const tooLarge = payloadTooLarge([{ plan: result.plan }], { limitBytes: opts.payloadLimitBytes, what: 'the rollout plan', weighed: result.plan });
    return tooLarge ? { ok: false, problems: [{ path: '', message: tooLarge.message }] } : result;
  }
  return { ok: false, problems: parsed.locate([...read, ...(result.ok ? [] : result.problems)]) };
}

export async function loadSpec(path: string, opts: LoadOptions = {}): Promise<Validation> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return { ok: false, problems: [{ path: '', message: readError(err) }] };
  }
  return validateSpecText(text, path, opts);
}

function readError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'file not found; check the path (examples/demo.yaml shows a complete spec)';
  if (code === 'EISDIR') return 'is a directory, not a spec file';
  if (code === 'EACCES') return 'cannot be read: permission denied';
  return `cannot be read: ${(err as Error).message}`;
}

/** One line per problem: `file:line:col: path: message` when the position is known, else `file: path: message`. */
export function formatProblems(problems: Problem[], file: string): string {
  return problems
    .map((p) => `${file}${p.line !== undefined ? `:${p.line}:${p.column ?? 1}` : ''}: ${formatProblem(p)}`)
    .join('\n');
}
