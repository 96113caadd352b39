import { missingSecret } from './notification-spec';
import { checkUnique, isRec, list, text, type Add, type Rec } from './raw-input';

/**
 * The `notifications` checks beyond the schema, on the spec as written so every problem shows at
 * once: names unique, no event listed twice, a secret named where the format signs, and no
 * credentials in a receiver's URL (secrets are named in the worker's environment, never written).
 */
export function notificationProblems(input: Rec, add: Add): void {
  const receivers = list(input.notifications);
  checkUnique(receivers, 'notifications', 'name', 'notification name', add);
  receivers.forEach((n, i) => {
    if (!isRec(n)) return;
    const seen = new Map<string, number>();
    list(n.events).forEach((e, k) => {
      if (typeof e !== 'string') return;
      const first = seen.get(e);
      if (first === undefined) seen.set(e, k);
      else add(['notifications', i, 'events', k], `event "${e}" is listed twice (also events[${first}])`);
    });
    const missing = missingSecret(n.format, n.secretEnv);
    if (missing) add(['notifications', i, 'secretEnv'], missing);
    const url = text(n.url);
    if (url !== undefined && URL.canParse(url)) {
      const parsed = new URL(url);
      if (parsed.username || parsed.password) {
        add(['notifications', i, 'url'], 'the URL carries a user name or password; drop them: deliveries are signed with the secret of secretEnv, which the worker reads from its environment');
      }
    }
  });
}
