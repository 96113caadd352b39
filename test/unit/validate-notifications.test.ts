import { describe, expect, it } from 'vitest';
import type { RolloutSpecInput } from '../../domain/spec';
import { validateSpec } from '../../domain/validate';
import { NOTIFICATION_EVENTS } from '../../domain/notifications';
import { specInput } from '../support/spec';

type Receivers = NonNullable<RolloutSpecInput['notifications']>;
const OPS = { name: 'ops', url: 'https://hooks.example.com/meridian', secretEnv: 'OPS_SECRET' };

const spec = (notifications: unknown): RolloutSpecInput => specInput({ notifications: notifications as Receivers });
const problems = (input: RolloutSpecInput) => {
  const v = validateSpec(input);
  return v.ok ? [] : v.problems.map((p) => (p.field ? `${p.path}.${p.field}: ${p.message}` : `${p.path}: ${p.message}`));
};

describe('notifications in a spec', () => {
  it('compile into the plan; a spec without them has none in its plan', () => {
    const v = validateSpec(spec([OPS]));
    expect(v.ok && v.plan.notifications).toEqual([{ ...OPS, events: [...NOTIFICATION_EVENTS], format: 'json' }]);
    const without = validateSpec(specInput());
    expect(without.ok && 'notifications' in without.plan).toBe(false);
  });

  it.each<[string, unknown, string[]]>([
    ['json without a secret', [{ name: 'ops', url: OPS.url }], ['notifications[0].secretEnv: format json signs every delivery: name the worker\'s environment variable that holds the HMAC secret, e.g. secretEnv: MERIDIAN_WEBHOOK_SECRET']],
    ['a URL that is not http(s)', [{ ...OPS, url: 'ftp://hooks.example.com/x' }], ['notifications[0].url: must be an http:// or https:// URL, got the text "ftp://hooks.example.com/x"']],
    ['a URL with credentials', [{ ...OPS, url: 'https://bot:hunter2@hooks.example.com/x' }], ['notifications[0].url: the URL carries a user name or password; drop them: deliveries are signed with the secret of secretEnv, which the worker reads from its environment']],
    ['an unknown event', [{ ...OPS, events: ['started', 'finished'] }], ['notifications[0].events[1]: unknown value "finished" (known: started, wave-started, approval-needed, region-failed, rollback-started, rollback-finished, needs-attention, succeeded)']],
    ['an event twice', [{ ...OPS, events: ['started', 'succeeded', 'started'] }], ['notifications[0].events[2]: event "started" is listed twice (also events[0])']],
    ['no events', [{ ...OPS, events: [] }], ['notifications[0].events: must not be empty']],
    ['an unknown format', [{ ...OPS, format: 'teams' }], ['notifications[0].format: unknown value "teams" (known: json, slack)']],
    ['a secret written where a name belongs', [{ ...OPS, secretEnv: 's3cr3t-value!' }], ['notifications[0].secretEnv: must be an environment variable name, got the text "s3cr3t-value!"']],
    ['two receivers of one name', [OPS, { ...OPS, url: 'https://other.example.com/' }], ['notifications[1].name: duplicate notification name "ops" (also notifications[0])']],
    ['an unknown field', [{ ...OPS, formt: 'slack' }], ['notifications[0].formt: unknown field "formt" (did you mean format?)']],
    ['an empty list', [], ['notifications: must not be empty']],
  ])('%s is refused at its path', (_what, notifications, expected) => {
    expect(problems(spec(notifications))).toEqual(expected);
  });

  it('reports every problem of a receiver at once, the missing secret beside a bad URL', () => {
    expect(problems(spec([{ name: 'ops', url: 'not a url', events: ['nope'] }]))).toEqual([
      'notifications[0].url: must be an http:// or https:// URL, got the text "not a url"',
      expect.stringMatching(/^notifications\[0\]\.events\[0\]: unknown value "nope"/),
      expect.stringMatching(/^notifications\[0\]\.secretEnv: format json signs every delivery/),
    ]);
  });

  it('slack needs no secret, and signs with one when named', () => {
    expect(problems(spec([{ name: 'chat', url: 'https://chat.example.com/hook', format: 'slack' }]))).toEqual([]);
    expect(problems(spec([{ name: 'chat', url: 'https://chat.example.com/hook', format: 'slack', secretEnv: 'CHAT_SECRET' }]))).toEqual([]);
  });
});
