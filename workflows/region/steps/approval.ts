import { formatDuration } from '../../../domain/duration';
import type { ApprovalStep } from '../../../domain/spec';
import { gateName } from '../../../domain/steps';
import { FAILURE } from '../../../domain/vocabulary';
import type { Run } from './run';

/** Waits at a gate for an approver; at its timeout it proceeds or aborts, as the step says. */
export const approval: Run<ApprovalStep> = async (step, { stage, index }) => {
  const gate = gateName(step, index);
  const approved = await stage.awaitApproval(
    {
      region: stage.name,
      gate,
      since: new Date().toISOString(),
      approvers: step.approvers,
      timeoutAt: step.timeout ? new Date(Date.now() + step.timeout).toISOString() : undefined,
    },
    step.timeout,
  );
  if (approved) {
    stage.record('approved', approved.comment ?? `gate "${gate}" approved`, { gate, approver: approved.by }, approved.by);
    stage.setPhase('Progressing');
    return;
  }
  const timeoutMs = step.timeout!;
  const onTimeout = step.onTimeout ?? 'abort';
  if (onTimeout === 'proceed') {
    stage.record('approval-timeout', `gate "${gate}" timed out after ${formatDuration(timeoutMs)}; proceeding as configured`, { gate, timeoutMs, onTimeout });
    stage.setPhase('Progressing');
    return;
  }
  const reason = `approval gate "${gate}" in ${stage.name} timed out after ${formatDuration(timeoutMs)}`;
  stage.record('approval-timeout', `${reason}; aborting as configured`, { gate, timeoutMs, onTimeout });
  throw stage.fail(reason, FAILURE.approvalTimedOut);
};
