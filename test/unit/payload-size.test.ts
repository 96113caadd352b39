import proto from '@temporalio/proto';
import { defaultPayloadConverter } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { encodedSize, PAYLOAD_LIMIT_BYTES, PayloadTooLargeError, payloadTooLarge } from '../../client/payload-size';
import { validateSpecText } from '../../client/spec-file';
import { assertStartable, InvalidIdentityError } from '../../client/start-checks';
import { testPlan } from '../support/spec';

const MiB = 1024 * 1024;

/** A plan whose one migration carries `bytes` of SQL. */
function planWithSql(bytes: number) {
  return { ...testPlan(), migrations: [{ id: '001', up: `-- ${'x'.repeat(bytes)}`, down: 'select 1', phase: 'expand' as const, transactional: true }] };
}

describe('encodedSize', () => {
  it.each([
    ['a plan', [{ plan: testPlan(), startedBy: 'ana' }]],
    ['nothing', [undefined]],
    ['several arguments', ['a', 1, { é: 'ü'.repeat(300) }]],
    ['a large plan', [{ plan: planWithSql(200_000) }]],
  ])('is the size the server measures for %s', (_name, args) => {
    const payloads = proto.temporal.api.common.v1.Payloads.encode({ payloads: args.map((a) => defaultPayloadConverter.toPayload(a)) }).finish();
    expect(encodedSize(args)).toBe(payloads.length);
  });
});

describe('payloadTooLarge', () => {
  it.each([
    ['a small plan under the default limit', planWithSql(0), undefined, undefined],
    ['a plan just under 2 MiB', planWithSql(2 * MiB - 20_000), undefined, undefined],
    ['a 3 MiB plan', planWithSql(3 * MiB), undefined, PAYLOAD_LIMIT_BYTES],
    ['a small plan under a lowered limit', planWithSql(0), 1_000, 1_000],
    ['a 3 MiB plan under a raised limit', planWithSql(3 * MiB), 4 * MiB, undefined],
  ])('%s', (_name, plan, limitBytes, refusedAt) => {
    const err = payloadTooLarge([{ plan }], { limitBytes, weighed: plan });
    expect(err?.limitBytes).toBe(refusedAt);
    if (err) {
      expect(err.sizeBytes).toBe(encodedSize([{ plan }]));
      expect(err.message).toContain(err.sizeBytes.toLocaleString('en-US'));
      expect(err.message).toContain(err.limitBytes.toLocaleString('en-US'));
    }
  });

  it('names the largest parts of the plan', () => {
    expect(payloadTooLarge([{ plan: planWithSql(3 * MiB) }], { weighed: planWithSql(3 * MiB) })?.message).toMatch(/largest parts: migrations 3 MiB/);
  });
});

describe('assertStartable', () => {
  it.each([
    ['a plan from a spec', testPlan(), undefined],
    ['a version with a path separator', { ...testPlan(), version: '../2.4.0' }, { name: 'InvalidIdentityError', field: 'version' }],
    ['a service in upper case', { ...testPlan(), service: 'Checkout' }, { name: 'InvalidIdentityError', field: 'service' }],
    ['a 3 MiB plan', planWithSql(3 * MiB), { name: 'PayloadTooLargeError', limitBytes: PAYLOAD_LIMIT_BYTES }],
  ])('%s', (_name, plan, refusal) => {
    let caught: unknown;
    try {
      assertStartable({ plan, startedBy: 'ana' } as never);
    } catch (err) {
      caught = err;
    }
    if (refusal === undefined) return expect(caught).toBeUndefined();
    expect(caught instanceof InvalidIdentityError || caught instanceof PayloadTooLargeError).toBe(true);
    expect(caught).toMatchObject(refusal);
  });
});

describe('validateSpecText', () => {
  const SPEC = `service: checkout
version: 2.4.0
image: shop/checkout:2.4.0
regions: [{ name: eu-west-1, target: { kind: simulated } }]
waves: [{ regions: [eu-west-1] }]
steps: [{ kind: setWeight, weight: 10 }]
`;

  it('refuses a plan over the payload limit before anything starts, and accepts it under a higher limit', () => {
    const big = `${SPEC}config:\n  blob: "${'x'.repeat(3 * MiB)}"\n`;
    const refused = validateSpecText(big, 'spec.yaml');
    expect(refused.ok ? [] : refused.problems.map((p) => p.path)).toEqual(['']);
    expect(validateSpecText(big, 'spec.yaml', { payloadLimitBytes: 4 * MiB }).ok).toBe(true);
    expect(validateSpecText(SPEC, 'spec.yaml').ok).toBe(true);
  });
});
