import { describe, expect, it } from 'vitest';
import {
  COMMAND_KINDS,
  ROLLOUT_MODES,
  decide,
  type CommandContext,
  type CommandKind,
  type Decision,
  type Effect,
  type OperatorCommand,
  type RegionFacts,
  type RolloutMode,
} from '../../domain/commands';

const OPENED = '2026-01-01T00:00:00.000Z';
const region = (name: string, over: Partial<RegionFacts> = {}): RegionFacts => ({ name, phase: 'Progressing', inFlight: true, held: false, drifted: false, approvals: [], ...over });

/** Two regions running their steps, one waiting on gate "go" that only alice may approve, one not started. */
const QUIET: CommandContext = {
  regions: [
    region('eu-west-1', { phase: 'Promoted', inFlight: false }),
    region('us-east-1'),
    region('eu-central-1', { phase: 'AwaitingApproval', approvals: [{ gate: 'go', since: OPENED, approvers: ['alice'] }] }),
    region('ap-south-1', { phase: 'Pending', inFlight: false }),
  ],
  paused: false,
  aborted: false,
};

/** Paused by an operator, with a region held by the pause policy, a drifted one and an inconclusive one. */
const WAITING: CommandContext = {
  regions: [
    region('eu-west-1', { phase: 'Promoted', inFlight: false }),
    region('us-east-1', { phase: 'Paused', inFlight: false, held: true }),
    region('eu-central-1', { phase: 'AwaitingApproval', approvals: [{ gate: 'go', since: OPENED, approvers: ['alice'] }] }),
    region('ap-south-1', { phase: 'Paused', drifted: true }),
    region('ap-northeast-1', { phase: 'Inconclusive' }),
  ],
  paused: true,
  aborted: false,
};

const COMMANDS: Record<CommandKind, OperatorCommand> = {
  approve: { kind: 'approve', region: 'eu-central-1', by: 'alice' },
  abort: { kind: 'abort', by: 'oncall', reason: 'customer reports' },
  pause: { kind: 'pause', by: 'oncall' },
  resume: { kind: 'resume', by: 'oncall' },
  retry: { kind: 'retry', by: 'oncall' },
};

/** An effect as a short token: `audit:<action>`, `<region><-<region command>`, `release:<region>`, or its kind. */
function token(e: Effect): string {
  switch (e.kind) {
    case 'audit':
      return `audit:${e.entry.action}`;
    case 'forward':
      return `${e.region}<-${e.command.kind}${e.command.kind === 'reanalyse' ? `(${e.command.via})` : ''}`;
    case 'releaseHeld':
      return `release:${e.region}(${e.command})`;
    case 'stop':
      return e.abort ? 'stop:abort' : 'stop';
    default:
      return e.kind;
  }
}

const REFUSED = 'refused' as const;
type Cell = typeof REFUSED | string[];
const outcome = (d: Decision): Cell => ('refusal' in d ? REFUSED : d.effects.map(token));
const effectsOf = (d: Decision): Effect[] => {
  if ('refusal' in d) throw new Error(`refused: ${d.refusal}`);
  return d.effects;
};

const APPROVE = ['clearApproval', 'audit:approve', 'eu-central-1<-approve', 'publish', 'reply'];
const ABORT = ['stop:abort', 'audit:abort', 'cutTraffic', 'cancelWave', 'publish', 'reply'];
const ABORT_DURING_SAGA = ['audit:abort', 'reply'];
const ABANDON_CONTRACT = ['abandonContract', 'audit:abort', 'cutTraffic', 'cancelWave', 'publish', 'reply'];
const PAUSE = ['pause', 'audit:pause', 'publish', 'us-east-1<-pause', 'eu-central-1<-pause', 'reply'];

