import { setHandler } from '@temporalio/workflow';
import {
  abortSignal,
  abortUpdate,
  approveSignal,
  approveUpdate,
  pauseSignal,
  pauseUpdate,
  regionReportSignal,
  resumeSignal,
  resumeUpdate,
  retrySignal,
  retryUpdate,
  statusQuery,
  type AbortRequest,
  type ApproveRequest,
  type CommandResult,
  type OperatorRequest,
  type RegionReport,
} from './definitions';
import type { RolloutState } from './rollout-state';
import type { Saga } from './saga';

/**
 * The rollout's messages. Each command exists as an update, whose validator refuses bad input
 * before it reaches history, and as a signal, whose refusal goes to the audit trail instead.
 */
export function registerOperatorHandlers(s: RolloutState, saga: Saga): void {
  const notEnded = () => {
    const ended = s.endedPhase;
    if (ended) throw new Error(`rollout already ended ${ended}`);
  };
  const knownRegion = (region: string | undefined) => {
    if (region !== undefined && !s.regions.has(region)) throw new Error(`unknown region "${region}" (regions: ${s.order.join(', ')})`);
  };

  const validateApprove = (req: ApproveRequest) => {
    if (!req?.by) throw new Error('approve needs "by": who approves');
    knownRegion(req.region);
    const pending = s.approvals.get(req.region);
    if (!pending) throw new Error(`region "${req.region}" is not waiting for approval (it is ${s.region(req.region).phase})`);
    if (req.gate && req.gate !== pending.gate) throw new Error(`region "${req.region}" waits on gate "${pending.gate}", not "${req.gate}"`);
    if (pending.approvers && !pending.approvers.includes(req.by)) {
      throw new Error(`"${req.by}" may not approve gate "${pending.gate}" in ${req.region} (approvers: ${pending.approvers.join(', ')})`);
    }
  };
  const approve = async (req: ApproveRequest): Promise<CommandResult> => {
    const pending = s.approvals.get(req.region)!;
    s.approvals.delete(req.region);
    s.record('approve', req.comment ?? `gate "${pending.gate}" approved`, { actor: req.by, region: req.region, data: { gate: pending.gate } });
    await s.command(req.region, { kind: 'approve', gate: pending.gate, by: req.by, comment: req.comment });
    s.sync();
    return { accepted: true, phase: s.phase(), message: `approved gate "${pending.gate}" in ${req.region}` };
  };

  const validateAbort = (req: AbortRequest) => {
    if (!req?.by) throw new Error('abort needs "by": who aborts');
    if (!req.reason) throw new Error('abort needs a reason');
    notEnded();
  };
  const abort = (req: AbortRequest): CommandResult => {
    if (s.abort || s.compensating) {
      s.record('abort', `${req.reason} (already rolling back; compensation continues)`, { actor: req.by });
      return { accepted: true, phase: s.phase(), message: 'already rolling back; compensation continues to the end' };
    }
    s.abort = req;
    s.record('abort', req.reason, { actor: req.by });
    void saga.cutTraffic();
    s.waveScope?.cancel();
    s.sync();
    const message = s.contractPending
      ? 'ending without the contract migrations: every region keeps the new version and the expand migrations'
      : 'aborting: every touched region goes back to its known-good state';
    return { accepted: true, phase: s.phase(), message };
  };

  const validatePause = (req: OperatorRequest) => {
    if (!req?.by) throw new Error('pause needs "by"');
    notEnded();
    if (s.compensating || s.abort) throw new Error('rollout is rolling back; a rollback cannot be paused');
    if (s.paused) throw new Error('rollout is already paused');
  };
  const pause = async (req: OperatorRequest): Promise<CommandResult> => {
    s.paused = true;
    s.record('pause', req.reason ?? 'paused by an operator', { actor: req.by });
    s.sync();
    for (const r of s.inFlight()) await s.command(r.name, { kind: 'pause', by: req.by, reason: req.reason });
    return { accepted: true, phase: s.phase(), message: 'paused: regions hold at their current step' };
  };

  /** What a resume or retry would act on, optionally limited to one region. */
  const resumable = (region?: string) => ({
    pause: s.paused && !region,
    held: [...s.held.entries()].filter(([n, d]) => d === 'waiting' && (!region || n === region)).map(([n]) => n),
    inconclusive: [...s.regions.values()].filter((r) => (r.phase === 'Inconclusive' || r.drift) && (!region || r.name === region)).map((r) => r.name),
  });
  const validateResume = (req: OperatorRequest) => {
    if (!req?.by) throw new Error('resume needs "by"');
    notEnded();
    knownRegion(req.region);
    const r = resumable(req.region);
    if (!r.pause && !r.held.length && !r.inconclusive.length) throw new Error('nothing to resume: the rollout is not paused');
  };
  const validateRetry = (req: OperatorRequest) => {
    if (!req?.by) throw new Error('retry needs "by"');
    notEnded();
    knownRegion(req.region);
    const r = resumable(req.region);
    if (!s.needsAttention && !r.held.length && !r.inconclusive.length) {
      throw new Error('nothing to retry: no failed rollback, held region or inconclusive analysis');
    }
  };
  const resumeOrRetry = (kind: 'resume' | 'retry') => async (req: OperatorRequest): Promise<CommandResult> => {
    const r = resumable(req.region);
    s.record(kind, req.reason ?? `${kind} by an operator`, { actor: req.by, region: req.region });
    if (kind === 'retry' && s.needsAttention) s.retryCompensation = true;
    if (r.pause) {
      s.paused = false;
      for (const region of s.inFlight()) await s.command(region.name, { kind: 'resume', by: req.by, reason: req.reason });
    }
    for (const n of r.held) s.held.set(n, kind);
    for (const n of r.inconclusive) {
      const cmd = s.region(n).drift
        ? ({ kind: 'acceptDrift', by: req.by, reason: req.reason } as const)
        : ({ kind: 'reanalyse', by: req.by, reason: req.reason, via: kind } as const);
      await s.command(n, cmd);
    }
    s.sync();
    const what = [...r.held, ...r.inconclusive];
    return {
      accepted: true,
      phase: s.phase(),
      message: s.contractPending && s.retryCompensation
        ? 'running the contract migrations again in the regions where they failed'
        : s.retryCompensation
          ? 'retrying the failed rollback steps'
          : `${kind}d${what.length ? ` ${what.join(', ')}` : ''}`,
    };
  };

  const asSignal =
    <T>(validate: (req: T) => void, run: (req: T) => unknown, name: string) =>
    async (req: T) => {
      try {
        validate(req);
      } catch (err) {
        s.record(`${name}-ignored`, (err as Error).message, { actor: (req as { by?: string })?.by ?? 'unknown' });
        return;
      }
      await run(req);
    };

  setHandler(statusQuery, () => s.status());
  setHandler(approveUpdate, approve, { validator: validateApprove });
  setHandler(approveSignal, asSignal(validateApprove, approve, 'approve'));
  setHandler(abortUpdate, abort, { validator: validateAbort });
  setHandler(abortSignal, asSignal(validateAbort, abort, 'abort'));
  setHandler(pauseUpdate, pause, { validator: validatePause });
  setHandler(pauseSignal, asSignal(validatePause, pause, 'pause'));
  setHandler(resumeUpdate, resumeOrRetry('resume'), { validator: validateResume });
  setHandler(resumeSignal, asSignal(validateResume, resumeOrRetry('resume'), 'resume'));
  setHandler(retryUpdate, resumeOrRetry('retry'), { validator: validateRetry });
  setHandler(retrySignal, asSignal(validateRetry, resumeOrRetry('retry'), 'retry'));
  setHandler(regionReportSignal, (report: RegionReport) => {
    const name = report.status.name;
    if (!s.regions.has(name)) return;
    if (!s.compensating || report.status.phase !== 'Cancelled') s.regions.set(name, report.status);
    s.addUndo(name, report.undo);
    if (report.pendingApproval) s.approvals.set(name, report.pendingApproval);
    else s.approvals.delete(name);
    s.audit.push(...report.audit);
    s.sync();
  });
}
