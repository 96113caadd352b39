import { ActivityFailure, ApplicationFailure, CancellationScope, condition, isCancellation, proxyActivities, sleep } from '@temporalio/workflow';
import type { EdgeRefusal } from '../activities/edges/activities';
import type { EdgeSnapshot } from '../activities/edges/types';
import type { RolloutActivities } from '../activities/types';
import type { EdgePlan, EdgeShares, EdgeSpec } from '../domain/edges';
import { rootMessage } from '../domain/errors';
import { regionMetrics } from '../domain/plan';
import type { EdgeStatus, RegionPhase, Verdict } from '../domain/status';
import { sameShares, steerAway, stepsBack, type HoldNumbers, type HoldReason, type SteerPlan } from '../domain/steering';
import { effectKey } from '../domain/steps';
import { FAILURE } from '../domain/vocabulary';
import { PRESETS } from './presets';
import type { RolloutState } from './rollout-state';

const edgeCalls = proxyActivities<Pick<RolloutActivities, 'snapshotEdge' | 'changeEdge' | 'restoreEdge' | 'checkEdgeDrift'>>(PRESETS.edge);
const health = proxyActivities<Pick<RolloutActivities, 'checkHealth'>>(PRESETS.mutate);

/** One edge as the rollout knows it. */
interface EdgeRuntime {
  spec: EdgeSpec;
  /** What the rollout leaves the edge as when it is done: as it was before the rollout, or a change an operator accepted. */
  baseline: EdgeSnapshot;
  /** What Meridian last left on the edge; anything else found there is drift. */
  last: EdgeSnapshot;
  /** Regions steered away from, oldest first, that have not had their share back. */
  drained: string[];
  /** Someone else's change, while the rollout waits for an operator. */
  drift?: string[];
  /** A change someone else made that no operator accepted: the rollback puts the baseline back over it. */
  overwrite?: boolean;
}

/** A drain that would break a guardrail, kept for the person who decides. */
export interface HeldDrain {
  edge: string;
  region: string;
  reason: HoldReason | 'policy';
  numbers?: HoldNumbers;
  failures?: unknown[];
}

type Written = { kind: 'applied'; before: EdgeShares; after: EdgeShares } | { kind: 'unchanged' } | { kind: 'refused'; failures: unknown[]; message: string } | { kind: 'stopped' };

/** Phases in which a region takes no share from a drained neighbour. */
const DOWN: ReadonlySet<RegionPhase> = new Set(['Degraded', 'WaitingForHealth', 'NeedsAttention', 'RollingBack']);

const describe = (r: EdgeShares) =>
  Object.entries(r.shares)
    .map(([region, share]) => `${region} ${share}%`)
    .join(', ') + Object.entries(r.mirrors ?? {}).map(([region, p]) => `; mirror ${p}% of ${region}`).join('');

/**
 * The rollout's edges: snapshotted before the first change, steered away from a region that goes
 * bad and back in steps once it is healthy, mirrored for shadow steps, watched for drift, and put
 * back exactly at the end. Every change runs one at a time, in the order asked, under a key of its
 * own (`<rollout>/edge/<edge>/<n>`), so a retried change writes nothing twice.
 */
export class Steering {
  readonly plan: EdgePlan;
  private readonly s: RolloutState;
  private readonly edges: EdgeRuntime[] = [];
  private seq = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private watcher?: CancellationScope;
  private readonly replies = new Map<string, string | undefined>();
  /** The rollback owns the edges: its changes go over anyone else's. */
  private forced = false;

  constructor(s: RolloutState, plan: EdgePlan) {
    this.s = s;
    this.plan = plan;
  }

  status(): EdgeStatus[] {
    return this.edges.map((rt) => ({
      name: rt.spec.name,
      residency: rt.spec.residency,
      shares: { ...rt.last.routing.shares },
      normal: Object.fromEntries(rt.spec.routes.map((r) => [r.region, r.share])),
      mirrors: { ...(rt.last.routing.mirrors ?? {}) },
      drained: [...rt.drained],
      version: rt.last.version,
      ...(rt.drift ? { drift: rt.drift } : {}),
    }));
  }