describe('the command table, every mode × command', () => {
  const quiet: Record<RolloutMode, Record<CommandKind, Cell>> = {
    starting: { approve: APPROVE, abort: ABORT, pause: PAUSE, resume: REFUSED, retry: REFUSED },
    running: { approve: APPROVE, abort: ABORT, pause: PAUSE, resume: REFUSED, retry: REFUSED },
    stopping: { approve: APPROVE, abort: ABORT, pause: PAUSE, resume: REFUSED, retry: REFUSED },
    compensating: { approve: APPROVE, abort: ABORT_DURING_SAGA, pause: REFUSED, resume: REFUSED, retry: REFUSED },
    needsAttention: { approve: APPROVE, abort: ABORT_DURING_SAGA, pause: REFUSED, resume: REFUSED, retry: ['audit:retry', 'retryUndo', 'publish', 'reply'] },
    contracting: { approve: APPROVE, abort: ABANDON_CONTRACT, pause: PAUSE, resume: REFUSED, retry: REFUSED },
    contractPending: { approve: APPROVE, abort: ABANDON_CONTRACT, pause: PAUSE, resume: REFUSED, retry: ['audit:retry', 'retryContract', 'publish', 'reply'] },
    ended: { approve: REFUSED, abort: REFUSED, pause: REFUSED, resume: REFUSED, retry: REFUSED },
  };

  const lift = ['liftPause', 'eu-central-1<-resume', 'ap-south-1<-resume', 'ap-northeast-1<-resume'];
  const resume = ['audit:resume', ...lift, 'release:us-east-1(resume)', 'ap-south-1<-acceptDrift', 'ap-northeast-1<-reanalyse(resume)', 'publish', 'reply'];
  const retryWith = (...stage: string[]) => [
    'audit:retry',
    ...stage,
    ...lift,
    'release:us-east-1(retry)',
    'ap-south-1<-acceptDrift',
    'ap-northeast-1<-reanalyse(retry)',
    'publish',
    'reply',
  ];
  const PAUSE_WAITING = REFUSED; // already paused
  const waiting: Record<RolloutMode, Record<CommandKind, Cell>> = {
    starting: { approve: APPROVE, abort: ABORT, pause: PAUSE_WAITING, resume, retry: retryWith() },
    running: { approve: APPROVE, abort: ABORT, pause: PAUSE_WAITING, resume, retry: retryWith() },
    stopping: { approve: APPROVE, abort: ABORT, pause: PAUSE_WAITING, resume, retry: retryWith() },
    compensating: { approve: APPROVE, abort: ABORT_DURING_SAGA, pause: REFUSED, resume, retry: retryWith() },
    needsAttention: { approve: APPROVE, abort: ABORT_DURING_SAGA, pause: REFUSED, resume, retry: retryWith('retryUndo') },
    contracting: { approve: APPROVE, abort: ABANDON_CONTRACT, pause: PAUSE_WAITING, resume, retry: retryWith() },
    contractPending: { approve: APPROVE, abort: ABANDON_CONTRACT, pause: PAUSE_WAITING, resume, retry: retryWith('retryContract') },
    ended: { approve: REFUSED, abort: REFUSED, pause: REFUSED, resume: REFUSED, retry: REFUSED },
  };

  it('covers every mode and every command', () => {
    expect(Object.keys(quiet).sort()).toEqual([...ROLLOUT_MODES].sort());
    for (const mode of ROLLOUT_MODES) expect(Object.keys(quiet[mode]).sort(), mode).toEqual([...COMMAND_KINDS].sort());
    expect(Object.keys(waiting).sort()).toEqual([...ROLLOUT_MODES].sort());
  });

  for (const [name, ctx, table] of [
    ['with regions at work', QUIET, quiet],
    ['paused, with a held, a drifted and an inconclusive region', WAITING, waiting],
  ] as const) {
    describe(name, () => {
      for (const mode of ROLLOUT_MODES) {
        for (const kind of COMMAND_KINDS) {
          it(`${mode} × ${kind}`, () => {
            expect(outcome(decide(mode, COMMANDS[kind], { ...ctx, ended: mode === 'ended' ? 'Succeeded' : undefined }))).toEqual(table[mode][kind]);
          });
        }
      }
    });
  }

  it('after an abort, another abort only goes to the audit trail and a pause is refused, in every mode', () => {
    for (const mode of ['starting', 'running', 'stopping', 'contracting', 'contractPending'] as const) {
      expect(outcome(decide(mode, COMMANDS.abort, { ...QUIET, aborted: true })), mode).toEqual(ABORT_DURING_SAGA);
      expect(outcome(decide(mode, COMMANDS.pause, { ...QUIET, aborted: true })), mode).toBe(REFUSED);
    }
  });
});

