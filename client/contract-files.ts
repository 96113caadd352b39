import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Problem } from '../domain/parse';
import { whyUnreadable } from './sql-files';

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Replaces each contract's `files` list in a release (`services[].provides[]`, `.consumes[]` and
 * `provides[].running`) with the files' text keyed by the path as written, read under `root`
 * (relative to the spec file's directory, or the directory itself). The plan then carries the
 * reviewed text, never a path. A file that cannot be read is a problem at its path.
 */
export function readContractFiles(input: unknown, baseDir: string): { value: unknown; problems: Problem[] } {
  const problems: Problem[] = [];
  if (!isRec(input) || !Array.isArray(input.services)) return { value: input, problems };
  const read = (c: unknown, at: string): unknown => {
    if (!isRec(c) || !Array.isArray(c.files)) return c;
    const root = typeof c.root === 'string' ? c.root : '.';
    const files: Record<string, string> = {};
    c.files.forEach((f, k) => {
      if (typeof f !== 'string') return;
      const path = isAbsolute(root) ? resolve(root, f) : resolve(baseDir, root, f);
      try {
        files[f] = readFileSync(path, 'utf8');
      } catch (err) {
        problems.push({ path: `${at}.files[${k}]`, message: `cannot read ${path}: ${whyUnreadable(err)} (paths are relative to root, which is relative to the spec file)` });
      }
    });
    const { root: _root, ...rest } = c;
    return { ...rest, files };
  };
  const services = input.services.map((s, i) => {
    if (!isRec(s)) return s;
    const at = `services[${i}]`;
    const provides = Array.isArray(s.provides)
      ? s.provides.map((c, j) => {
          const out = read(c, `${at}.provides[${j}]`);
          return isRec(out) && out.running !== undefined ? { ...out, running: read(out.running, `${at}.provides[${j}].running`) } : out;
        })
      : s.provides;
    const consumes = Array.isArray(s.consumes) ? s.consumes.map((c, j) => read(c, `${at}.consumes[${j}]`)) : s.consumes;
    return { ...s, ...(provides === undefined ? {} : { provides }), ...(consumes === undefined ? {} : { consumes }) };
  });
  return { value: { ...input, services }, problems };
}