  /** Records what every edge serves before anything changes; throws what an unreachable edge said. */
  async begin(): Promise<void> {
    const snaps = await Promise.all(this.plan.edges.map((edge) => edgeCalls.snapshotEdge({ rolloutId: this.s.id, edge })));
    this.plan.edges.forEach((spec, i) => {
      const snap = snaps[i]!;
      this.edges.push({ spec, baseline: snap, last: snap, drained: [] });
      this.s.record('edge-snapshot', `edge ${spec.name} recorded at version ${snap.version || '(none)'}: ${describe(snap.routing)}`, {
        data: { edge: spec.name, version: snap.version, shares: snap.routing.shares, mirrors: snap.routing.mirrors ?? {} },
      });
    });
    this.watch();
  }

  /** Runs edge work one piece at a time, in the order asked. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Edge work started by a message handler: its failure goes to the audit trail, never to the workflow. */
  background(what: string, fn: () => Promise<unknown>): void {
    void fn().catch((err) => {
      if (!isCancellation(err)) this.s.record('edge-refused', `${what} failed: ${rootMessage(err)}`, { data: { error: rootMessage(err) } });
    });
  }

  private serving(region: string): EdgeRuntime[] {
    return this.edges.filter((rt) => rt.spec.routes.some((r) => r.region === region));
  }

  /** Regions that may not take a drained share now: drained on this edge, or failing, and `region` itself. */
  private down(rt: EdgeRuntime, region?: string): Set<string> {
    const failing = rt.spec.routes.map((r) => r.region).filter((n) => this.s.regions.has(n) && DOWN.has(this.s.region(n).phase));
    return new Set([...rt.drained, ...failing, ...(region === undefined ? [] : [region])]);
  }

  private key(rt: EdgeRuntime): string {
    this.seq += 1;
    return `${this.s.id}/edge/${rt.spec.name}/${this.seq}`;
  }

  /**
   * Writes what `planned` makes of the edge's current routing, after checking the edge is as
   * Meridian left it. A configuration equal to the baseline's is restored from its files, so it is
   * byte for byte what was there. On drift the rollout pauses; once an operator resumes, the change
   * is accepted and `planned` runs again on it.
   */
  private async write(rt: EdgeRuntime, planned: (current: EdgeShares) => EdgeShares | undefined): Promise<Written> {
    const overDrift = this.forced;
    for (;;) {
      const before = rt.last.routing;
      const after = planned(before);
      if (!after) return { kind: 'unchanged' };
      const exact = sameShares(after, rt.baseline.routing);
      const same = sameShares(after, before) && (!exact || rt.last.version === rt.baseline.version);
      if (same && !(overDrift && rt.overwrite)) return { kind: 'unchanged' };
      try {
        if (exact && !overDrift) await this.checkDrift(rt);
        const input = { rolloutId: this.s.id, edge: rt.spec, key: this.key(rt) };
        rt.last = exact
          ? await edgeCalls.restoreEdge({ ...input, snapshot: rt.baseline })
          : await edgeCalls.changeEdge({ ...input, routing: after, expected: rt.last, residency: this.plan.residency, unhealthy: [...this.down(rt)], policies: this.plan.steering.policies, overDrift });
        rt.overwrite = undefined;
        return { kind: 'applied', before, after: rt.last.routing };
      } catch (err) {
        const refusal = refusalOf(err);
        if (refusal?.kind === 'policy') return { kind: 'refused', failures: refusal.failures, message: rootMessage(err) };
        if (refusal?.kind !== 'drift') throw err;
        if ((await this.driftPause(rt, refusal.differences)) === 'stopped') return { kind: 'stopped' };
      }
    }
  }

  /** Throws the drift refusal `changeEdge` would, for a restore, which writes over anything. */
  private async checkDrift(rt: EdgeRuntime): Promise<void> {
    const drift = await edgeCalls.checkEdgeDrift({ rolloutId: this.s.id, edge: rt.spec, expected: rt.last });
    if (drift.drifted) throw ApplicationFailure.nonRetryable('edge drifted', FAILURE.edgeDrift, { kind: 'drift', edge: rt.spec.name, differences: drift.differences } satisfies EdgeRefusal);
  }

