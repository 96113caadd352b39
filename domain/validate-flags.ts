import type { PathSegment } from './parse';
import { checkUnique, isRec, list, regionSteps, text, type Add, type Rec } from './raw-input';
import { didYouMean } from './suggest';

/**
 * The `flags` checks beyond the schema: kill switches and defaults among their flag's variants,
 * flag steps that name a known flag and variant in regions with a provider, `killSwitchOnly` only
 * when every flag is safe off, and no flags in a release.
 */
export function flagProblems(input: Rec, add: Add): void {
  const flags = list(input.flags);
  const keys = checkUnique(flags, 'flags', 'key', 'flag key', add);
  const variants = new Map<string, string[]>();
  flags.forEach((f, i) => {
    if (!isRec(f) || typeof f.key !== 'string' || !isRec(f.variants)) return;
    const names = Object.keys(f.variants);
    variants.set(f.key, names);
    for (const role of ['killSwitch', 'defaultVariant'] as const) {
      const v = text(f[role]);
      if (v !== undefined && !names.includes(v)) add(['flags', i, role], `"${v}" is not one of the flag's variants (${names.join(', ')})`);
    }
  });
  if (input.onFailure === 'killSwitchOnly') {
    if (flags.length === 0) add(['onFailure'], 'killSwitchOnly turns flags off and keeps the new version; it needs flags');
    flags.forEach((f, i) => {
      if (isRec(f) && f.safeWhenOff !== true) add(['flags', i, 'safeWhenOff'], `onFailure: killSwitchOnly keeps the new version deployed with flag "${text(f.key) ?? ''}" off; declare safeWhenOff: true only if the new version is safe that way`);
    });
  }
  if (input.services !== undefined && flags.length > 0) add(['flags'], "flags run in one-service rollouts only; a release's services would share them");
  checkFlagSteps(input, keys, variants, add);
}

function checkFlagSteps(input: Rec, keys: string[], variants: Map<string, string[]>, add: Add): void {
  const provided = (r: Rec) => (isRec(r.flags) && r.flags.provider !== undefined) || input.flagProvider !== undefined;
  const seen = new Set<string>();
  for (const { region: r, name, steps, base } of regionSteps(input)) {
    list(steps).forEach((s, k) => {
      if (!isRec(s) || s.kind !== 'flag') return;
      const at = [...base, k];
      const key = text(s.flag);
      const once = (path: PathSegment[], message: string) => {
        const id = `${path.join('.')}|${message}`;
        if (!seen.has(id)) add(path, message);
        seen.add(id);
      };
      if (key !== undefined && !keys.includes(key)) return once([...at, 'flag'], `unknown flag "${key}"${didYouMean(key, keys) || (keys.length ? ` (flags: ${keys.join(', ')})` : '; declare it under flags')}`);
      const variant = text(s.variant);
      const names = key === undefined ? undefined : variants.get(key);
      if (variant !== undefined && names && !names.includes(variant)) once([...at, 'variant'], `"${variant}" is not a variant of flag "${key}" (${names.join(', ')})`);
      if (!provided(r)) add(at, `region "${name}" runs this flag step but has no flag provider; give it flags.provider or set flagProvider for the rollout`);
    });
  }
}
