/**
 * The operator command table: what approve, abort, pause, resume and retry do in each mode of a
 * rollout, as data. The workflow hands over the facts it holds and applies the effects in order;
 * an update's validator throws the refusal, a signal records it as `<command>-ignored`.
 */
import { checkApproval, type AcceptedApproval, type ApprovalContext, type GateFacts, type SignedApproval } from './approval-policy';
import type { RegionPhase, RolloutPhase } from './status';
import type { AuditAction } from './vocabulary';

/**
 * Where a rollout is in its life. An operator's pause is not a mode: it outlives the mode it was
 * given in (a pause given during preflight holds the first wave, one given before a rollback-region
 * saga still holds after it), so it is a fact beside the mode.
 */
export const ROLLOUT_MODES = [
  /** Preflight and baselines: nothing has been changed yet. */
  'starting',
  /** The waves run. */
  'running',
  /** An abort or a rollback-all was decided: the stages are stopping, the saga follows. */
  'stopping',
  /** The saga undoes regions: every touched one after a stop, or the failed one under rollback-region. */
  'compensating',
  /** An undo keeps failing: the saga waits for retry. */
  'needsAttention',
  /** Every region is promoted: the contract migrations run. */
  'contracting',
  /** A contract migration failed: waiting for retry (run it again) or abort (end without it). */
  'contractPending',
  'ended',
] as const;
export type RolloutMode = (typeof ROLLOUT_MODES)[number];

/** The operator's requests, as the updates and signals of workflows/definitions.ts carry them. */
export interface ApproveRequest {
  region: string;
  /** The gate's name; defaults to the gate the region waits on. */
  gate?: string;
  /** In a release: the service whose gate it is, needed when gates of several services wait in the region. */
  service?: string;
  by: string;
  comment?: string;
  /** The approver's signed statement; required where the gate says `signed` or the worker enforces its keyring. */
  signature?: SignedApproval;
}
export interface AbortRequest {
  reason: string;
  by: string;
}
export interface OperatorRequest {
  by: string;
  reason?: string;
  /** Limits resume/retry to one region; all regions when absent. */
  region?: string;
  /** In a release: limits resume/retry to one service's stages. */
  service?: string;
}

export type OperatorCommand =
  | ({ kind: 'approve' } & ApproveRequest)
  | ({ kind: 'abort' } & AbortRequest)
  | ({ kind: 'pause' } & Omit<OperatorRequest, 'region'>)
  | ({ kind: 'resume' } & OperatorRequest)
  | ({ kind: 'retry' } & OperatorRequest);
export type CommandKind = OperatorCommand['kind'];
export const COMMAND_KINDS: readonly CommandKind[] = ['approve', 'abort', 'pause', 'resume', 'retry'];

/**
 * Parent -> region stage, decided on the parent first, so each kind has one meaning in the stage:
 * `resume` lifts an operator's pause, `acceptDrift` goes on over objects someone else changed,
 * `reanalyse` runs an inconclusive analysis again from a fresh window.
 */
export type RegionCommand =
  /** `approvers`: every distinct approver, when the gate needed more than one. */
  | { kind: 'approve'; gate: string; by: string; comment?: string; service?: string; approvers?: string[] }
  | { kind: 'pause'; by: string; reason?: string }
  | { kind: 'resume'; by: string; reason?: string }
  | { kind: 'acceptDrift'; by: string; reason?: string; service?: string }
  | { kind: 'reanalyse'; by: string; reason?: string; via: 'resume' | 'retry'; service?: string }
  /** The parent's answer to the stage's edge request with this key; `error` when the edges could not be changed. */
  | { kind: 'edgeDone'; key: string; error?: string };

/** What the rollout knows about one region when a command arrives. */
export interface RegionFacts {
  name: string;
  phase: RegionPhase;
  /** Its stage runs and takes commands (and the pause policy does not hold it). */
  inFlight: boolean;
  /** The pause policy holds it after a failure, its traffic on stable, waiting for resume, retry or abort. */
  held: boolean;
  /** It paused because someone else changed an object Meridian manages. */
  drifted: boolean;
  /** The gates waiting in it: one at most, or in a release one per service at most. */
  approvals: GateFacts[];
  /** A release's region: its services, and whether each waits for a go-ahead (inconclusive or drifted). */
  services?: { name: string; waiting: boolean }[];
}

export interface CommandContext {
  /** Every region, in the rollout's order. */
  regions: RegionFacts[];
  /** An operator's pause is in force. */
  paused: boolean;
  /** An abort was requested: by an operator, by a timed-out approval, or by Temporal's cancellation. */
  aborted: boolean;
  /** How the rollout ended, in mode `ended`. */
  ended?: RolloutPhase;
  /** Approvers, keys and the starter, pinned at preflight; absent in rollouts from before signed approvals. */
  approval?: ApprovalContext;
}

