import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLAGD_DIR_ENV } from '../../activities/flags/activities';
import type { RolloutSpecInput } from '../../domain/spec';
import { validateSpec } from '../../domain/validate';
import { auditDataOf, regionOf } from '../support/status';
import { tempDir } from '../support/temp-dir';
import { startTimeSkipping } from './harness';
import { endedHow, withRollout } from './support';

/** Rollouts with flag steps on the time-skipping server, with flagd flag files the worker writes. */
const OLD = 'registry.test/shop/checkout:2.3.1';
const FLAG = 'checkout-new-path';
let env: TestWorkflowEnvironment;
let dir: string;

beforeAll(async () => {
  dir = tempDir('meridian-flags-');
  process.env[FLAGD_DIR_ENV] = dir;
  env = await startTimeSkipping();
}, 60_000);

afterAll(async () => {
  await env?.teardown();
});

const BEFORE = { flags: { other: { state: 'ENABLED', variants: { a: 'a' }, defaultVariant: 'a' } } };
const fileOf = (region: string) => join(dir, `checkout-${region}.json`);

function plan(over: Partial<RolloutSpecInput>) {
  const input: RolloutSpecInput = {
    service: 'checkout',
    version: `2.4.0-${Date.now()}`,
    image: `registry.test/shop/checkout@sha256:${'4'.repeat(64)}`,
    regions: [
      { name: 'eu-west-1', target: { kind: 'simulated', initial: { image: OLD } } },
      { name: 'us-east-1', target: { kind: 'simulated', initial: { image: OLD } }, flags: { maxFraction: 20 } },
    ],
    waves: [{ regions: ['eu-west-1'] }, { regions: ['us-east-1'] }],
    metrics: [{ name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 }],
    steps: [
      { kind: 'flag', flag: FLAG, variant: 'on', fraction: 10 },
      { kind: 'setWeight', weight: 25 },
      { kind: 'flag', flag: FLAG, variant: 'on', fraction: 50 },
      { kind: 'analysis', metrics: ['error_rate'], interval: '500ms', sustainedFor: '1s' },
    ],
    flags: [{ key: FLAG, variants: { on: true, off: false }, killSwitch: 'off', safeWhenOff: true }],
    flagProvider: { type: 'flagd', file: 'checkout-{{region}}' },
    simulation: { baseline: { error_rate: 0.004 }, faults: [] },
    ...over,
  };
  const v = validateSpec(input);
  if (!v.ok) throw new Error(v.problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return v.plan;
}

describe('flag steps', () => {
  it('cap the fraction per region, and a breach turns every touched region\'s flag off first, then restores it exactly', async () => {
    mkdirSync(dir, { recursive: true });
    for (const r of ['eu-west-1', 'us-east-1']) writeFileSync(fileOf(r), `${JSON.stringify(BEFORE, null, 2)}\n`);
    const before = readFileSync(fileOf('eu-west-1'), 'utf8');
    await withRollout(env, plan({ simulation: { baseline: { error_rate: 0.004 }, faults: ['us-east-1: error_rate 0.08 when weight >= 25'] } }), async (run) => {
      const { status, failure } = await run.end();
      expect(status.phase, endedHow(status, failure)).toBe('RolledBack');
      expect(auditDataOf(status, 'flag', 'us-east-1').map((d) => [d.fraction, d.requested])).toEqual([[10, undefined], [20, 50]]);
      const undos = status.compensation.map((r) => [r.undo.region, r.undo.kind]);
      expect(undos.slice(0, 2).map(([, k]) => k)).toEqual(['killSwitch', 'killSwitch']);
      expect(undos.slice(2).map(([, k]) => k)).not.toContain('killSwitch');
      expect(regionOf(status, 'us-east-1').flags, 'restored: no flag state of the rollout left').toEqual({});
    });
    expect(readFileSync(fileOf('eu-west-1'), 'utf8')).toBe(before);
    expect(readFileSync(fileOf('us-east-1'), 'utf8')).toBe(before);
  }, 120_000);

  it('onFailure: killSwitchOnly turns the flag off and keeps the new version', async () => {
    for (const r of ['eu-west-1', 'us-east-1']) writeFileSync(fileOf(r), `${JSON.stringify(BEFORE, null, 2)}\n`);
    const fleet = await withRollout(env, plan({ onFailure: 'killSwitchOnly', simulation: { baseline: { error_rate: 0.004 }, faults: ['us-east-1: error_rate 0.08 when weight >= 25'] } }), async (run) => {
      const { status, failure } = await run.end();
      expect(status.phase, endedHow(status, failure)).toBe('Failed');
      expect(status.compensation.map((r) => r.undo.kind)).toEqual(['killSwitch', 'killSwitch']);
      expect(regionOf(status, 'us-east-1')).toMatchObject({ phase: 'Degraded', flags: { [FLAG]: { variant: 'off', fraction: 100 } } });
    });
    const file = JSON.parse(readFileSync(fileOf('us-east-1'), 'utf8'));
    expect(file.flags[FLAG].defaultVariant).toBe('off');
    expect(file.flags[FLAG].targeting).toBeUndefined();
    expect(fleet.region('checkout', 'eu-west-1')?.stable.image).toContain('sha256:');
  }, 120_000);
});
