import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { Approver, PinnedApprover } from '../domain/approval-policy';
import { keyringFile } from '../domain/spec';
import { parsePublicKey } from '../domain/ssh-signature';
import type { PreflightProblem } from './types';

export interface PinApproversInput {
  /** The spec's own approvers. */
  approvers: Approver[];
  /** The spec's keyring: a file on the worker's machine. */
  keyring?: string;
}

export type PinnedApprovers =
  | { approvers: PinnedApprover[]; enforced: boolean; keyring?: string }
  | { problems: PreflightProblem[] };

/**
 * The approvers a rollout trusts, resolved once in preflight and pinned in its state, so a keyring
 * changed later changes no running rollout.
 *
 * With `workerKeyring` (MERIDIAN_KEYRING) the worker enforces its own list: names, keys and groups
 * come from it alone, a spec that names another key for one of its people is refused, and every
 * gate needs a signature. So a person who can start workflows cannot make their own key an approver.
 */
export function createApproverActivities(workerKeyring?: string) {
  return {
    async pinApprovers(input: PinApproversInput): Promise<PinnedApprovers> {
      const problems: PreflightProblem[] = [];
      const fromSpec = [...input.approvers];
      if (input.keyring) fromSpec.push(...(await readKeyring(input.keyring, 'the spec\'s keyring', problems)));
      if (!workerKeyring) return finish(fromSpec, false, input.keyring, problems);
      const enforced = await readKeyring(workerKeyring, 'the worker\'s keyring (MERIDIAN_KEYRING)', problems);
      for (const a of fromSpec) {
        const pinned = enforced.find((e) => e.name === a.name);
        if (a.key && pinned?.key && keyOf(a.key) !== keyOf(pinned.key)) {
          problems.push({ message: `approver "${a.name}": the spec names a key other than the one in the worker's keyring ${workerKeyring}; remove it from the spec or fix the keyring` });
        }
      }
      return finish(enforced, true, workerKeyring, problems);
    },
  };
}

/** `ssh-ed25519 <base64>` without the comment. */
const keyOf = (line: string) => line.trim().split(/\s+/).slice(0, 2).join(' ');

function finish(approvers: Approver[], enforced: boolean, keyring: string | undefined, problems: PreflightProblem[]): PinnedApprovers {
  const pinned: PinnedApprover[] = [];
  for (const a of approvers) {
    if (pinned.some((p) => p.name === a.name)) {
      problems.push({ message: `approver "${a.name}" is named twice; name each person once, with one key` });
      continue;
    }
    if (!a.key) {
      pinned.push(a);
      continue;
    }
    const key = parsePublicKey(a.key);
    if ('error' in key) problems.push({ message: `approver "${a.name}": ${key.error}` });
    else pinned.push({ ...a, key: keyOf(a.key), fingerprint: key.ok.fingerprint });
  }
  if (problems.length) return { problems };
  return { approvers: pinned, enforced, ...(keyring ? { keyring } : {}) };
}

async function readKeyring(path: string, what: string, problems: PreflightProblem[]): Promise<Approver[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    problems.push({ message: `${what} ${path} cannot be read on the worker: ${(err as Error).message}` });
    return [];
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    problems.push({ message: `${what} ${path} is not YAML or JSON: ${(err as Error).message}` });
    return [];
  }
  const parsed = keyringFile.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    problems.push({ message: `${what} ${path}: ${issue.path.join('.') || '(top)'}: ${issue.message}; expected approvers: [{ name, key: "ssh-ed25519 AAAA…", groups: [...] }]` });
    return [];
  }
  return parsed.data.approvers.map((a) => ({ name: a.name, ...(a.key ? { key: a.key } : {}), ...(a.groups.length ? { groups: a.groups } : {}) }));
}