describe('what each command carries', () => {
  it('approve: clears the gate, records gate and approver, and forwards the gate to its region', () => {
    const effects = effectsOf(decide('running', { kind: 'approve', region: 'eu-central-1', by: 'alice', comment: 'dashboards fine' }, QUIET));
    expect(effects.slice(0, 3)).toEqual([
      { kind: 'clearApproval', region: 'eu-central-1' },
      { kind: 'audit', entry: { action: 'approve', actor: 'alice', region: 'eu-central-1', reason: 'dashboards fine', data: { gate: 'go', approver: 'alice' } } },
      { kind: 'forward', region: 'eu-central-1', command: { kind: 'approve', gate: 'go', by: 'alice', comment: 'dashboards fine' } },
    ]);
  });

  it('approve is refused without a pending gate, for another gate, for someone not listed, or for an unknown region', () => {
    const refused = (cmd: Partial<Extract<OperatorCommand, { kind: 'approve' }>>) =>
      outcome(decide('running', { kind: 'approve', region: 'eu-central-1', by: 'alice', ...cmd }, QUIET));
    expect(refused({ region: 'us-east-1' })).toBe(REFUSED);
    expect(refused({ gate: 'other' })).toBe(REFUSED);
    expect(refused({ gate: 'go' })).not.toBe(REFUSED);
    expect(refused({ by: 'mallory' })).toBe(REFUSED);
    expect(refused({ region: 'eu-wset-1' })).toBe(REFUSED);
    expect(refused({ region: undefined })).toBe(REFUSED);
  });

  it('every command needs "by"; abort needs a reason', () => {
    for (const kind of COMMAND_KINDS) {
      expect(outcome(decide('running', { ...COMMANDS[kind], by: '' } as OperatorCommand, WAITING)), kind).toBe(REFUSED);
    }
    expect(outcome(decide('running', { kind: 'abort', by: 'oncall', reason: '' }, QUIET))).toBe(REFUSED);
  });

  it('abort records its reason, and whether a rollback was already under way', () => {
    const [stop, recorded] = effectsOf(decide('running', COMMANDS.abort, QUIET));
    expect(stop).toEqual({ kind: 'stop', abort: { reason: 'customer reports', by: 'oncall' } });
    expect(recorded).toMatchObject({ entry: { action: 'abort', actor: 'oncall', data: { reason: 'customer reports' } } });
    const [again] = effectsOf(decide('compensating', COMMANDS.abort, QUIET));
    expect(again).toMatchObject({ entry: { action: 'abort', data: { reason: 'customer reports', alreadyRollingBack: true } } });
    const [abandon] = effectsOf(decide('contractPending', COMMANDS.abort, QUIET));
    expect(abandon).toEqual({ kind: 'abandonContract', abort: { reason: 'customer reports', by: 'oncall' } });
  });

  it('resume and retry for one region act on that region only, and never lift the rollout-wide pause', () => {
    const forOne = (kind: 'resume' | 'retry', name: string) => outcome(decide('running', { kind, by: 'oncall', region: name }, WAITING));
    expect(forOne('resume', 'us-east-1')).toEqual(['audit:resume', 'release:us-east-1(resume)', 'publish', 'reply']);
    expect(forOne('retry', 'us-east-1')).toEqual(['audit:retry', 'release:us-east-1(retry)', 'publish', 'reply']);
    expect(forOne('resume', 'ap-south-1')).toEqual(['audit:resume', 'ap-south-1<-acceptDrift', 'publish', 'reply']);
    expect(forOne('retry', 'ap-south-1')).toEqual(['audit:retry', 'ap-south-1<-acceptDrift', 'publish', 'reply']);
    expect(forOne('resume', 'ap-northeast-1')).toEqual(['audit:resume', 'ap-northeast-1<-reanalyse(resume)', 'publish', 'reply']);
    expect(forOne('retry', 'ap-northeast-1')).toEqual(['audit:retry', 'ap-northeast-1<-reanalyse(retry)', 'publish', 'reply']);
    expect(forOne('resume', 'eu-west-1')).toBe(REFUSED);
    expect(forOne('retry', 'eu-central-1')).toBe(REFUSED);
    expect(forOne('resume', 'eu-wset-1')).toBe(REFUSED);
  });

  it('resume lifts an operator pause alone; retry does not count it as something to retry', () => {
    const paused: CommandContext = { ...QUIET, paused: true };
    expect(outcome(decide('running', COMMANDS.resume, paused))).toEqual(['audit:resume', 'liftPause', 'us-east-1<-resume', 'eu-central-1<-resume', 'publish', 'reply']);
    expect(outcome(decide('running', COMMANDS.retry, paused))).toBe(REFUSED);
  });

  it('resume and retry record what they acted on', () => {
    const [recorded] = effectsOf(decide('needsAttention', COMMANDS.retry, WAITING));
    expect(recorded).toEqual({
      kind: 'audit',
      entry: {
        action: 'retry',
        actor: 'oncall',
        region: undefined,
        reason: 'retry by an operator',
        data: { undo: true, pause: true, held: ['us-east-1'], regions: ['ap-south-1', 'ap-northeast-1'] },
      },
    });
  });

  it('a region command carries who sent it and why', () => {
    const effects = effectsOf(decide('running', { kind: 'resume', by: 'oncall', reason: 'checked', region: 'ap-northeast-1' }, WAITING));
    expect(effects.find((e) => e.kind === 'forward')).toEqual({
      kind: 'forward',
      region: 'ap-northeast-1',
      command: { kind: 'reanalyse', by: 'oncall', reason: 'checked', via: 'resume' },
    });
  });

  it('pause publishes before it tells the regions; every other accepted command publishes after its effects', () => {
    const publishAt = (mode: RolloutMode, kind: CommandKind, ctx: CommandContext) => effectsOf(decide(mode, COMMANDS[kind], ctx)).map((e) => e.kind);
    const pause = publishAt('running', 'pause', QUIET);
    expect(pause.indexOf('publish')).toBeLessThan(pause.indexOf('forward'));
    for (const [kind, ctx] of [['approve', QUIET], ['abort', QUIET], ['resume', WAITING], ['retry', WAITING]] as const) {
      const kinds = publishAt('running', kind, ctx);
      expect(kinds.lastIndexOf('forward'), kind).toBeLessThan(kinds.indexOf('publish'));
    }
  });
});

