import type { PathSegment } from './parse';
import { checkUnique, isRec, list, text, type Add, type Rec } from './raw-input';
import { didYouMean } from './suggest';

/**
 * Gates and the approvers the spec names: every named approver and group exists, a gate can get as
 * many distinct approvers as it needs, and a signed gate has someone with a key. With a keyring the
 * worker resolves the people at preflight, so only what the spec itself says is checked here.
 */
export function approverProblems(input: Rec, add: Add): void {
  const roster = list(input.approvers).filter(isRec);
  checkUnique(list(input.approvers), 'approvers', 'name', 'approver name', add);
  const keyring = text(input.keyring) !== undefined;
  const people = roster.flatMap((a) => (typeof a.name === 'string' ? [{ name: a.name, key: typeof a.key === 'string', groups: list(a.groups).filter((g): g is string => typeof g === 'string') }] : []));
  for (const { steps, base } of stepLists(input)) {
    list(steps).forEach((s, i) => {
      if (isRec(s) && s.kind === 'approval') checkGate(s, [...base, i], people, keyring, input.approvers !== undefined, add);
    });
  }
}

interface Person {
  name: string;
  key: boolean;
  groups: string[];
}

function stepLists(input: Rec): { steps: unknown; base: PathSegment[] }[] {
  return [
    { steps: input.steps, base: ['steps'] },
    ...list(input.waves).map((w, i) => ({ steps: isRec(w) ? w.steps : undefined, base: ['waves', i, 'steps'] as PathSegment[] })),
    ...list(input.regions).map((r, i) => ({ steps: isRec(r) ? r.steps : undefined, base: ['regions', i, 'steps'] as PathSegment[] })),
    ...list(input.services).map((x, i) => ({ steps: isRec(x) ? x.steps : undefined, base: ['services', i, 'steps'] as PathSegment[] })),
  ];
}

function checkGate(s: Rec, at: PathSegment[], people: Person[], keyring: boolean, named: boolean, add: Add): void {
  const names = list(s.approvers).filter((n): n is string => typeof n === 'string');
  const groups = list(s.groups).filter((g): g is string => typeof g === 'string');
  const known = people.map((p) => p.name);
  if (named && !keyring) {
    names.forEach((n, k) => {
      if (!known.includes(n)) add([...at, 'approvers', k], `"${n}" is not one of the rollout's approvers${didYouMean(n, known)}; add them under approvers, with their key`);
    });
  }
  if (groups.length && !keyring) {
    const all = [...new Set(people.flatMap((p) => p.groups))];
    groups.forEach((g, k) => {
      if (!all.includes(g)) add([...at, 'groups', k], `no approver is in group "${g}"${didYouMean(g, all)}; give approvers groups: [${g}], or name a keyring`);
    });
  }
  const signed = s.signed === true || (s.signed === undefined && (keyring || people.some((p) => p.key)));
  if (s.signed === true && !keyring && !people.some((p) => p.key)) add([...at, 'signed'], 'nobody can sign this gate: no approver has a key; give approvers a key ("ssh-ed25519 AAAA…"), or name a keyring');
  const needed = typeof s.approvals === 'number' ? s.approvals : 1;
  if (keyring || needed <= 1 || (!named && !names.length && !groups.length)) return;
  const eligible = people.filter((p) => (names.length || groups.length ? names.includes(p.name) || p.groups.some((g) => groups.includes(g)) : true) && (!signed || p.key));
  if (eligible.length < needed) {
    add([...at, 'approvals'], `the gate needs ${needed} distinct approvers, but only ${eligible.length} can approve it (${eligible.map((p) => p.name).join(', ') || 'nobody'}${signed ? ', each with a key' : ''}); the rollout's starter cannot be one of them unless allowSelfApproval is set`);
  }
}
