import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { RolloutCommandError } from '../../client/rollout-client';
import { ConnectionFailedError } from '../../client/connection';
import { compilePlan } from '../../domain/plan';
import { rolloutSpec } from '../../domain/spec';
import type { RolloutStatus } from '../../domain/status';
import { classifyError } from '../../cli/errors';
import { CliError, ExitCode, exitCodeForPhase } from '../../cli/exit-codes';
import { knownGoodProblems, promotedProblems, type FleetRegion } from '../../cli/fleet-check';
import { faultRegions } from '../../cli/demo';
import { parseScenario, rehearsalPlan } from '../../cli/rehearse';
import { judge } from '../../cli/scenario';
import { parse } from 'yaml';
import { tempDir } from '../support/temp-dir';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const scratch = tempDir('meridian-cli-');

function withoutTemporalEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_')));
}

function meridian(...args: string[]) {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: withoutTemporalEnv(),
    timeout: 60_000,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

function closedPort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

describe('meridian (spawned)', () => {
  it('validates the demo spec', () => {
    const r = meridian('validate', 'examples/demo.yaml');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('examples/demo.yaml: valid (3 waves, 5 regions)\n');
    expect(r.code).toBe(0);
  });

  it('rejects a bad spec with exit 2 and the path in stderr', () => {
    const file = join(scratch, 'bad.yaml');
    writeFileSync(file, 'service: Checkout\nversion: 1.0.0\n');
    const r = meridian('validate', file);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(file);
    expect(r.stderr).toMatch(/service/);
  });

  it('lists every exit code in --help', () => {
    const r = meridian('--help');
    expect(r.code).toBe(0);
    for (const line of [
      '  0  success',
      '  1  unexpected error',
      '  2  invalid spec or usage',
      '  3  the rollout ended RolledBack or Failed',
      '  4  the rollout ended NeedsAttention',
      '  5  cannot reach Temporal',
      '  6  the workflow rejected the command',
    ]) {
      expect(r.stdout).toContain(line);
    }
  });

  it('exits 2 on a usage error', () => {
    const r = meridian('approve', 'rollout/checkout/2.4.0', '--by', 'alice');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("required option '--region <region>' not specified");
  });

  it('exits 5 with one line when Temporal cannot be reached', async () => {
    const address = `127.0.0.1:${await closedPort()}`;
    const r = meridian('status', 'rollout/checkout/2.4.0', '--address', address);
    expect(r.code).toBe(5);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`cannot reach Temporal at ${address}`);
  }, 30_000);

  it('exits 2 on a bad scenario line before starting anything', () => {
    const scenario = join(scratch, 'faults.txt');
    writeFileSync(scenario, '# comment\nus-east-1: error_rate 0.08 when weight >= 25\n\nus-east-1: explode\n');
    const r = meridian('rehearse', 'examples/demo.yaml', '--scenario', scenario);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${scenario}:4:`);
    expect(r.stdout).toBe('');
  });
});

describe('exit codes', () => {
  it.each([
    ['Succeeded', 0],
    ['RolledBack', 3],
    ['Failed', 3],
    ['NeedsAttention', 4],
  ] as const)('%s -> %i', (phase, code) => expect(exitCodeForPhase(phase)).toBe(code));

  it('classifies errors', () => {
    expect(classifyError(new ConnectionFailedError('x:1', new Error('refused'))).code).toBe(ExitCode.Unreachable);
    expect(classifyError(new RolloutCommandError('no gate is waiting in eu-west-1'))).toEqual({
      code: ExitCode.Rejected,
      message: 'rejected: no gate is waiting in eu-west-1',
    });
    expect(classifyError(new CliError('bad', ExitCode.Usage)).code).toBe(ExitCode.Usage);
    expect(classifyError(new CommanderError(1, 'commander.missingArgument', 'x'))).toEqual({ code: ExitCode.Usage });
    expect(classifyError(new CommanderError(0, 'commander.helpDisplayed', 'x'))).toEqual({ code: ExitCode.Success });
    expect(classifyError(new Error('boom'))).toEqual({ code: ExitCode.Unexpected, message: 'unexpected error: boom' });
  });
});

const plan = compilePlan(rolloutSpec.parse(parse(readFileSync(join(ROOT, 'examples/demo.yaml'), 'utf8'))));
const workload = (image: string): FleetRegion => ({ stable: { image, config: {} }, canary: null, weight: 0 });

describe('fleet checks', () => {
  it('accepts regions back on their known-good workload and names the ones that are not', () => {
    const before = { a: workload('app:1'), b: workload('app:1'), c: workload('app:1') };
    expect(knownGoodProblems(before, structuredClone(before))).toEqual([]);
    const after = {
      a: workload('app:2'),
      b: { ...workload('app:1'), canary: { image: 'app:2', config: {} } },
      c: { ...workload('app:1'), weight: 25 },
    };
    expect(knownGoodProblems(before, after)).toEqual([
      'a: runs app:2, known-good is app:1',
      'b: a canary (app:2) is still deployed',
      'c: canary weight is 25%, known-good is 0%',
    ]);
  });

  it('wants the new image at 100% everywhere after a success', () => {
    const done = Object.fromEntries(Object.keys(plan.regions).map((n) => [n, { ...workload(plan.image), weight: 100 }]));
    expect(promotedProblems(plan, done)).toEqual([]);
    expect(promotedProblems(plan, { ...done, 'us-east-1': { ...workload(plan.image), weight: 50 } })).toEqual([
      'us-east-1: weight is 50%, expected 100%',
    ]);
  });
});

describe('demo and rehearsal judgement', () => {
  const ended = (over: Partial<RolloutStatus>): RolloutStatus => ({
    id: 'r',
    service: 'checkout',
    version: '2.4.0',
    baselines: {},
    image: plan.image,
    phase: 'RolledBack',
    failurePolicy: 'rollback-all',
    wave: { index: 1, total: 3, name: 'early' },
    regions: [],
    pendingApprovals: [],
    compensation: [],
    audit: [{ at: '2025-01-01T00:00:00Z', actor: 'meridian', action: 'analysis-failed', region: 'us-east-1', reason: 'error_rate 0.08 > max 0.02' }],
    startedAt: '2025-01-01T00:00:00Z',
    ...over,
  });

  it('names the regions of the demo fault', () => {
    expect(faultRegions(plan.simulation!.faults)).toEqual(['us-east-1']);
  });

  it('passes a rollback caused by the faulty region with a clean fleet', () => {
    expect(judge(ended({}), 'RolledBack', [], ['us-east-1'])).toMatchObject({ ok: true, code: 0 });
  });

  it('fails when the wrong region is blamed or the fleet is not restored', () => {
    const wrong = judge(ended({}), 'RolledBack', ['eu-west-1: runs app:2, known-good is app:1'], ['eu-west-1']);
    expect(wrong.ok).toBe(false);
    expect(wrong.code).toBe(ExitCode.Unexpected);
    expect(wrong.lines).toEqual([
      'NOT as expected:',
      '  expected eu-west-1 to be named as the cause of the rollback',
      '  eu-west-1: runs app:2, known-good is app:1',
    ]);
  });

  it("returns the rollout's own code when it ended in another bad phase", () => {
    expect(judge(ended({ phase: 'NeedsAttention' }), 'RolledBack', []).code).toBe(ExitCode.NeedsAttention);
    expect(judge(ended({ phase: 'RolledBack' }), 'Succeeded', []).code).toBe(ExitCode.RolledBack);
    expect(judge(ended({ phase: 'Succeeded' }), 'RolledBack', []).code).toBe(ExitCode.Unexpected);
  });
});

describe('rehearsal', () => {
  it('reads one fault per line, skipping blanks and comments', () => {
    expect(parseScenario('# faults\n\neu-west-1: fail restore 2 times  # flaky\n', 'f.txt')).toEqual(['eu-west-1: fail restore 2 times']);
  });

  it('simulates every region, uses the scenario faults and rolls back everything', () => {
    const rehearsal = rehearsalPlan({ ...plan, failurePolicy: 'rollback-region' }, ['eu-west-1: fail deploy always']);
    expect(Object.values(rehearsal.regions).map((r) => r.target)).toEqual(Object.keys(plan.regions).map(() => ({ kind: 'simulated' })));
    expect(rehearsal.simulation).toEqual({ faults: ['eu-west-1: fail deploy always'], baseline: plan.simulation!.baseline });
    expect(rehearsal.failurePolicy).toBe('rollback-all');
    expect(plan.regions['eu-west-1']!.target).toMatchObject({ initial: { image: 'registry.example.com/shop/checkout:2.3.1' } });
  });
});