describe('commands in a release region with gates of several services', () => {
  const RELEASE: CommandContext = {
    regions: [
      region('eu-west-1', {
        phase: 'AwaitingApproval',
        approvals: [
          { gate: 'orders-go', service: 'orders', since: OPENED },
          { gate: 'checkout-go', service: 'checkout', since: OPENED, approvers: ['bob'] },
        ],
        services: [
          { name: 'orders', waiting: true },
          { name: 'checkout', waiting: true },
        ],
      }),
    ],
    paused: false,
    aborted: false,
  };

  it('refuses an approval that does not say which service, listing the candidates', () => {
    const d = decide('running', { kind: 'approve', region: 'eu-west-1', by: 'bob' }, RELEASE);
    expect(d).toEqual({ refusal: 'gates of more than one service wait in eu-west-1: orders (gate "orders-go"), checkout (gate "checkout-go"); say which with service (--service)' });
  });

  it('approves the named service\'s gate and forwards it to that service only', () => {
    const d = decide('running', { kind: 'approve', region: 'eu-west-1', service: 'checkout', by: 'bob' }, RELEASE);
    expect('effects' in d && d.effects.filter((e) => e.kind === 'forward' || e.kind === 'clearApproval')).toEqual([
      { kind: 'clearApproval', region: 'eu-west-1', service: 'checkout' },
      { kind: 'forward', region: 'eu-west-1', command: { kind: 'approve', gate: 'checkout-go', by: 'bob', comment: undefined, service: 'checkout' } },
    ]);
  });

  it('checks the approvers of the named service\'s gate, and refuses a service with no gate waiting', () => {
    expect(decide('running', { kind: 'approve', region: 'eu-west-1', service: 'checkout', by: 'eve' }, RELEASE)).toMatchObject({ refusal: expect.stringContaining('approvers: bob') });
    expect(decide('running', { kind: 'approve', region: 'eu-west-1', service: 'ledger', by: 'bob' }, RELEASE)).toMatchObject({ refusal: expect.stringContaining('no gate of service "ledger"') });
  });

  it('picks the gate by name when the service is not given', () => {
    const d = decide('running', { kind: 'approve', region: 'eu-west-1', gate: 'orders-go', by: 'bob' }, RELEASE);
    expect('effects' in d && d.effects.find((e) => e.kind === 'clearApproval')).toEqual({ kind: 'clearApproval', region: 'eu-west-1', service: 'orders' });
  });

  it('refuses a resume of a region where several services wait, and forwards one naming its service', () => {
    const waiting: CommandContext = { ...RELEASE, regions: [{ ...RELEASE.regions[0]!, phase: 'Inconclusive', approvals: [] }] };
    expect(decide('running', { kind: 'resume', region: 'eu-west-1', by: 'oncall' }, waiting)).toEqual({
      refusal: 'more than one service waits in eu-west-1: orders, checkout; say which with service (--service)',
    });
    const d = decide('running', { kind: 'resume', region: 'eu-west-1', service: 'orders', by: 'oncall' }, waiting);
    expect('effects' in d && d.effects.filter((e) => e.kind === 'forward')).toEqual([
      { kind: 'forward', region: 'eu-west-1', command: { kind: 'reanalyse', by: 'oncall', reason: undefined, via: 'resume', service: 'orders' } },
    ]);
  });
});
