import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { NoWorkerError, RolloutCommandError, RolloutEndedError, type RolloutRecord } from '../../client/rollout-client';
import { ConnectionFailedError } from '../../client/connection';
import { formatDuration } from '../../domain/duration';
import { compilePlan } from '../../domain/plan';
import { rolloutSpec } from '../../domain/spec';
import type { RolloutStatus } from '../../domain/status';
import { classifyError } from '../../cli/errors';
import { FleetFileError } from '../../activities/fleet/index';
import { CliError, ExitCode, exitCodeForPhase } from '../../cli/exit-codes';
import { buildProgram } from '../../cli/program';
import { DEFAULT_DB_FILE, DEFAULT_PORT, DEFAULT_UI_PORT } from '../../worker/dev-server';
import { DEFAULT_FLEET_FILE, DEFAULT_SHUTDOWN_GRACE_MS } from '../../worker/index';
import { knownGoodProblems, promotedProblems, type FleetRegion } from '../../cli/fleet-check';
import { faultRegions } from '../../cli/demo';
import { parseScenario, rehearsalPlan } from '../../cli/rehearse';
import { loadSpec } from '../../client/spec-file';
import { encodedSize, PAYLOAD_LIMIT_BYTES } from '../../client/payload-size';
import type { RolloutPlan } from '../../domain/plan';
import { judge, promotedImages } from '../../cli/scenario';
import { parse } from 'yaml';
import { tempDir } from '../support/temp-dir';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const scratch = tempDir('meridian-cli-');

function withoutTemporalEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_')));
}

function meridian(...args: string[]) {
  return spawned([], ...args);
}