  /**
   * Someone else changed the edge: the rollout pauses until an operator resumes (the change is
   * accepted and becomes what the rollout restores) or aborts (the rollback puts the baseline back).
   */
  private async driftPause(rt: EdgeRuntime, differences: string[]): Promise<'accepted' | 'stopped'> {
    const { s } = this;
    const name = rt.spec.name;
    rt.overwrite = true;
    const why = `edge ${name} was changed outside Meridian: ${differences.join('; ')}`;
    if (s.stopping()) {
      s.record('edge-drift', `${why}; the rollback restores the edge as it was before the rollout`, { data: { edge: name, differences } });
      return 'stopped';
    }
    rt.drift = differences;
    s.record('edge-drift', `${why}; resume accepts the change, abort restores the edge as it was before the rollout`, { data: { edge: name, differences } });
    const pause = s.decide({ kind: 'pause', by: 'meridian', reason: why });
    // A rollback cannot be paused: it puts the baseline back over the change.
    if ('refusal' in pause && !s.paused) return 'stopped';
    if ('effects' in pause) await s.apply(pause.effects);
    await condition(() => !s.paused || s.stopping());
    rt.drift = undefined;
    if (s.stopping()) return 'stopped';
    const snap = await edgeCalls.snapshotEdge({ rolloutId: s.id, edge: rt.spec });
    rt.baseline = rt.last = snap;
    rt.overwrite = undefined;
    s.record('edge-drift-accepted', `edge ${name}: the change was accepted and is what the rollout leaves in place: ${describe(snap.routing)}`, {
      data: { edge: name, version: snap.version, shares: snap.routing.shares, mirrors: snap.routing.mirrors ?? {} },
    });
    return 'accepted';
  }

  /** Looks for drift every `driftCheckMs` until the rollout's end. */
  private watch(): void {
    const scope = new CancellationScope();
    this.watcher = scope;
    const loop = async () => {
      for (;;) {
        await sleep(this.plan.steering.driftCheckMs, { summary: 'look for changes to the edges' });
        await this.serial(() => this.lookForDrift());
      }
    };
    this.background('the edge drift check', () => scope.run(loop));
  }

  private async lookForDrift(): Promise<void> {
    for (const rt of this.edges) {
      if (this.s.stopping() || this.forced) return;
      if (rt.overwrite) continue;
      const drift = await edgeCalls.checkEdgeDrift({ rolloutId: this.s.id, edge: rt.spec, expected: rt.last });
      if (drift.drifted) await this.driftPause(rt, drift.differences);
    }
  }

  /**
   * Moves `region`'s share on every edge that serves it to the healthy regions of the edge's
   * residency. Returns the drains a guardrail held instead, with the numbers.
   */
  drain(region: string, cause: string): Promise<HeldDrain[]> {
    return this.serial(async () => {
      const held: HeldDrain[] = [];
      for (const rt of this.serving(region)) {
        if (rt.drained.includes(region)) continue;
        let plan: SteerPlan = { kind: 'none' };
        const written = await this.write(rt, (current) => {
          plan = steerAway(rt.spec, current, region, this.plan.residency, this.down(rt, region));
          return plan.kind === 'steer' ? plan.after : undefined;
        });
        const hold = this.heldDrain(rt, region, plan, written);
        if (hold) held.push(hold);
        else if (written.kind === 'applied') {
          rt.drained.push(region);
          this.s.record('steer-away', `edge ${rt.spec.name}: ${region}'s share moved away (${cause}): ${describe(written.before)} -> ${describe(written.after)}`, {
            region,
            data: { edge: rt.spec.name, region, cause, before: written.before, after: written.after },
          });
        }
      }
      return held;
    });
  }

  private heldDrain(rt: EdgeRuntime, region: string, plan: SteerPlan, written: Written): HeldDrain | undefined {
    const edge = rt.spec.name;
    if (plan.kind === 'hold') {
      const n = plan.numbers;
      const why = plan.reason === 'no-healthy-region' ? 'no healthy region of its residency is left to take it' : `the healthy regions normally carry ${n.healthyShare}%, below minHealthyShare ${n.minHealthyShare}%`;
      this.s.record('steer-held', `edge ${edge}: ${region} keeps its share: ${why} (healthy: ${n.healthyRegions.join(', ') || 'none'}; excluded: ${n.excludedRegions.map((x) => `${x.region} ${x.why}`).join(', ')})`, {
        region,
        data: { edge, region, reason: plan.reason, numbers: n },
      });
      return { edge, region, reason: plan.reason, numbers: n };
    }
    if (written.kind === 'refused') {
      this.refused(rt, region, 'keeps its share', written);
      return { edge, region, reason: 'policy', failures: written.failures };
    }
    return undefined;
  }

