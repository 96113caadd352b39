import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { SimulatedFleet } from '../activities/fleet';
import { RolloutCommandError, type RolloutClient } from '../client/rollout-client';
import { rolloutWorkflowId } from '../workflows/definitions';
import { checkRollout, type Launched } from './check';
import { scenarioPlan, type Scenario } from './scenarios';
import type { RolloutCheck } from './types';

/** How long a start may keep failing (the server restarting) before the row gives up. */
const START_RETRY_MS = 120_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The rollouts of one row: each is started on the row's task queue and watched from then on, and
 * checked (check.ts) once it ends or its bound passes.
 */
export class RolloutBatch {
  private readonly launched: Launched[] = [];
  private readonly checks: Promise<RolloutCheck>[] = [];
  private done = 0;

  private readonly client: RolloutClient;
  private readonly fleet: SimulatedFleet;
  /** How long each rollout may take before it counts as stuck. */
  private readonly boundMs: number;
  private readonly log: (line: string) => void;

  constructor(client: RolloutClient, fleet: SimulatedFleet, boundMs: number, log: (line: string) => void) {
    this.client = client;
    this.fleet = fleet;
    this.boundMs = boundMs;
    this.log = log;
  }

  /** Starts a rollout of `scenario` for `service` and begins to watch it. */
  async launch(scenario: Scenario, service: string): Promise<Launched> {
    const plan = scenarioPlan(scenario, service);
    const id = rolloutWorkflowId(plan.service, plan.version);
    await this.start(id, plan);
    const launched: Launched = { id, plan, scenario, deadline: Date.now() + this.boundMs };
    this.launched.push(launched);
    this.checks.push(
      checkRollout(this.client, this.fleet, launched).then((check) => {
        this.done += 1;
        this.log(`${id} (${scenario.name}): ${check.phase}${check.seconds === undefined ? '' : ` in ${check.seconds.toFixed(1)} s`}${check.problems.length ? `; ${check.problems.join('; ')}` : ''}`);
        return check;
      }),
    );
    return launched;
  }

  /** Rollouts started whose check has not finished. */
  get running(): number {
    return this.launched.length - this.done;
  }

  /** Running rollouts with a canary taking part of the traffic in some region now: in the middle of their steps. */
  midRollout(): Launched[] {
    return this.launched.filter((l) =>
      Object.keys(l.plan.regions).some((r) => {
        const region = this.fleet.region(l.plan.service, r);
        return region?.canary != null && region.weight > 0 && region.weight < 100;
      }),
    );
  }

  /** Every rollout's check, once all have ended or passed their bound. */
  all(): Promise<RolloutCheck[]> {
    return Promise.all(this.checks);
  }

  /** A start that fails while the server is away is tried again; one that reached the server before is taken as started. */
  private async start(id: string, plan: Parameters<RolloutClient['start']>[0]): Promise<void> {
    const deadline = Date.now() + START_RETRY_MS;
    for (;;) {
      try {
        await this.client.start(plan, { id, startedBy: 'chaos' });
        return;
      } catch (err) {
        if (err instanceof RolloutCommandError && err.cause instanceof WorkflowExecutionAlreadyStartedError) return;
        if (Date.now() > deadline) throw new Error(`could not start rollout ${id} within ${START_RETRY_MS / 1000} s: ${(err as Error).message}`, { cause: err });
        await sleep(1_000);
      }
    }
  }
}