/** `meridian` with extra node flags before the entry point. */
function spawned(nodeFlags: string[], ...args: string[]) {
  const run = spawnSync(process.execPath, [...nodeFlags, 'bin/meridian.js', ...args], {
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
      "  7  no worker polls the rollout's task queue",
    ]) {
      expect(r.stdout).toContain(line);
    }
  });

  it('exits 2 on a usage error', () => {
    const r = meridian('approve', 'rollout/checkout/2.4.0', '--by', 'alice');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("required option '--region <region>' not specified");
  });

  it('exits 5 with one line, at once, when the port refuses', async () => {
    const address = `127.0.0.1:${await closedPort()}`;
    const started = performance.now();
    const r = meridian('status', 'rollout/checkout/2.4.0', '--address', address);
    const took = performance.now() - started;
    expect(r.code).toBe(5);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`cannot reach Temporal at ${address} (connection refused)`);
    // The gRPC client alone retries a refused port for its whole 5 s connect timeout.
    expect(took).toBeLessThan(4_000);
  }, 30_000);

  it('start refuses a spec whose plan is over the payload limit with exit 2, its size, the limit and its largest parts, before connecting', async () => {
    const file = join(scratch, 'heavy.yaml');
    const spec = parse(readFileSync(join(ROOT, 'examples', 'demo.yaml'), 'utf8'));
    spec.config = { ...spec.config, blob: 'x'.repeat(3 * 1024 * 1024) };
    writeFileSync(file, JSON.stringify(spec));
    // Nothing listens there: a refusal that needed the server would be exit 5.
    const r = meridian('start', file, '--by', 'carol', '--json', '--address', `127.0.0.1:${await closedPort()}`);
    expect(r.code, r.stderr).toBe(ExitCode.Usage);
    expect(r.stdout).toBe('');

    // What the message says is what the plan encodes to, as the server would measure it.
    const loaded = await loadSpec(file, { payloadLimitBytes: Number.MAX_SAFE_INTEGER });
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    const size = encodedSize([{ plan: loaded.plan }]);
    expect(size).toBeGreaterThan(3 * 1024 * 1024);
    const refusal = /is [\d.]+ MiB \(([\d,]+) bytes\) encoded, over Temporal's payload limit of [\d.]+ MiB \(([\d,]+) bytes\);.* largest parts: ([^)]*)\)$/m.exec(r.stderr);
    expect(refusal, r.stderr).not.toBeNull();
    const bytes = (text: string) => Number(text.replace(/,/g, ''));
    expect({ size: bytes(refusal![1]!), limit: bytes(refusal![2]!) }).toEqual({ size, limit: PAYLOAD_LIMIT_BYTES });
    const largest = refusal![3]!.split(', ').map((part) => part.split(' ')[0]);
    expect(largest[0]).toBe('config');
    expect(largest).toHaveLength(3);
  }, 60_000);

  it('loads neither the worker, Kubernetes, the demo nor the fleet for --help and status', async () => {
    const loaded = (...args: string[]) =>
      spawned(['--import', `data:text/javascript,${encodeURIComponent(RESOLVE_LOGGER)}`], ...args)
        .stderr.split('\n')
        .filter((l) => l.startsWith('RESOLVED '));
    const help = loaded('--help');
    const status = loaded('status', 'rollout/checkout/2.4.0', '--address', `127.0.0.1:${await closedPort()}`);
    expect(help.length).toBeGreaterThan(0);
    expect(status.some((l) => l.includes('@temporalio/client'))).toBe(true);
    for (const [what, urls] of [['--help', help], ['status', status]] as const) {
      const heavy = urls.filter((l) => /@temporalio\/(worker|testing)|@kubernetes|\/cli\/(demo|rehearse|scenario|sandbox)|\/activities\/fleet/.test(l));
      expect(heavy, what).toEqual([]);
    }
    expect(help.filter((l) => l.includes('@temporalio/')), '--help').toEqual([]);
  }, 30_000);

  it('validate --json gives the parsed waves and regions, or every problem with its place and exit 2', () => {
    const good = meridian('validate', 'examples/demo.yaml', '--json');
    expect(good.code).toBe(0);
    const plan = JSON.parse(good.stdout);
    expect(plan).toMatchObject({ file: 'examples/demo.yaml', valid: true, warnings: [] });
    expect(plan.waves.map((w: { name: string }) => w.name)).toEqual(['canary', 'early', 'rest']);
    expect(plan.regions).toEqual(['eu-west-1', 'us-east-1', 'eu-central-1', 'ap-south-1', 'ap-northeast-1']);

    const bad = meridian('validate', 'test/fixtures/specs/bad/many-problems.yaml', '--json');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('');
    const report = JSON.parse(bad.stdout);
    expect(report.valid).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ field: 'taget', line: 12, column: 5 }));
  });

  it('exits 2 on a bad scenario line before starting anything', () => {
    const scenario = join(scratch, 'faults.txt');
    writeFileSync(scenario, '# comment\nus-east-1: error_rate 0.08 when weight >= 25\n\nus-east-1: explode\n');
    const r = meridian('rehearse', 'examples/demo.yaml', '--scenario', scenario);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${scenario}:4:`);
    expect(r.stdout).toBe('');
  });
});

/** Logs every module URL the process resolves, CommonJS and ESM alike. */
const RESOLVE_LOGGER = `
import { registerHooks } from 'node:module';
import { writeSync } from 'node:fs';
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); writeSync(2, 'RESOLVED ' + r.url + '\\n'); return r; } });
`;

/** Runs the command line in this process; returns the exit code main() would and what commander wrote to stderr. */
async function parsed(...args: string[]): Promise<{ code: ExitCode; err: string; out: string }> {
  let err = '';
  let out = '';
  const program = buildProgram({ out: (t) => (out += t), err: (t) => (err += t) });
  try {
    await program.parseAsync(['node', 'meridian', ...args]);
    return { code: ExitCode.Success, err, out };
  } catch (e) {
    return { code: classifyError(e).code, err, out };
  }
}

describe('option values', () => {
  const noServer = ['--address', '127.0.0.1:1'];
  it.each([
    [['list', '--limit', 'abc'], '--limit'],
    [['list', '--limit', '0'], '--limit'],
    [['list', '--limit', '2.5'], '--limit'],
    [['list', '--limit', '99999999'], '--limit'],
    [['list', '--phase', 'Done'], '--phase'],
    [['list', '--service', ''], '--service'],
    [['start', 'examples/demo.yaml', '--id', ''], '--id'],
    [['start', 'examples/demo.yaml', '--id', 'has space'], '--id'],
    [['start', 'examples/demo.yaml', '--by', ''], '--by'],
    [['status', ''], "argument 'id'"],
    [['watch', ' '], "argument 'id'"],
    [['approve', '', '--region', 'eu-west-1', '--by', 'alice'], "argument 'id'"],
    [['approve', 'r', '--region', '', '--by', 'alice'], '--region'],
    [['approve', 'r', '--region', 'eu-west-1', '--by', 'alice', '--gate', ''], '--gate'],
    [['approve', 'r', '--region', 'eu-west-1', '--by', 'alice', '--comment', '  '], '--comment'],
    [['abort', 'r', '--reason', '', '--by', 'alice'], '--reason'],
    [['abort', 'r', '--reason', 'why', '--by', ''], '--by'],
    [['pause', 'r', '--by', 'alice', '--reason', ''], '--reason'],
    [['resume', 'r', '--by', 'alice', '--region', ''], '--region'],
    [['retry', 'r', '--by', 'alice', '--reason', ' '], '--reason'],
    [['worker', '--fleet-file', ''], '--fleet-file'],
    [['dev', '--port', 'x'], '--port'],
    [['dev', '--port', '70000'], '--port'],
    [['dev', '--ui-port', '0'], '--ui-port'],
    [['dev', '--db-file', ''], '--db-file'],
    [['dev', '--fleet-file', ''], '--fleet-file'],
    [['status', 'r', '--address', 'localhost'], '--address'],
    [['status', 'r', '--address', 'localhost:99999'], '--address'],
    [['--address', 'http://localhost:7233', 'list'], '--address'],
    [['list', '--namespace', ''], '--namespace'],
    [['list', '--task-queue', 'two words'], '--task-queue'],
    [['start', 'examples/demo.yaml', '--task-queue', ''], '--task-queue'],
  ])('%j is a usage error naming %s', async (args, option) => {
    const r = await parsed(...args, ...(args.includes('--address') ? [] : noServer));
    expect(r.code).toBe(ExitCode.Usage);
    expect(r.err).toContain(option);
  });

  it('a malformed option exits 2 from the command line too', () => {
    const r = meridian('list', '--limit', 'abc');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("option '--limit <n>' argument 'abc' is invalid");
  });
});

describe('help', () => {
  it("shows the global options in a subcommand's help", async () => {
    const r = await parsed('status', '--help');
    expect(r.code).toBe(ExitCode.Success);
    expect(r.out).toMatch(/Global Options:[\s\S]*--address[\s\S]*--namespace[\s\S]*--task-queue/);
  });

  it('prints the package version', async () => {
    const r = await parsed('--version');
    expect(r.code).toBe(ExitCode.Success);
    expect(r.out.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  });

  it('lists every command with its options and arguments', async () => {
    const r = await parsed('--help');
    expect(r.code).toBe(ExitCode.Success);
    expect(r.out).toMatch(/^  demo \[options\] /m);
    expect(r.out).toMatch(/^  rehearse \[options\] <spec> /m);
    expect(r.out).toMatch(/^  status \[options\] <id> /m);
  });

  it('states the defaults of worker and dev that it does not load', async () => {
    const dev = (await parsed('dev', '--help')).out.replace(/\s+/g, ' ');
    for (const shown of [`(default: ${DEFAULT_PORT})`, `(default: ${DEFAULT_UI_PORT})`, `(default: ${DEFAULT_DB_FILE})`, `(default: ${DEFAULT_FLEET_FILE})`]) {
      expect(dev).toContain(shown);
    }
    const worker = (await parsed('worker', '--help')).out.replace(/\s+/g, ' ');
    expect(worker).toContain(`(default: ${DEFAULT_FLEET_FILE})`);
    expect(worker).toContain(`(default: ${formatDuration(DEFAULT_SHUTDOWN_GRACE_MS)})`);
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
    const notAFleet = new FleetFileError('.meridian/fleet.db', 'json', 'not a fleet');
    expect(classifyError(notAFleet)).toEqual({ code: ExitCode.Usage, message: 'not a fleet' });
  });

  const record: RolloutRecord = {
    id: 'rollout/cart/1.0.0',
    runId: '00000000-0000-4000-8000-000000000000',
    service: 'cart',
    version: '1.0.0',
    phase: 'Progressing',
    regions: ['eu-west-1'],
    taskQueue: 'q',
    execution: 'RUNNING',
    startedAt: '2025-01-01T00:00:00.000Z',
    historyLength: 10,
  };

  it('no worker is exit 7 and names the task queue and the command that starts a worker', () => {
    const presence = { taskQueue: 'q', polling: false, pollers: 0 };
    for (const err of [new NoWorkerError(presence, record), new NoWorkerError(presence, record, { command: 'approve', fate: 'not-sent' })]) {
      const r = classifyError(err);
      expect(r.code).toBe(ExitCode.NoWorker);
      expect(r.message).toContain('task queue "q"');
      expect(r.message).toContain('meridian worker --task-queue q');
    }
  });

  it('a command to an ended rollout is rejected (exit 6) with how and when it ended', () => {
    const ended = { ...record, execution: 'TERMINATED' as const, closedAt: '2025-01-02T00:00:00.000Z' };
    const byPhase = classifyError(new RolloutEndedError('abort', { ...ended, execution: 'FAILED' }, 'RolledBack'));
    expect(byPhase.code).toBe(ExitCode.Rejected);
    expect(byPhase.message).toContain('RolledBack at 2025-01-02T00:00:00.000Z');
    expect(classifyError(new RolloutEndedError('abort', ended)).message).toContain('terminated while Progressing at 2025-01-02T00:00:00.000Z');
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
    expect(promotedProblems(promotedImages(plan), done)).toEqual([]);
    expect(promotedProblems(promotedImages(plan), { ...done, 'us-east-1': { ...workload(plan.image), weight: 50 } })).toEqual([
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

  it('in a release, reads faults that name a service and gives each service its own', async () => {
    const release = (await loadSpec(join(ROOT, 'examples/release.yaml'))) as { ok: true; plan: RolloutPlan };
    const services = release.plan.release!.services.map((x) => x.name);
    expect(parseScenario('orders/eu-west-1: fail promote 1 times\n', 'f.txt', services)).toEqual(['orders/eu-west-1: fail promote 1 times']);
    expect(() => parseScenario('eu-west-1: fail promote 1 times\n', 'f.txt', services)).toThrow(/f\.txt:1: in a release, a fault names its service/);
    expect(() => parseScenario('ordrs/eu-west-1: fail promote 1 times\n', 'f.txt', services)).toThrow(/f\.txt:1: unknown service "ordrs"/);
    const rehearsal = rehearsalPlan(release.plan, ['orders/eu-west-1: fail promote 1 times', 'checkout/us-east-1: checkout_errors 0.09 when weight >= 10']);
    expect(rehearsal.release!.services.map((x) => [x.name, x.plan.simulation!.faults, x.plan.failurePolicy])).toEqual([
      ['orders', ['eu-west-1: fail promote 1 times'], 'rollback-all'],
      ['checkout', ['us-east-1: checkout_errors 0.09 when weight >= 10'], 'rollback-all'],
    ]);
    expect(promotedImages(release.plan)).toEqual(
      Object.fromEntries(['eu-west-1', 'us-east-1', 'ap-south-1'].flatMap((r) => release.plan.release!.services.map((x) => [`${r} ${x.name}`, x.plan.image]))),
    );
  });
});