  private refused(rt: EdgeRuntime, region: string | undefined, what: string, written: Extract<Written, { kind: 'refused' }>): void {
    const about = region === undefined ? {} : { region };
    this.s.record('edge-refused', `edge ${rt.spec.name}: ${region ?? 'the rollback'} ${what}: ${written.message}`, { ...about, data: { edge: rt.spec.name, ...about, failures: written.failures } });
  }

  /** Gives `region` its share back on every edge that drained it, in steps, each checked by a short analysis. */
  giveBack(region: string): Promise<void> {
    return this.serial(async () => {
      for (const rt of this.serving(region)) if (rt.drained.includes(region)) await this.returnOn(rt, region);
    });
  }

  private async returnOn(rt: EdgeRuntime, region: string): Promise<void> {
    const edge = rt.spec.name;
    const percents = [...this.plan.steering.returnSteps.filter((p) => p < 100), 100];
    const steps = stepsBack(rt.spec, rt.last.routing, region, percents);
    for (const [i, target] of steps.entries()) {
      const written = await this.write(rt, () => target);
      if (written.kind === 'refused') this.refused(rt, region, `its share back at ${percents[i]}% refused`, written);
      if (written.kind === 'stopped' || written.kind === 'refused') return;
      if (written.kind === 'applied') {
        this.s.record('steer-back', `edge ${edge}: ${region} back to ${percents[i]}% of its share: ${describe(written.after)}`, {
          region,
          data: { edge, region, percent: percents[i]!, before: written.before, after: written.after },
        });
      }
      if (i === steps.length - 1) break;
      const failing = await this.analyse(region);
      if (failing.length > 0) return this.stopReturn(rt, region, percents[i]!, failing);
    }
    rt.drained = rt.drained.filter((r) => r !== region);
  }

  private async stopReturn(rt: EdgeRuntime, region: string, percent: number, failing: Verdict[]): Promise<void> {
    await this.write(rt, (current) => {
      const plan = steerAway(rt.spec, current, region, this.plan.residency, this.down(rt, region));
      return plan.kind === 'steer' ? plan.after : undefined;
    });
    this.s.record('steer-back-stopped', `edge ${rt.spec.name}: ${region} failed its check at ${percent}% and is drained again: ${failing.map((v) => v.reason).join('; ')}`, {
      region,
      data: { edge: rt.spec.name, region, percent, verdicts: failing },
    });
  }

  /** The region's analysis metrics on what it runs now, every interval for `sustainedFor`; the failing verdicts, if any. */
  private async analyse(region: string): Promise<Verdict[]> {
    const { plan } = this.s;
    const { intervalMs, sustainedForMs } = this.plan.steering.stepAnalysis;
    const metrics = regionMetrics(plan, region);
    const r = plan.regions[region]!;
    const deadline = Date.now() + sustainedForMs;
    for (;;) {
      if (metrics.length > 0) {
        const verdicts = await health.checkHealth.executeWithOptions({ ...PRESETS.mutate, summary: `health of ${region} as its edge share returns` }, [
          { rolloutId: this.s.id, service: plan.service, region, target: r.target, key: effectKey(this.s.id, region, 'edge-return'), version: plan.version, metrics, baselines: this.s.baselines[region], namespace: r.labels.namespace },
        ]);
        const failing = verdicts.filter((v) => v.phase === 'Failed');
        if (failing.length > 0) return failing;
      }
      if (Date.now() >= deadline) return [];
      await sleep(Math.min(intervalMs, deadline - Date.now()), { summary: `recheck ${region} before more of its edge share returns` });
    }
  }

