import { SimulatedFleet } from '../activities/fleet/index';
import type { RolloutPlan } from '../domain/plan';
import { units } from '../domain/release';
import type { RolloutStatus } from '../domain/status';
import { targetTraits } from '../domain/targets';
import { workflowUrl } from '../worker/dev-server';
import { ExitCode, exitCodeForPhase } from './exit-codes';
import { knownGoodProblems, promotedProblems, type FleetRegion } from './fleet-check';
import { followRollout } from './follow';
import { liveView, type LiveOutput } from './live';
import { renderSummary, rollbackCauses } from './render';
import { startSandbox, type Sandbox, type ServerPlacement } from './sandbox';

export type Expectation = 'Succeeded' | 'RolledBack';

export interface ScenarioOptions {
  plan: RolloutPlan;
  id: string;
  taskQueue: string;
  fleetFile: string;
  expect: Expectation;
  /** Regions the rollback must name as its cause. */
  causes?: string[];
  startedBy: string;
  /** Leaves the server and worker up after the rollout until Ctrl-C. */
  keep: boolean;
  out: LiveOutput;
  /** Where the local server listens and keeps its state (defaults 7233, UI 8233, .meridian/temporal.db), or the server to use. */
  server?: ServerPlacement;
  /** Reads what each region runs from its real target; the simulated fleet is read when absent. */
  observe?: () => Promise<Record<string, FleetRegion | undefined>>;
}

export interface ScenarioResult {
  code: ExitCode;
  id: string;
  /** The Temporal frontend the rollout ran on. */
  address: string;
  status: RolloutStatus;
}

export interface Judgement {
  ok: boolean;
  lines: string[];
  code: ExitCode;
}

/** Whether the rollout ended as the scenario expects: the phase, the cause, and what the fleet runs now. */
export function judge(status: RolloutStatus, expect: Expectation, fleetProblems: string[], causes: string[] = []): Judgement {
  const problems: string[] = [];
  if (status.phase !== expect) problems.push(`expected the rollout to end ${expect}, it ended ${status.phase}`);
  const named = new Set(rollbackCauses(status).flatMap((e) => (e.region ? [e.region] : [])));
  for (const region of causes) {
    if (!named.has(region)) problems.push(`expected ${region} to be named as the cause of the rollback`);
  }
  problems.push(...fleetProblems);
  if (problems.length === 0) {
    const what = expect === 'Succeeded' ? 'every region runs the new image at 100%' : 'every region is back on its known-good image';
    return { ok: true, code: ExitCode.Success, lines: [`as expected: ${status.phase}, ${what}`] };
  }
  const phaseCode = exitCodeForPhase(status.phase);
  const code = status.phase !== expect && phaseCode !== ExitCode.Success ? phaseCode : ExitCode.Unexpected;
  return { ok: false, code, lines: ['NOT as expected:', ...problems.map((p) => `  ${p}`)] };
}

/** Where each stage of the plan runs, keyed by region, or in a release by `<region> <service>`. */
function stages(plan: RolloutPlan): { key: string; service: string; plan: RolloutPlan; region: string }[] {
  return units(plan).flatMap((u) => Object.keys(u.plan.regions).map((region) => ({ key: plan.release ? `${region} ${u.service}` : region, service: u.service, plan: u.plan, region })));
}

function seedFleet(fleet: SimulatedFleet, plan: RolloutPlan): Record<string, FleetRegion> {
  fleet.reset();
  const before: Record<string, FleetRegion> = {};
  for (const s of stages(plan)) {
    const target = s.plan.regions[s.region]!.target;
    if (!targetTraits(target).simulated) continue;
    fleet.seedRegion(s.service, s.region, target, s.plan.image);
    before[s.key] = fleet.region(s.service, s.region)!;
  }
  return before;
}

function fleetNow(fleet: SimulatedFleet, plan: RolloutPlan): Record<string, FleetRegion | undefined> {
  return Object.fromEntries(stages(plan).map((s) => [s.key, fleet.region(s.service, s.region)]));
}

/** The image each stage of the plan must run once promoted, by the keys of {@link fleetNow}. */
export function promotedImages(plan: RolloutPlan): Record<string, string> {
  return Object.fromEntries(stages(plan).map((s) => [s.key, s.plan.image]));
}

async function known(observe: NonNullable<ScenarioOptions['observe']>): Promise<Record<string, FleetRegion>> {
  const now = await observe();
  const missing = Object.keys(now).filter((n) => !now[n]);
  if (missing.length) throw new Error(`cannot read what ${missing.join(', ')} runs before the rollout`);
  return now as Record<string, FleetRegion>;
}

/** Runs one rollout on a fresh simulated fleet in a local sandbox, shows it live, and judges how it ended. */
export async function runScenario(opts: ScenarioOptions): Promise<ScenarioResult> {
  const say = (line: string) => opts.out.write(`${line}\n`);
  const fleet = new SimulatedFleet(opts.fleetFile);
  const seeded = seedFleet(fleet, opts.plan);
  const before = opts.observe ? await known(opts.observe) : seeded;
  const sandbox: Sandbox = await startSandbox({ ...opts.server, fleetFile: opts.fleetFile, taskQueue: opts.taskQueue, log: say });
  try {
    const id = await sandbox.client.start(opts.plan, { id: opts.id, startedBy: opts.startedBy });
    say(`started ${id}`);
    say(`Temporal UI: ${workflowUrl(sandbox.server.uiUrl, id, sandbox.server.namespace)}`);
    say('');
    const interrupted = new AbortController();
    const stopFollowing = () => interrupted.abort();
    sandbox.workerDone.then(stopFollowing, stopFollowing);
    const status = await followRollout(sandbox.client, id, liveView(opts.out), { signal: interrupted.signal });
    say('');
    say(renderSummary(status));
    say('');
    const after = opts.observe ? await opts.observe() : fleetNow(fleet, opts.plan);
    const fleetProblems = opts.expect === 'Succeeded' ? promotedProblems(promotedImages(opts.plan), after) : knownGoodProblems(before, after);
    const verdict = judge(status, opts.expect, fleetProblems, opts.causes);
    for (const line of verdict.lines) say(line);
    if (opts.keep) {
      say('');
      say(`kept running: Temporal at ${sandbox.server.address}, UI ${sandbox.server.uiUrl}; press Ctrl-C to stop`);
      await sandbox.workerDone.catch(() => {});
    }
    return { code: verdict.code, id, address: sandbox.server.address, status };
  } finally {
    await sandbox.stop();
  }
}