export interface AuditRecord {
  action: AuditAction;
  actor: string;
  reason: string;
  region?: string;
  data?: Record<string, unknown>;
}

/** One thing the workflow does, in the order given. */
export type Effect =
  | { kind: 'audit'; entry: AuditRecord }
  | { kind: 'clearApproval'; region: string; service?: string }
  /** One more approver of a gate that needs several; the gate keeps waiting. */
  | { kind: 'noteApproval'; region: string; service?: string; gate: string; since: string; by: string }
  /** Signal a region stage and wait until the signal is delivered (or recorded as undeliverable). */
  | { kind: 'forward'; region: string; command: RegionCommand }
  /** Start no wave or region; the saga follows once the stages stop. With an abort, the rollout ends RolledBack by it. */
  | { kind: 'stop'; abort?: AbortRequest }
  /** Move every live canary's traffic back to stable at once, before the ordered saga. */
  | { kind: 'cutTraffic' }
  | { kind: 'cancelWave' }
  | { kind: 'pause'; by: string; reason?: string }
  | { kind: 'liftPause' }
  /** A region the pause policy holds runs its stage again. */
  | { kind: 'releaseHeld'; region: string; command: 'resume' | 'retry' }
  /** The waiting saga runs its failed undo steps again. */
  | { kind: 'retryUndo' }
  /** The contract stage runs its failed migrations again. */
  | { kind: 'retryContract' }
  /** The contract stage gives up at its next wait: every region keeps the new version and the expand migrations. */
  | { kind: 'abandonContract'; abort: AbortRequest }
  | { kind: 'recordFailure'; region: string; reason: string }
  /** Show the state as it now is (phase search attribute, current details). */
  | { kind: 'publish' }
  | { kind: 'reply'; message: string };

export type Decision = { refusal: string } | { effects: Effect[] };

const refuse = (refusal: string): Decision => ({ refusal });
const audit = (entry: AuditRecord): Effect => ({ kind: 'audit', entry });
const PUBLISH: Effect = { kind: 'publish' };
const reply = (message: string): Effect => ({ kind: 'reply', message });

/** The saga runs or waits: an abort changes nothing, a pause is refused. */
const IN_SAGA: ReadonlySet<RolloutMode> = new Set(['compensating', 'needsAttention']);

/** What `command` does in `mode`: a refusal in the words an operator reads, or the effects in order. */
export function decide(mode: RolloutMode, command: OperatorCommand, ctx: CommandContext): Decision {
  switch (command.kind) {
    case 'approve':
      return approve(mode, command, ctx);
    case 'abort':
      return abort(mode, command, ctx);
    case 'pause':
      return pause(mode, command, ctx);
    case 'resume':
    case 'retry':
      return resumeOrRetry(mode, command, ctx);
  }
}

const ended = (mode: RolloutMode, ctx: CommandContext) => (mode === 'ended' ? `rollout already ended ${ctx.ended ?? ''}`.trim() : undefined);

const unknownRegion = (region: string | undefined, ctx: CommandContext) =>
  region !== undefined && !ctx.regions.some((r) => r.name === region)
    ? `unknown region "${region}" (regions: ${ctx.regions.map((r) => r.name).join(', ')})`
    : undefined;

