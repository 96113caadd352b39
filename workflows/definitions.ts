/**
 * Every message, task queue, id and search attribute of Meridian, defined once and imported by
 * workflows, client, CLI and tests. Naming: `approveUpdate` <-> 'approve', `statusQuery` <-> 'status'.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { AuditEntry, KnownGood, PendingApproval, RegionStatus, RolloutStatus, Undo } from '../domain/status';
import type { RolloutPlan } from '../domain/plan';
import type { AbortRequest, ApproveRequest, OperatorRequest, RegionCommand } from '../domain/commands';

export const TASK_QUEUE = 'meridian';
export const DEFAULT_NAMESPACE = 'default';

export function rolloutWorkflowId(service: string, version: string): string {
  return `rollout/${service}/${version}`;
}

export function regionWorkflowId(rolloutId: string, region: string): string {
  return `${rolloutId}/${region}`;
}

export const MeridianService = defineSearchAttributeKey('MeridianService', SearchAttributeType.KEYWORD);
export const MeridianVersion = defineSearchAttributeKey('MeridianVersion', SearchAttributeType.KEYWORD);
export const MeridianPhase = defineSearchAttributeKey('MeridianPhase', SearchAttributeType.KEYWORD);
export const MeridianRegions = defineSearchAttributeKey('MeridianRegions', SearchAttributeType.KEYWORD_LIST);
/** A release's services; set on releases only, so `list --service` finds the releases a service is part of. */
export const MeridianServices = defineSearchAttributeKey('MeridianServices', SearchAttributeType.KEYWORD_LIST);
/** Name and type of each search attribute, as a server must register them. */
export const SEARCH_ATTRIBUTES = {
  MeridianService: 'Keyword',
  MeridianVersion: 'Keyword',
  MeridianPhase: 'Keyword',
  MeridianRegions: 'KeywordList',
  MeridianServices: 'KeywordList',
} as const;

export interface RolloutInput {
  plan: RolloutPlan;
  /** Who started it, for the audit trail. */
  startedBy: string;
  /** Off on servers that lack Meridian's search attributes (the time-skipping test server). */
  searchAttributes?: boolean;
  /** Wall time one analysis activity runs before it reports back; bounds history per region-hour. */
  analysisChunkMs?: number;
}

export interface RegionInput {
  rolloutId: string;
  parentId: string;
  plan: RolloutPlan;
  region: string;
  analysisChunkMs?: number;
  /** Set when a held region runs again: it keeps its first snapshot and undo stack. */
  knownGood?: KnownGood;
  undo?: Undo[];
  /** This region's metric values before any change. */
  baselines?: Record<string, number>;
  /**
   * A service's stage inside a release's region: the release's rollout id. Its undo steps, audit
   * entries and gates then name the service, and it reports when its weight changes.
   */
  releaseOf?: string;
  /** A release's region stage running again: each service's known-good from its first run. */
  knownGoods?: Record<string, KnownGood>;
}

/** A release service's stage in a region: a child of the region's release stage. */
export function serviceWorkflowId(rolloutId: string, region: string, service: string): string {
  return `${regionWorkflowId(rolloutId, region)}/${service}`;
}

/** The operator's requests and the parent's commands to a stage, defined with the command table. */
export type { AbortRequest, ApproveRequest, OperatorRequest, RegionCommand } from '../domain/commands';

export interface CommandResult {
  accepted: true;
  phase: string;
  message: string;
}

export const approveUpdate = defineUpdate<CommandResult, [ApproveRequest]>('approve');
export const approveSignal = defineSignal<[ApproveRequest]>('approve');
export const abortUpdate = defineUpdate<CommandResult, [AbortRequest]>('abort');
export const abortSignal = defineSignal<[AbortRequest]>('abort');
export const pauseUpdate = defineUpdate<CommandResult, [OperatorRequest]>('pause');
export const pauseSignal = defineSignal<[OperatorRequest]>('pause');
export const resumeUpdate = defineUpdate<CommandResult, [OperatorRequest]>('resume');
export const resumeSignal = defineSignal<[OperatorRequest]>('resume');
export const retryUpdate = defineUpdate<CommandResult, [OperatorRequest]>('retry');
export const retrySignal = defineSignal<[OperatorRequest]>('retry');
export const statusQuery = defineQuery<RolloutStatus>('status');

/** Child -> parent: the region's live state, so one status query on the parent shows everything. */
export interface RegionReport {
  status: RegionStatus;
  /** A release service's stage: the service it runs. */
  service?: string;
  pendingApproval?: PendingApproval;
  audit: AuditEntry[];
  /** The stage's undo stack; left out of a coalesced report when it has not changed since the last. */
  undo?: Undo[];
  /** A release's region: every gate waiting in it, one per service at most. */
  pendingApprovals?: PendingApproval[];
}
export const regionReportSignal = defineSignal<[RegionReport]>('regionReport');

export const regionCommandSignal = defineSignal<[RegionCommand]>('regionCommand');

/**
 * Stage -> parent: a change to the region's edges, which the parent owns and changes one at a time.
 * The parent answers with an `edgeDone` region command carrying the same key.
 */
export interface EdgeRequest {
  region: string;
  kind: 'mirror';
  /** Percent of the region's stable traffic copied to its canary; 0 stops the mirror. */
  percent: number;
  key: string;
}
export const edgeRequestSignal = defineSignal<[EdgeRequest]>('edgeRequest');
export const regionStatusQuery = defineQuery<RegionStatus>('regionStatus');
/** A stage's audit entries that no report has carried to the parent yet. */
export const regionPendingAuditQuery = defineQuery<AuditEntry[]>('regionPendingAudit');

/** A child's result or failure details: its final state and the undo stack the parent compensates. */
export interface RegionOutcome {
  status: RegionStatus;
  undo: Undo[];
  /** A stage that ran to its end: the audit entries no report carried yet. */
  audit?: AuditEntry[];
}
