import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deliveryBody, slackMessage } from '../../activities/notifications/payload';
import { signBody, verifySignature } from '../../activities/notifications/signature';
import { compileNotifications, deliveryKey, NOTIFICATION_EVENTS, type NotificationPayload } from '../../domain/notifications';
import { notification } from '../../domain/notification-spec';

const PAYLOAD: NotificationPayload = {
  id: 'rollout/checkout/2.4.0/region-failed/us-east-1/1',
  event: 'region-failed',
  rollout: 'rollout/checkout/2.4.0',
  service: 'checkout',
  version: '2.4.0',
  region: 'us-east-1',
  at: '2026-03-01T10:00:00.000Z',
  phase: 'RollingBack',
  reason: 'error_rate 0.08 > 0.02 at weight 25 <canary>',
  data: { failure: 'AnalysisFailed' },
};

describe('delivery signatures', () => {
  it('are sha256= and the hex HMAC-SHA256 of the body as sent, keyed with the secret', () => {
    const body = deliveryBody(PAYLOAD, 'json');
    const expected = createHmac('sha256', 'topsecret').update(body).digest('hex');
    expect(signBody(body, 'topsecret')).toBe(`sha256=${expected}`);
    expect(signBody(body, 'topsecret')).toMatch(/^sha256=[0-9a-f]{64}$/);
  });

  it('verify against the same body and secret only', () => {
    const body = deliveryBody(PAYLOAD, 'json');
    const header = signBody(body, 'topsecret');
    expect(verifySignature(body, header, 'topsecret')).toBe(true);
    expect(verifySignature(body, header, 'other')).toBe(false);
    expect(verifySignature(body.replace('us-east-1', 'eu-west-1'), header, 'topsecret')).toBe(false);
    expect(verifySignature(body, undefined, 'topsecret')).toBe(false);
    expect(verifySignature(body, 'sha256=00', 'topsecret')).toBe(false);
  });

  it('sign the text byte for byte: a body with non-ASCII text signs its UTF-8 bytes', () => {
    const body = deliveryBody({ ...PAYLOAD, reason: 'Zürich → São Paulo' }, 'json');
    expect(signBody(body, 's')).toBe(`sha256=${createHmac('sha256', 's').update(Buffer.from(body, 'utf8')).digest('hex')}`);
  });
});

describe('payloads', () => {
  it('json: the payload itself, every field of it', () => {
    expect(JSON.parse(deliveryBody(PAYLOAD, 'json'))).toEqual(PAYLOAD);
    const { region: _r, reason: _why, ...rolloutWide } = PAYLOAD;
    expect(Object.keys(JSON.parse(deliveryBody({ ...rolloutWide, event: 'started', data: {} }, 'json')))).toEqual(['id', 'event', 'rollout', 'service', 'version', 'at', 'phase', 'data']);
  });

  it('slack: text and blocks as an incoming webhook takes them, mrkdwn special characters escaped', () => {
    const body = JSON.parse(deliveryBody(PAYLOAD, 'slack')) as ReturnType<typeof slackMessage>;
    expect(Object.keys(body)).toEqual(['text', 'blocks']);
    expect(body.text).toContain('us-east-1');
    expect(body.blocks.map((b) => b.type)).toEqual(['section', 'context']);
    const section = body.blocks[0] as { text: { type: string; text: string } };
    expect(section.text.type).toBe('mrkdwn');
    expect(section.text.text).toContain('&lt;canary&gt;');
    expect(section.text.text).not.toContain('<canary>');
    const context = body.blocks[1] as { elements: { type: string; text: string }[] };
    expect(context.elements[0]!.text).toContain('RollingBack');
    expect(context.elements[0]!.text).toContain(PAYLOAD.at);
  });

  it('slack: a headline for every event', () => {
    const data: Record<string, Record<string, unknown>> = {
      started: { image: 'x', regions: ['eu-west-1'], waves: 1 },
      'wave-started': { index: 0, name: 'canary', regions: ['eu-west-1'] },
      'approval-needed': { gate: 'go', approvers: ['alice'] },
      'region-failed': {},
      'rollback-started': { regions: ['eu-west-1'] },
      'rollback-finished': { regions: ['eu-west-1'] },
      'needs-attention': { failed: [] },
      succeeded: { image: 'x' },
    };
    for (const event of NOTIFICATION_EVENTS) {
      const text = slackMessage({ ...PAYLOAD, event, data: data[event]! }).text;
      expect(text, event).toMatch(/^checkout 2\.4\.0/);
      expect(text, event).not.toContain('undefined');
    }
  });
});

describe('delivery keys', () => {
  it('name the rollout, the event, the region of a region event, and the occurrence', () => {
    expect(deliveryKey('rollout/checkout/2.4.0', 'started', 1)).toBe('rollout/checkout/2.4.0/started/1');
    expect(deliveryKey('rollout/checkout/2.4.0', 'wave-started', 3)).toBe('rollout/checkout/2.4.0/wave-started/3');
    expect(deliveryKey('rollout/checkout/2.4.0', 'approval-needed', 2, 'eu-west-1')).toBe('rollout/checkout/2.4.0/approval-needed/eu-west-1/2');
  });
});

describe('notifications in a plan', () => {
  it('every event unless some are named, in the vocabulary order; json by default; the secret by name only', () => {
    const specs = [
      notification.parse({ name: 'ops', url: 'https://hooks.example.com/meridian', secretEnv: 'OPS_SECRET' }),
      notification.parse({ name: 'chat', url: 'https://chat.example.com/hook', format: 'slack', events: ['succeeded', 'region-failed'] }),
    ];
    expect(compileNotifications(specs)).toEqual([
      { name: 'ops', url: 'https://hooks.example.com/meridian', events: [...NOTIFICATION_EVENTS], format: 'json', secretEnv: 'OPS_SECRET' },
      { name: 'chat', url: 'https://chat.example.com/hook', events: ['region-failed', 'succeeded'], format: 'slack' },
    ]);
  });
});