function approve(mode: RolloutMode, cmd: Extract<OperatorCommand, { kind: 'approve' }>, ctx: CommandContext): Decision {
  if (!cmd.by) return refuse('approve needs "by": who approves');
  if (cmd.region === undefined) return refuse('approve needs "region": the region whose gate it approves');
  const problem = unknownRegion(cmd.region, ctx) ?? ended(mode, ctx);
  if (problem) return refuse(problem);
  const region = ctx.regions.find((r) => r.name === cmd.region)!;
  const found = pendingGate(region, cmd);
  if ('refusal' in found) return found;
  const pending = found.gate;
  if (cmd.gate && cmd.gate !== pending.gate) return refuse(`region "${cmd.region}" waits on gate "${pending.gate}", not "${cmd.gate}"`);
  const checked = ctx.approval ? checkApproval(pending, cmd.region, cmd, ctx.approval) : legacyCheck(pending, cmd);
  if ('refusal' in checked) return checked;
  const { count, needed, signature, selfApproval } = checked.accepted;
  const { gate, since } = pending;
  const service = pending.service === undefined ? {} : { service: pending.service };
  const of = pending.service === undefined ? '' : ` of ${pending.service}`;
  const data = {
    gate,
    approver: cmd.by,
    ...service,
    ...(needed > 1 ? { count, needed } : {}),
    ...(signature ? { signature } : {}),
    ...(selfApproval && ctx.approval ? { selfApproval: true } : {}),
  };
  const approved = audit({ action: 'approve', actor: cmd.by, region: cmd.region, reason: cmd.comment ?? `gate "${gate}"${of} approved`, data });
  if (count < needed) {
    return {
      effects: [
        { kind: 'noteApproval', region: cmd.region, ...service, gate, since, by: cmd.by },
        approved,
        PUBLISH,
        reply(`approval ${count} of ${needed} for gate "${gate}"${of} in ${cmd.region}; it waits for ${needed - count} more`),
      ],
    };
  }
  const approvers = needed > 1 ? { approvers: [...(pending.approvedBy ?? []), cmd.by] } : {};
  return {
    effects: [
      { kind: 'clearApproval', region: cmd.region, ...service },
      approved,
      { kind: 'forward', region: cmd.region, command: { kind: 'approve', gate, by: cmd.by, comment: cmd.comment, ...service, ...approvers } },
      PUBLISH,
      reply(`approved gate "${gate}"${of} in ${cmd.region}`),
    ],
  };
}

/** Rollouts from before signed approvals: a named approver list, nothing else. */
function legacyCheck(pending: GateFacts, cmd: ApproveRequest): { refusal: string } | { accepted: AcceptedApproval } {
  if (pending.approvers && !pending.approvers.includes(cmd.by)) {
    return { refusal: `"${cmd.by}" may not approve gate "${pending.gate}" in ${cmd.region} (approvers: ${pending.approvers.join(', ')})` };
  }
  return { accepted: { count: 1, needed: 1, selfApproval: false } };
}

/** The gate an approval means: the region's only one, or the named service's, or the named gate's; several is ambiguous. */
function pendingGate(region: RegionFacts, cmd: ApproveRequest): { gate: RegionFacts['approvals'][number] } | { refusal: string } {
  const refuse = (refusal: string) => ({ refusal });
  if (region.approvals.length === 0) return refuse(`region "${region.name}" is not waiting for approval (it is ${region.phase})`);
  const candidates = region.approvals.filter((a) => (cmd.service === undefined || a.service === cmd.service) && (cmd.gate === undefined || cmd.service !== undefined || a.gate === cmd.gate));
  const listed = region.approvals.map((a) => `${a.service ?? 'the service'} (gate "${a.gate}")`).join(', ');
  if (candidates.length === 0 && cmd.service !== undefined) return refuse(`no gate of service "${cmd.service}" waits in ${region.name}; waiting: ${listed}`);
  if (candidates.length === 0) return { gate: region.approvals[0]! };
  if (candidates.length > 1) return refuse(`gates of more than one service wait in ${region.name}: ${listed}; say which with service (--service)`);
  return { gate: candidates[0]! };
}

function abort(mode: RolloutMode, cmd: Extract<OperatorCommand, { kind: 'abort' }>, ctx: CommandContext): Decision {
  if (!cmd.by) return refuse('abort needs "by": who aborts');
  if (!cmd.reason) return refuse('abort needs a reason');
  const problem = ended(mode, ctx);
  if (problem) return refuse(problem);
  const request: AbortRequest = { reason: cmd.reason, by: cmd.by };
  if (ctx.aborted || IN_SAGA.has(mode)) {
    return {
      effects: [
        audit({ action: 'abort', actor: cmd.by, reason: `${cmd.reason} (already rolling back; compensation continues)`, data: { reason: cmd.reason, alreadyRollingBack: true } }),
        reply('already rolling back; compensation continues to the end'),
      ],
    };
  }
  const recorded = audit({ action: 'abort', actor: cmd.by, reason: cmd.reason, data: { reason: cmd.reason } });
  const contract = mode === 'contracting' || mode === 'contractPending';
  const message = !contract
    ? 'aborting: every touched region goes back to its known-good state'
    : mode === 'contractPending'
      ? 'ending without the contract migrations: every region keeps the new version and the expand migrations'
      : 'the contract migrations under way finish; if one fails, the rollout ends without the contract migrations';
  const first: Effect = contract ? { kind: 'abandonContract', abort: request } : { kind: 'stop', abort: request };
  return { effects: [first, recorded, { kind: 'cutTraffic' }, { kind: 'cancelWave' }, PUBLISH, reply(message)] };
}

