import { describe, expect, it } from 'vitest';
import type { RolloutSpecInput } from '../../domain/spec';
import { validateSpec } from '../../domain/validate';

const IMAGE = `registry.test/shop/checkout@sha256:${'4'.repeat(64)}`;
const FLAG = { key: 'new-path', variants: { on: true, off: false }, killSwitch: 'off' };

function spec(over: Partial<RolloutSpecInput> = {}): RolloutSpecInput {
  return {
    service: 'checkout',
    version: '2.4.0',
    image: IMAGE,
    regions: [
      { name: 'eu-west-1', target: { kind: 'simulated' }, flags: { maxFraction: 20 } },
      { name: 'us-east-1', target: { kind: 'simulated' }, flags: { provider: { type: 'unleash', url: 'http://unleash.internal:4242', tokenEnv: 'UNLEASH_TOKEN' } } },
    ],
    waves: [{ regions: ['eu-west-1', 'us-east-1'] }],
    steps: [{ kind: 'flag', flag: 'new-path', variant: 'on', fraction: 50 }, { kind: 'setWeight', weight: 25 }],
    flags: [FLAG],
    flagProvider: { type: 'flagd', file: 'checkout-{{region}}' },
    ...over,
  };
}

const problems = (input: RolloutSpecInput) => {
  const v = validateSpec(input);
  return v.ok ? [] : v.problems.map((p) => `${p.path}: ${p.message}`);
};

describe('flags in a spec', () => {
  it('compile to a provider and cap per region, {{region}} filled in, the default variant the kill switch', () => {
    const v = validateSpec(spec());
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(v.plan.flags).toEqual({
      flags: [{ ...FLAG, defaultVariant: 'off' }],
      regions: {
        'eu-west-1': { provider: { type: 'flagd', file: 'checkout-eu-west-1' }, maxFraction: 20 },
        'us-east-1': { provider: { type: 'unleash', url: 'http://unleash.internal:4242', project: 'default', environment: 'us-east-1', tokenEnv: 'UNLEASH_TOKEN' } },
      },
      onFailure: 'rollback',
    });
  });

  it.each<[string, Partial<RolloutSpecInput>, string[]]>([
    ['a kill switch that is not a variant', { flags: [{ ...FLAG, killSwitch: 'of' }] }, ['flags[0].killSwitch: "of" is not one of the flag\'s variants (on, off)']],
    [
      'a flag step of an unknown flag',
      { steps: [{ kind: 'flag', flag: 'new-pth', variant: 'on', fraction: 10 }] },
      ['steps[0].flag: unknown flag "new-pth" (did you mean new-path?)'],
    ],
    ['an unknown variant', { steps: [{ kind: 'flag', flag: 'new-path', variant: 'maybe', fraction: 10 }] }, ['steps[0].variant: "maybe" is not a variant of flag "new-path" (on, off)']],
    [
      'a region with a flag step and no provider',
      { flagProvider: undefined },
      ['steps[0]: region "eu-west-1" runs this flag step but has no flag provider; give it flags.provider or set flagProvider for the rollout'],
    ],
    [
      'killSwitchOnly without a flag declared safe when off',
      { onFailure: 'killSwitchOnly' },
      ['flags[0].safeWhenOff: onFailure: killSwitchOnly keeps the new version deployed with flag "new-path" off; declare safeWhenOff: true only if the new version is safe that way'],
    ],
    ['killSwitchOnly without flags', { onFailure: 'killSwitchOnly', flags: undefined, steps: [{ kind: 'setWeight', weight: 25 }] }, ['onFailure: killSwitchOnly turns flags off and keeps the new version; it needs flags']],
  ])('refuses %s, naming the path', (_, over, expected) => {
    expect(problems(spec(over))).toEqual(expected);
  });

  it('accepts killSwitchOnly when every flag is safe with it off', () => {
    expect(problems(spec({ onFailure: 'killSwitchOnly', flags: [{ ...FLAG, safeWhenOff: true }] }))).toEqual([]);
  });
});
