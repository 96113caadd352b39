/** Reading a spec as it was written, before the schema checked it: anything may be missing or of the wrong type. */
import type { PathSegment } from './parse';

export type Rec = Record<string, unknown>;
export const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
export const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export type Add = (path: PathSegment[], message: string) => void;

/**
 * The distinct values of `field` over the entries of `items` (the list at `key`), reporting every
 * repeat at the repeating entry: `duplicate region name "x" (also regions[0])`.
 */
export function checkUnique(items: unknown[], key: string, field: string, noun: string, add: Add): string[] {
  const first = new Map<string, number>();
  items.forEach((item, i) => {
    const value = isRec(item) ? text(item[field]) : undefined;
    if (value === undefined) return;
    const seen = first.get(value);
    if (seen === undefined) first.set(value, i);
    else add([key, i, field], `duplicate ${noun} ${JSON.stringify(value)} (also ${key}[${seen}])`);
  });
  return [...first.keys()];
}

/**
 * Each named region with the steps it runs, as written: its own, else its wave's, else the
 * spec's, with the path where that list is written.
 */
export function regionSteps(input: Rec): { region: Rec; index: number; name: string; steps: unknown; base: PathSegment[] }[] {
  const waves = list(input.waves);
  return list(input.regions).flatMap((r, index) => {
    if (!isRec(r) || typeof r.name !== 'string') return [];
    const name = r.name;
    const w = waves.findIndex((wave) => isRec(wave) && list(wave.regions).includes(name));
    const wave = w >= 0 ? (waves[w] as Rec) : undefined;
    const [steps, base]: [unknown, PathSegment[]] =
      r.steps !== undefined ? [r.steps, ['regions', index, 'steps']] : wave?.steps !== undefined ? [wave.steps, ['waves', w, 'steps']] : [input.steps, ['steps']];
    return [{ region: r, index, name, steps, base }];
  });
}
