import type { SignalDefinition, UpdateDefinition } from '@temporalio/common';
import { ApplicationFailure, setHandler } from '@temporalio/workflow';
import type { CommandKind, OperatorCommand } from '../domain/commands';
import { ignoredAction } from '../domain/vocabulary';
import {
  abortSignal,
  abortUpdate,
  approveSignal,
  approveUpdate,
  pauseSignal,
  pauseUpdate,
  edgeRequestSignal,
  regionReportSignal,
  resumeSignal,
  resumeUpdate,
  retrySignal,
  retryUpdate,
  statusQuery,
  type CommandResult,
} from './definitions';
import type { RolloutState } from './rollout-state';

/**
 * The rollout's messages. Each command exists as an update, whose validator refuses bad input
 * before it reaches history, and as a signal, whose refusal goes to the audit trail instead. What a
 * command does is the command table's answer (domain/commands.ts); the state applies it.
 */
export function registerOperatorHandlers(s: RolloutState): void {
  setHandler(statusQuery, () => s.status());
  handleCommand(s, 'approve', approveUpdate, approveSignal);
  handleCommand(s, 'abort', abortUpdate, abortSignal);
  handleCommand(s, 'pause', pauseUpdate, pauseSignal);
  handleCommand(s, 'resume', resumeUpdate, resumeSignal);
  handleCommand(s, 'retry', retryUpdate, retrySignal);
  setHandler(regionReportSignal, (report) => s.report(report));
  setHandler(edgeRequestSignal, (req) => s.edgeRequest(req));
}

function handleCommand<Req extends { by?: string }>(
  s: RolloutState,
  kind: CommandKind,
  update: UpdateDefinition<CommandResult, [Req]>,
  signal: SignalDefinition<[Req]>,
): void {
  const decide = (req: Req) => s.decide({ ...(req ?? {}), kind } as OperatorCommand);
  setHandler(
    update,
    (req: Req) => {
      const decision = decide(req);
      if ('refusal' in decision) throw ApplicationFailure.nonRetryable(decision.refusal);
      return s.apply(decision.effects);
    },
    {
      validator: (req: Req) => {
        const decision = decide(req);
        if ('refusal' in decision) throw new Error(decision.refusal);
      },
    },
  );
  setHandler(signal, async (req: Req) => {
    const decision = decide(req);
    if ('refusal' in decision) {
      s.record(ignoredAction(kind), decision.refusal, { actor: req?.by ?? 'unknown', data: { command: kind } });
      return;
    }
    await s.apply(decision.effects);
  });
}
