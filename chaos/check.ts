import type { JournalEntry, SimulatedFleet } from '../activities/fleet';
import type { RolloutClient, RolloutRecord } from '../client/rollout-client';
import type { RolloutPlan } from '../domain/plan';
import type { RolloutPhase } from '../domain/status';
import { targetTraits } from '../domain/targets';
import type { RegionEnd, Scenario } from './scenarios';
import type { RolloutCheck, RowId, RowResult } from './types';

/**
 * The checks from outside, for every rollout of a fleet row: the phase it ended in (from the server
 * and the workflow's result), what every region of the simulated fleet runs, and its journal.
 */

/** A rollout a row started, and by when it must have ended. */
export interface Launched {
  id: string;
  plan: RolloutPlan;
  scenario: Scenario;
  /** Epoch ms after which a rollout still running counts as stuck. */
  deadline: number;
}

/** Phases in which a rollout waits for a person: it has ended as far as chaos can take it. */
const WAITING: readonly RolloutPhase[] = ['NeedsAttention', 'Paused', 'AwaitingApproval'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls the server's record of rollout `id` (no worker needed) until its workflow closes or the
 * deadline passes; a call that fails while the server restarts is asked again.
 */
export async function awaitEnd(client: RolloutClient, id: string, deadline: number, everyMs = 1_000): Promise<{ record?: RolloutRecord; ended: boolean }> {
  let record: RolloutRecord | undefined;
  for (;;) {
    record = (await client.record(id).catch(() => undefined)) ?? record;
    if (record?.closedAt) return { record, ended: true };
    if (Date.now() > deadline) return { record, ended: record !== undefined && WAITING.includes(record.phase) };
    await sleep(everyMs);
  }
}

/** The phase a closed rollout's result carries; the published phase when the result cannot be read. */
async function finalPhase(client: RolloutClient, record: RolloutRecord, problems: string[]): Promise<string> {
  if (!record.closedAt) return record.phase;
  const status = await client.status(record.id).catch((err: unknown) => {
    problems.push(`the result of ${record.id} could not be read: ${(err as Error).message}`);
    return undefined;
  });
  if (status && status.phase !== record.phase) problems.push(`the result says ${status.phase}, the MeridianPhase search attribute ${record.phase}`);
  return status?.phase ?? record.phase;
}

interface Workload {
  image: string;
  canary: string | null;
  weight: number;
}

function expectedWorkload(plan: RolloutPlan, region: string, end: RegionEnd): Workload {
  if (end === 'new') return { image: plan.image, canary: null, weight: 100 };
  const initial = targetTraits(plan.regions[region]!.target).initial?.image;
  if (!initial) throw new Error(`region ${region} of ${plan.service} has no initial image, so its end state cannot be checked`);
  return { image: initial, canary: null, weight: 0 };
}

const describeWorkload = (w: Workload) => `${w.image} at ${w.weight}%${w.canary ? ` with canary ${w.canary}` : ' with no canary'}`;

/** One line for each region of the fleet that does not run what `scenario` ends in. */
export function regionProblems(fleet: SimulatedFleet, plan: RolloutPlan, scenario: Scenario): string[] {
  const problems: string[] = [];
  for (const region of Object.keys(plan.regions)) {
    const end = scenario.regions[region] ?? 'untouched';
    const want = expectedWorkload(plan, region, end);
    const now = fleet.region(plan.service, region);
    if (!now) {
      if (end === 'new') problems.push(`${region}: not in the fleet, expected ${describeWorkload(want)}`);
      continue;
    }
    const seen = { image: now.stable.image, canary: now.canary?.image ?? null, weight: now.weight };
    if (seen.image !== want.image || seen.canary !== want.canary || seen.weight !== want.weight) {
      problems.push(`${region}: runs ${describeWorkload(seen)}, expected ${describeWorkload(want)} (${end})`);
    }
    if (end !== 'untouched') continue;
    const changes = now.journal.filter((j) => j.op !== 'snapshot' && j.effect === 'applied').map((j) => j.op);
    if (changes.length > 0) problems.push(`${region}: was to stay untouched, but took ${changes.join(', ')}`);
  }
  return problems;
}

/** Keyed operations the journal shows applied more than once (a repeat must be a no-op). */
export function duplicateApplications(journal: readonly JournalEntry[]): { key: string; op: string; times: number }[] {
  const applied = new Map<string, { key: string; op: string; times: number }>();
  for (const j of journal) {
    if (j.effect !== 'applied') continue;
    const id = `${j.op}\u0000${j.key}`;
    const seen = applied.get(id) ?? { key: j.key, op: j.op, times: 0 };
    seen.times += 1;
    applied.set(id, seen);
  }
  return [...applied.values()].filter((a) => a.times > 1);
}

/** Waits for `launched` to end, then checks its phase, its regions and their journals. */
export async function checkRollout(client: RolloutClient, fleet: SimulatedFleet, launched: Launched): Promise<RolloutCheck> {
  const { id, plan, scenario } = launched;
  const { record, ended } = await awaitEnd(client, id, launched.deadline);
  const problems: string[] = [];
  const phase = record ? await finalPhase(client, record, problems) : 'unknown';
  if (!ended) problems.push(`still ${phase} when its bound passed (${new Date(launched.deadline).toISOString()})`);
  else if (phase !== scenario.phase) problems.push(`ended ${phase}, expected ${scenario.phase}`);
  const regions = regionProblems(fleet, plan, scenario);
  let duplicates = 0;
  for (const region of Object.keys(plan.regions)) {
    for (const d of duplicateApplications(fleet.journal(plan.service, region))) {
      duplicates += d.times - 1;
      problems.push(`${region}: ${d.op} under key ${d.key} applied ${d.times} times`);
    }
  }
  problems.push(...regions);
  const consistent = ended && phase === scenario.phase && regions.length === 0;
  const seconds = record?.closedAt ? (Date.parse(record.closedAt) - Date.parse(record.startedAt)) / 1000 : undefined;
  return { rolloutId: id, scenario: scenario.name, expectedPhase: scenario.phase, phase, consistent, duplicates, stuck: !ended, problems, seconds };
}

/** A row's figures from its checks: a stuck rollout counts as stuck, not as inconsistent. */
export function rowResult(
  row: RowId,
  fault: string,
  faults: Record<string, number>,
  checks: RolloutCheck[],
  startedAt: number,
  problems: string[] = [],
): RowResult {
  return {
    row,
    fault,
    faults,
    rollouts: checks.length,
    consistent: checks.filter((c) => !c.stuck && c.consistent).length,
    inconsistent: checks.filter((c) => !c.stuck && !c.consistent).length,
    duplicates: checks.reduce((sum, c) => sum + c.duplicates, 0),
    stuck: checks.filter((c) => c.stuck).length,
    seconds: Math.round((Date.now() - startedAt) / 100) / 10,
    checks,
    problems,
  };
}
