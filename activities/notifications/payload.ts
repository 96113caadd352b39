import type { NotificationFormat, NotificationPayload } from '../../domain/notifications';

/** What a delivery sends: the JSON payload itself, or a Slack message written from it. */
export function deliveryBody(payload: NotificationPayload, format: NotificationFormat): string {
  return JSON.stringify(format === 'slack' ? slackMessage(payload) : payload);
}

export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

type SlackText = { type: 'mrkdwn'; text: string };
type SlackBlock = { type: 'section'; text: SlackText } | { type: 'context'; elements: SlackText[] };

/** Slack's mrkdwn gives `&`, `<` and `>` a meaning of their own; everything else shows as written. */
const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** `{ text, blocks }` as a Slack incoming webhook takes it: the headline as the fallback text, then the reason and where it happened. */
export function slackMessage(p: NotificationPayload): SlackMessage {
  const text = headline(p);
  const body = p.reason ? `*${escape(text)}*\n${escape(p.reason)}` : `*${escape(text)}*`;
  const where = [`rollout \`${escape(p.rollout)}\``, `phase ${p.phase}`, ...(p.region ? [`region ${escape(p.region)}`] : []), p.at];
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: body } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: where.join(' · ') }] },
    ],
  };
}

const list = (v: unknown) => (Array.isArray(v) ? v.join(', ') : '');

/** One line a person reads at a glance. */
export function headline(p: NotificationPayload): string {
  const what = `${p.service} ${p.version}`;
  const d = p.data;
  switch (p.event) {
    case 'started':
      return `${what}: rollout started over ${list(d.regions)}`;
    case 'wave-started':
      return `${what}: wave ${Number(d.index) + 1} (${String(d.name)}) started: ${list(d.regions)}`;
    case 'approval-needed':
      return `${what}: approval needed in ${p.region}${d.service ? ` for ${String(d.service)}` : ''} (gate ${String(d.gate)})${d.approvers ? `, by ${list(d.approvers)}` : ''}`;
    case 'region-failed':
      return `${what}: ${p.region} failed`;
    case 'rollback-started':
      return `${what}: rolling back ${list(d.regions) || 'nothing'}`;
    case 'rollback-finished':
      return `${what}: rollback finished in ${list(d.regions) || 'no region'}`;
    case 'needs-attention':
      return `${what} needs attention`;
    case 'succeeded':
      return `${what} succeeded`;
  }
}
