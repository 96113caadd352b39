import { ApplicationFailure } from '@temporalio/common';
import { checkEdgePlan, compilePolicies, policyInput } from '../../domain/edge-policy';
import type { EdgePolicy, EdgeShares, EdgeSpec } from '../../domain/edges';
import { FAILURE, type FailureType } from '../../domain/vocabulary';
import { keepAlive } from '../activity-context';
import { createEdgeDriverRegistry } from './registry';
import type { EdgeDrift, EdgeDriver, EdgeSnapshot } from './types';

export interface EdgeCall {
  rolloutId: string;
  edge: EdgeSpec;
}

export interface EdgeChangeInput extends EdgeCall {
  /** Names this change: a repeat with the same key writes nothing. */
  key: string;
  routing: EdgeShares;
  /** What Meridian last left on the edge; a difference is someone else's change. */
  expected: EdgeSnapshot;
  /** Each region's residency label and the regions that are not healthy now, for the policies. */
  residency: Record<string, string>;
  unhealthy: string[];
  /** The spec's own rules, checked after the built-in ones. */
  policies: EdgePolicy[];
  /** The rollback's changes go on over someone else's change instead of stopping at it. */
  overDrift?: boolean;
}

/** What `changeEdge` refuses with, in its failure's details. */
export type EdgeRefusal =
  | { kind: 'drift'; edge: string; differences: string[] }
  | { kind: 'policy'; edge: string; failures: ReturnType<typeof checkEdgePlan> };

export interface EdgeActivities {
  /** What the edge serves now, before Meridian changes it. */
  snapshotEdge(input: EdgeCall): Promise<EdgeSnapshot>;
  /**
   * Routes the planned shares and mirrors once the plan passes every policy and the edge is as
   * Meridian left it; returns what it left. Fails non-retryably with an `EdgeRefusal` otherwise.
   */
  changeEdge(input: EdgeChangeInput): Promise<EdgeSnapshot>;
  /** Puts the snapshot's configuration back exactly, over any change since; returns what it left. */
  restoreEdge(input: EdgeCall & { key: string; snapshot: EdgeSnapshot }): Promise<EdgeSnapshot>;
  checkEdgeDrift(input: EdgeCall & { expected: EdgeSnapshot }): Promise<EdgeDrift>;
}

const refuse = (message: string, refusal: EdgeRefusal, type: FailureType) => ApplicationFailure.nonRetryable(message, type, refusal);

/** Heartbeats while the proxy takes the change, so a lost worker is noticed in seconds. */
async function alive<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const stop = keepAlive(() => ({ edge: what }), 1_000);
  try {
    return await fn();
  } finally {
    stop();
  }
}

export function createEdgeActivities(drivers: EdgeDriver[]): EdgeActivities {
  const registry = createEdgeDriverRegistry(drivers);
  return {
    snapshotEdge: ({ edge }) => alive(edge.name, () => registry.of(edge).snapshot(edge)),
    changeEdge: (input) => alive(input.edge.name, () => change(registry.of(input.edge), input)),
    restoreEdge: ({ edge, snapshot, key }) =>
      alive(edge.name, async () => {
        const driver = registry.of(edge);
        await driver.restore(edge, snapshot, key);
        return driver.snapshot(edge);
      }),
    checkEdgeDrift: ({ edge, expected }) => alive(edge.name, () => registry.of(edge).drift(edge, expected)),
  };
}

async function change(driver: EdgeDriver, input: EdgeChangeInput): Promise<EdgeSnapshot> {
  const { edge, key, routing } = input;
  // A retry of a change that began writing: finish it, check nothing twice.
  if (await driver.started(edge, key)) return driver.apply(edge, routing, key);
  if (!input.overDrift) {
    const drift = await driver.drift(edge, input.expected);
    if (drift.drifted) {
      throw refuse(`edge "${edge.name}" was changed by someone else: ${drift.differences.join('; ')}`, { kind: 'drift', edge: edge.name, differences: drift.differences }, FAILURE.edgeDrift);
    }
  }
  const { compiled, problems } = compilePolicies(input.policies);
  if (problems.length) throw ApplicationFailure.nonRetryable(`edge policies do not compile: ${problems.map((p) => `${p.name}: ${p.error}`).join('; ')}`, FAILURE.edgePolicyRefused);
  const failures = checkEdgePlan(policyInput(edge, routing, input.residency, new Set(input.unhealthy)), compiled);
  if (failures.length) {
    const lines = failures.map((f) => `${f.name}: ${f.message}${f.error ? ` (${f.error})` : ''}; rule ${f.rule}; saw ${JSON.stringify(f.saw)}`);
    throw refuse(`edge "${edge.name}": the planned configuration fails ${lines.join(' | ')}`, { kind: 'policy', edge: edge.name, failures }, FAILURE.edgePolicyRefused);
  }
  return driver.apply(edge, routing, key);
}