  /** A stage's mirror step: `percent` of the region's stable traffic copied to its canary on every edge with one; the error, if any. */
  mirror(region: string, percent: number, key: string): Promise<string | undefined> {
    if (this.replies.has(key)) return Promise.resolve(this.replies.get(key));
    return this.serial(async () => {
      let error: string | undefined;
      for (const rt of this.serving(region)) {
        if (!rt.spec.routes.some((r) => r.region === region && r.canaryAddress)) continue;
        const written = await this.write(rt, (current) => withMirror(current, region, percent));
        if (written.kind === 'refused') {
          this.refused(rt, region, 'mirror refused', written);
          error = written.message;
          break;
        }
        if (written.kind === 'stopped') error = 'the rollout is stopping';
        if (written.kind !== 'applied') continue;
        this.s.record('mirror', `edge ${rt.spec.name}: ${percent}% of ${region}'s traffic mirrored to its canary`, {
          region,
          data: { edge: rt.spec.name, region, percent, before: written.before, after: written.after },
        });
      }
      this.replies.set(key, error);
      return error;
    });
  }

  /**
   * The rollback's first undo, before any in-cluster one: mirrors of the regions rolling back stop,
   * and an edge someone else changed gets the rollout's baseline back. Drains stay until their
   * regions are back on their known-good versions.
   */
  exposureFirst(scope: ReadonlySet<string>): Promise<void> {
    return this.forcing(async () => {
      for (const rt of this.edges) {
        const written = await this.write(
          rt,
          (current) => {
            const from = rt.overwrite ? { shares: rt.baseline.routing.shares, mirrors: rt.baseline.routing.mirrors } : current;
            const mirrors = Object.fromEntries(Object.entries(from.mirrors ?? {}).filter(([r]) => !scope.has(r)));
            return { shares: { ...from.shares }, ...(Object.keys(mirrors).length || from.mirrors ? { mirrors } : {}) };
          },
        );
        if (written.kind === 'refused') this.refused(rt, undefined, 'could not stop mirrors', written);
        if (written.kind === 'applied') this.restored(rt, written, 'before the in-cluster rollback');
      }
    });
  }

  /** Edge work of the rollback, which goes over anyone else's change. */
  private forcing(fn: () => Promise<void>): Promise<void> {
    return this.serial(async () => {
      this.forced = true;
      try {
        await fn();
      } finally {
        this.forced = false;
      }
    });
  }

  private restored(rt: EdgeRuntime, written: Extract<Written, { kind: 'applied' }>, when: string): void {
    const exact = rt.last.version === rt.baseline.version;
    this.s.record('edge-restore', `edge ${rt.spec.name} ${exact ? 'restored exactly' : 'mirrors stopped'} ${when}: ${describe(written.after)}`, {
      data: { edge: rt.spec.name, exact, version: rt.last.version, before: written.before, after: written.after },
    });
  }

  /** The rollback's last undo: the regions it put back on their known-good versions get their shares back, in checked steps. */
  returnAfterRollback(scope: ReadonlySet<string>): Promise<void> {
    return this.forcing(async () => {
      for (const rt of this.edges) {
        for (const region of [...rt.drained]) if (scope.has(region) && !DOWN.has(this.s.region(region).phase)) await this.returnOn(rt, region);
      }
    });
  }

  /**
   * The end: regions back on their known-good versions get their shares back, and every edge with
   * nothing left drained is restored exactly. A region that still needs attention stays drained.
   * After a rollback (`force`) this goes over anyone else's change; otherwise drift pauses it.
   */
  settle(force: boolean): Promise<void> {
    this.watcher?.cancel();
    const settle = async () => {
      for (const rt of this.edges) {
        for (const region of [...rt.drained]) if (!DOWN.has(this.s.region(region).phase)) await this.returnOn(rt, region);
        if (rt.drained.length > 0) continue;
        const written = await this.write(rt, () => rt.baseline.routing);
        if (written.kind === 'applied') this.restored(rt, written, 'at the end of the rollout');
      }
    };
    return force ? this.forcing(settle) : this.serial(settle);
  }
}

function withMirror(current: EdgeShares, region: string, percent: number): EdgeShares {
  const { [region]: _dropped, ...others } = current.mirrors ?? {};
  return { shares: current.shares, mirrors: percent > 0 ? { ...others, [region]: percent } : others };
}

function refusalOf(err: unknown): EdgeRefusal | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (!(cause instanceof ApplicationFailure)) return undefined;
  const details = cause.details?.[0] as EdgeRefusal | undefined;
  return details && (details.kind === 'drift' || details.kind === 'policy') ? details : undefined;
}
