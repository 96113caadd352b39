import { formatDuration } from '../../../domain/duration';
import type { ApprovalStep } from '../../../domain/spec';
import { gateName } from '../../../domain/steps';
import { FAILURE } from '../../../domain/vocabulary';
import type { Run } from './run';
import type { RolloutPlan } from '../../../domain/plan';

/**
 * What the gate asks of its approvers beyond the names; only the fields a spec sets, so a gate
 * from before signed approvals reads as it always did. A gate is signed when it says so, or by
 * default when the rollout names approvers with keys or a keyring.
 */
function gatePolicy(step: ApprovalStep, plan: RolloutPlan) {
  const signed = step.signed ?? plan.approval?.signedByDefault;
  return {
    ...(step.groups ? { groups: step.groups } : {}),
    ...(step.approvals !== undefined && step.approvals > 1 ? { approvals: step.approvals } : {}),
    ...(signed ? { signed } : {}),
    ...(step.allowSelfApproval ? { allowSelfApproval: true } : {}),
  };
}

/** Waits at a gate for an approver; at its timeout it proceeds or aborts, as the step says. */
export const approval: Run<ApprovalStep> = async (step, { stage, index }) => {
  const gate = gateName(step, index);
  const approved = await stage.awaitApproval(
    {
      region: stage.name,
      gate,
      since: new Date().toISOString(),
      approvers: step.approvers,
      ...gatePolicy(step, stage.plan),
      timeoutAt: step.timeout ? new Date(Date.now() + step.timeout).toISOString() : undefined,
    },
    step.timeout,
  );
  if (approved) {
    const all = approved.approvers ? { approvers: approved.approvers } : {};
    stage.record('approved', approved.comment ?? `gate "${gate}" approved`, { gate, approver: approved.by, ...all }, approved.by);
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
