import { describe, expect, it } from 'vitest';
import type { Effect } from '../../domain/commands';
import { reactToFailure, type FailureReaction } from '../../domain/failure-policy';
import type { FailurePolicy } from '../../domain/spec';
import { FAILURE } from '../../domain/vocabulary';

const failure = (type?: string, reason = 'us-east-1 failed analysis at 25%') => ({ region: 'us-east-1', reason, type });

const summary = (r: FailureReaction) => ({
  kind: r.kind,
  effects: r.effects.map((e: Effect) => (e.kind === 'audit' ? `audit:${e.entry.action}` : e.kind === 'stop' ? (e.abort ? 'stop:abort' : 'stop') : e.kind)),
});

const STOP_ALL = ['audit:region-failed', 'recordFailure', 'stop', 'cutTraffic', 'cancelWave', 'publish'];
const ABORT_ALL = ['audit:region-failed', 'recordFailure', 'stop:abort', 'cutTraffic', 'cancelWave', 'publish'];

describe('the failure policy, every policy × kind of failure', () => {
  const table: Record<FailurePolicy, Record<'analysis' | 'approvalTimedOut' | 'untyped', ReturnType<typeof summary>>> = {
    'rollback-all': {
      analysis: { kind: 'stop', effects: STOP_ALL },
      approvalTimedOut: { kind: 'stop', effects: ABORT_ALL },
      untyped: { kind: 'stop', effects: STOP_ALL },
    },
    'rollback-region': {
      analysis: { kind: 'rollbackRegion', effects: ['audit:region-failed', 'recordFailure'] },
      approvalTimedOut: { kind: 'stop', effects: ABORT_ALL },
      untyped: { kind: 'rollbackRegion', effects: ['audit:region-failed', 'recordFailure'] },
    },
    pause: {
      analysis: { kind: 'hold', effects: ['audit:region-failed'] },
      approvalTimedOut: { kind: 'stop', effects: ABORT_ALL },
      untyped: { kind: 'hold', effects: ['audit:region-failed'] },
    },
  };
  const types = { analysis: FAILURE.analysisFailed, approvalTimedOut: FAILURE.approvalTimedOut, untyped: undefined };

  for (const [policy, row] of Object.entries(table) as [FailurePolicy, (typeof table)[FailurePolicy]][]) {
    for (const [name, expected] of Object.entries(row) as [keyof typeof types, ReturnType<typeof summary>][]) {
      it(`${policy} × ${name}`, () => {
        expect(summary(reactToFailure(policy, failure(types[name])))).toEqual(expected);
      });
    }
  }

  it('records the failed region with the failure type of its stage', () => {
    const [failed, recorded] = reactToFailure('rollback-region', failure(FAILURE.analysisFailed)).effects;
    expect(failed).toEqual({
      kind: 'audit',
      entry: { action: 'region-failed', actor: 'meridian', region: 'us-east-1', reason: 'us-east-1 failed analysis at 25%', data: { failure: FAILURE.analysisFailed } },
    });
    expect(recorded).toEqual({ kind: 'recordFailure', region: 'us-east-1', reason: 'us-east-1 failed analysis at 25%' });
  });

  it('a timed-out approval is an abort by meridian, for the gate\'s reason', () => {
    const timedOut = failure(FAILURE.approvalTimedOut, 'approval gate "go" in us-east-1 timed out after 4h');
    const stop = reactToFailure('pause', timedOut).effects.find((e) => e.kind === 'stop');
    expect(stop).toEqual({ kind: 'stop', abort: { reason: timedOut.reason, by: 'meridian' } });
  });
});
