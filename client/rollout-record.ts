import type { WorkflowExecutionDescription, WorkflowExecutionStatusName } from '@temporalio/client';
import type { RolloutPhase } from '../domain/status';
import { MeridianPhase, MeridianRegions, MeridianService, MeridianVersion } from '../workflows/definitions';

/**
 * What the server itself records about a rollout: its search attributes and execution, readable with
 * no worker running. The phase is the last one the workflow published, 'Pending' before the first.
 */
export interface RolloutRecord {
  id: string;
  /** The workflow's run; a signed approval names it, so it cannot be replayed on another run. */
  runId: string;
  service: string;
  version: string;
  phase: RolloutPhase;
  regions: string[];
  taskQueue: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, TERMINATED, ... */
  execution: WorkflowExecutionStatusName;
  startedAt: string;
  /** Set once the workflow closed. */
  closedAt?: string;
  historyLength: number;
}

export function recordOf(d: WorkflowExecutionDescription): RolloutRecord {
  const attrs = d.typedSearchAttributes;
  return {
    id: d.workflowId,
    runId: d.runId,
    service: attrs.get(MeridianService) ?? '',
    version: attrs.get(MeridianVersion) ?? '',
    phase: (attrs.get(MeridianPhase) as RolloutPhase | undefined) ?? 'Pending',
    regions: attrs.get(MeridianRegions) ?? [],
    taskQueue: d.taskQueue,
    execution: d.status.name,
    startedAt: d.startTime.toISOString(),
    closedAt: d.closeTime?.toISOString(),
    historyLength: d.historyLength,
  };
}
