/** What PostgreSQL said about a failed statement, with the position turned into line and column. */
export interface SqlErrorInfo {
  message: string;
  /** SQLSTATE, e.g. `42P01`; absent when the connection failed before the server answered. */
  code?: string;
  /** 1-based character offset into the SQL text as the spec wrote it. */
  position?: number;
  line?: number;
  column?: number;
  detail?: string;
  hint?: string;
}

interface PgError {
  message: string;
  code?: string;
  position?: string;
  detail?: string;
  hint?: string;
}

/**
 * `err` from a statement that starts at `offset` (0-based) inside `text`. SQLSTATE classes worth a
 * retry (connection, lock/statement timeout, serialization, resources) are `transient`.
 */
export function sqlErrorInfo(err: unknown, text?: string, offset = 0): SqlErrorInfo {
  const e = (err ?? {}) as PgError;
  const info: SqlErrorInfo = { message: e.message ?? String(err) };
  if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) info.code = e.code;
  if (e.detail) info.detail = e.detail;
  if (e.hint) info.hint = e.hint;
  const position = Number(e.position);
  if (Number.isInteger(position) && position + offset > 0 && (text === undefined || position + offset <= text.length + 1)) {
    info.position = position + offset;
    if (text !== undefined) {
      const before = text.slice(0, info.position - 1).split('\n');
      info.line = before.length;
      info.column = before[before.length - 1]!.length + 1;
    }
  }
  return info;
}

const TRANSIENT_CLASSES = ['08', '40', '53', '57'];
const TRANSIENT_CODES = ['55P03'];

/** Worth retrying: the connection dropped, a lock or statement timed out, a serialization conflict. */
export function isTransient(info: SqlErrorInfo): boolean {
  if (info.code === undefined) return true;
  return TRANSIENT_CODES.includes(info.code) || TRANSIENT_CLASSES.includes(info.code.slice(0, 2));
}

/** `ERROR 42703 at line 2, column 8: column "x" does not exist (hint: ...)`. */
export function describeSqlError(info: SqlErrorInfo): string {
  const where = info.line !== undefined ? ` at line ${info.line}, column ${info.column}` : info.position !== undefined ? ` at position ${info.position}` : '';
  const extra = [info.detail && `detail: ${info.detail}`, info.hint && `hint: ${info.hint}`].filter(Boolean).join('; ');
  return `${info.code ? `ERROR ${info.code}` : 'error'}${where}: ${info.message}${extra ? ` (${extra})` : ''}`;
}
