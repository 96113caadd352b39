import { describe, expect, it } from 'vitest';
import { identityProblem } from '../../domain/identity';
import { rolloutSpec } from '../../domain/spec';
import { validateSpec } from '../../domain/validate';
import { specInput, testPlan } from '../support/spec';

describe('service and version', () => {
  const accepted: [string, string][] = [
    ['version', '2.4.0'],
    ['version', 'v1.2.3-rc.1'],
    ['version', '_build_42'],
    ['version', 'A'.repeat(128)],
    ['version', '20240501.1'],
    ['service', 'checkout'],
    ['service', 'shop.checkout-api'],
    ['service', 'a'],
    ['service', 'a'.repeat(63)],
  ];
  const refused: [string, string, string][] = [
    ['version', '', 'too_small'],
    ['version', '../../etc/passwd', 'invalid_format'],
    ['version', 'a/b', 'invalid_format'],
    ['version', '1.0\nphase: Succeeded', 'invalid_format'],
    ['version', '$(rm -rf /)', 'invalid_format'],
    ['version', "1'; DROP TABLE ledger; --", 'invalid_format'],
    ['version', '`id`', 'invalid_format'],
    ['version', '1.0.0+build.5', 'invalid_format'],
    ['version', '.1', 'invalid_format'],
    ['version', '-1', 'invalid_format'],
    ['version', 'A'.repeat(129), 'invalid_format'],
    ['service', '', 'too_small'],
    ['service', 'Checkout', 'invalid_format'],
    ['service', 'check_out', 'invalid_format'],
    ['service', 'shop/checkout', 'invalid_format'],
    ['service', '-checkout', 'invalid_format'],
    ['service', 'checkout.', 'invalid_format'],
    ['service', 'a'.repeat(64), 'invalid_format'],
  ];

  it.each(accepted)('accepts %s %j', (field, value) => {
    expect(validateSpec(specInput({ [field]: value })).ok).toBe(true);
    expect(identityProblem({ ...testPlan(), [field]: value })).toBeUndefined();
  });

  it.each(refused)('refuses %s %j', (field, value, code) => {
    const parsed = rolloutSpec.safeParse(specInput({ [field]: value }));
    expect(parsed.success ? [] : parsed.error.issues.map((i) => [i.path, i.code])).toEqual([[[field], code]]);
    const result = validateSpec(specInput({ [field]: value }));
    expect(result.ok ? [] : result.problems.map((p) => p.path)).toEqual([field]);
    expect(identityProblem({ ...testPlan(), [field]: value })?.field).toBe(field);
  });

  it('states the allowed form in the error', () => {
    const result = validateSpec(specInput({ version: 'a/b' }));
    expect(result.ok ? '' : result.problems[0]!.message).toContain('OCI image tag');
  });
});