function pause(mode: RolloutMode, cmd: Extract<OperatorCommand, { kind: 'pause' }>, ctx: CommandContext): Decision {
  if (!cmd.by) return refuse('pause needs "by"');
  const problem = ended(mode, ctx);
  if (problem) return refuse(problem);
  if (IN_SAGA.has(mode) || ctx.aborted) return refuse('rollout is rolling back; a rollback cannot be paused');
  if (ctx.paused) return refuse('rollout is already paused');
  const command: RegionCommand = { kind: 'pause', by: cmd.by, reason: cmd.reason };
  return {
    effects: [
      { kind: 'pause', by: cmd.by, reason: cmd.reason },
      audit({ action: 'pause', actor: cmd.by, reason: cmd.reason ?? 'paused by an operator' }),
      PUBLISH,
      ...ctx.regions.filter((r) => r.inFlight).map((r): Effect => ({ kind: 'forward', region: r.name, command })),
      reply('paused: regions hold at their current step'),
    ],
  };
}

/**
 * What resume and retry act on, optionally one region only:
 * - the operator's pause (only without a region): resume lifts it, and so does retry;
 * - a region the pause policy holds: both run its stage again;
 * - a drifted region: both accept the change and go on (acceptDrift);
 * - an inconclusive analysis: both analyse again from a fresh window (reanalyse, which records which);
 * - retry only: the saga's failed undo steps (needsAttention), or the failed contract migrations (contractPending).
 */
function resumeOrRetry(mode: RolloutMode, cmd: Extract<OperatorCommand, { kind: 'resume' | 'retry' }>, ctx: CommandContext): Decision {
  const { kind } = cmd;
  if (!cmd.by) return refuse(`${kind} needs "by"`);
  const problem = ended(mode, ctx) ?? unknownRegion(cmd.region, ctx);
  if (problem) return refuse(problem);
  const scope = ctx.regions.filter((r) => cmd.region === undefined || r.name === cmd.region);
  const ambiguous = cmd.region !== undefined && cmd.service === undefined ? (scope[0]?.services ?? []).filter((x) => x.waiting) : [];
  if (ambiguous.length > 1) return refuse(`more than one service waits in ${cmd.region}: ${ambiguous.map((x) => x.name).join(', ')}; say which with service (--service)`);
  const only = cmd.service === undefined ? {} : { service: cmd.service };
  const liftPause = ctx.paused && cmd.region === undefined;
  const held = scope.filter((r) => r.held).map((r) => r.name);
  const waiting = scope.filter((r) => r.phase === 'Inconclusive' || r.drifted);
  const undo = kind === 'retry' && mode === 'needsAttention';
  const contract = kind === 'retry' && mode === 'contractPending';
  if (kind === 'resume' && !liftPause && !held.length && !waiting.length) return refuse('nothing to resume: the rollout is not paused');
  if (kind === 'retry' && !undo && !contract && !held.length && !waiting.length) {
    return refuse('nothing to retry: no failed rollback, held region or inconclusive analysis');
  }
  const by = { by: cmd.by, reason: cmd.reason };
  const data = {
    ...(undo ? { undo: true } : {}),
    ...(contract ? { contract: true } : {}),
    ...(liftPause ? { pause: true } : {}),
    ...(held.length ? { held } : {}),
    ...(waiting.length ? { regions: waiting.map((r) => r.name) } : {}),
  };
  const what = [...held, ...waiting.map((r) => r.name)];
  return {
    effects: [
      audit({ action: kind, actor: cmd.by, region: cmd.region, reason: cmd.reason ?? `${kind} by an operator`, data }),
      ...(undo ? [{ kind: 'retryUndo' } as const] : []),
      ...(contract ? [{ kind: 'retryContract' } as const] : []),
      ...(liftPause
        ? [{ kind: 'liftPause' } as const, ...ctx.regions.filter((r) => r.inFlight).map((r): Effect => ({ kind: 'forward', region: r.name, command: { kind: 'resume', ...by } }))]
        : []),
      ...held.map((region): Effect => ({ kind: 'releaseHeld', region, command: kind })),
      ...waiting.map(
        (r): Effect => ({ kind: 'forward', region: r.name, command: r.drifted ? { kind: 'acceptDrift', ...by, ...only } : { kind: 'reanalyse', ...by, via: kind, ...only } }),
      ),
      PUBLISH,
      reply(
        contract
          ? 'running the contract migrations again in the regions where they failed'
          : undo
            ? 'retrying the failed rollback steps'
            : `${kind === 'resume' ? 'resumed' : 'retried'}${what.length ? ` ${what.join(', ')}` : ''}`,
      ),
    ],
  };
}
