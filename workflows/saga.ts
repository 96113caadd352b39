import { CancellationScope, condition, isCancellation, proxyActivities } from '@temporalio/workflow';
import type { RolloutActivities } from '../activities/types';
import { compensationPlan, describeUndo, TRAFFIC_CUT_KEY_SUFFIX } from '../domain/compensation';
import { rootMessage } from '../domain/errors';
import type { Undo, UndoRecord } from '../domain/status';
import { assertNever } from '../domain/status';
import { PRESETS, undoOptions } from './presets';
import { releaseRollbackOrder, unitPlan, unitRolloutId } from '../domain/release';
import type { RolloutState } from './rollout-state';
import { countsOf, reconcileData, revertMigrations } from './stateful-undo';

const undoActivities = proxyActivities<RolloutActivities>(PRESETS.undo);

const serviceOf = (u: Undo) => (u.service === undefined ? {} : { service: u.service });

/**
 * The rollout's compensation: undo every touched region newest wave first, each region's stack
 * newest first, record every outcome, and wait for an operator's retry when an undo keeps failing.
 */
export class Saga {
  private trafficCut?: Promise<unknown>;

  private readonly s: RolloutState;

  constructor(s: RolloutState) {
    this.s = s;
  }

  run(u: Undo): Promise<unknown> {
    const { s } = this;
    const plan = unitPlan(s.plan, u.service);
    const rolloutId = u.service === undefined ? s.id : unitRolloutId(s.id, s.plan, u.service);
    const target = plan.regions[u.region]!.target;
    const ref = { rolloutId, service: plan.service, region: u.region, target, key: u.key };
    const options = undoOptions(target);
    switch (u.kind) {
      case 'restoreTraffic':
        return undoActivities.restoreTraffic.executeWithOptions({ ...options, summary: `rollback traffic ${u.region} to ${u.weight}%` }, [
          { ...ref, weight: u.weight },
        ]);
      case 'restoreWorkload':
        return undoActivities.restoreWorkload.executeWithOptions({ ...options, summary: `restore ${u.region} to ${u.snapshot.image}` }, [
          { ...ref, snapshot: u.snapshot },
        ]);
      case 'revertMigrations':
        return revertMigrations(plan, rolloutId, u);
      case 'reconcileData':
        return reconcileData(plan, rolloutId, u);
      case 'killSwitch':
        return undoActivities.killSwitch.executeWithOptions({ ...PRESETS.undo, summary: `kill switch of ${u.flag.key} in ${u.region}` }, [
          { rolloutId, region: u.region, provider: u.provider, flag: u.flag, key: u.key },
        ]);
      case 'restoreFlag':
        return undoActivities.restoreFlag.executeWithOptions({ ...PRESETS.undo, summary: `restore flag ${u.snapshot.flagKey} in ${u.region}` }, [
          { rolloutId, region: u.region, provider: u.provider, snapshot: u.snapshot, key: u.key },
        ]);
      default:
        return assertNever(u);
    }
  }

  /**
   * The first reaction to an abort or a rollback-all: every touched region's flags go to their kill
   * switches, then every region with a live canary sends its traffic back to stable at once, in
   * parallel, before the ordered pass repeats both under their own keys once the stages have
   * stopped. Restoring traffic is each region's newest in-cluster undo, so this keeps the newest-first order.
   */
  cutTraffic(): Promise<unknown> {
    const { s } = this;
    const kills = s.order.flatMap((n) => (s.undo.get(n) ?? []).filter((u) => u.kind === 'killSwitch'));
    // onFailure: killSwitchOnly keeps the new version where it is, traffic included.
    const then = () => (this.killOnly() ? undefined : this.cutNow());
    // Without flags the cut is scheduled in the same activation as ever, so saved histories replay.
    return (this.trafficCut ??= CancellationScope.nonCancellable(() => (kills.length > 0 ? this.killSwitches(kills).then(then) : this.cutNow())));
  }

  /** A failure under onFailure: killSwitchOnly: the rollback only turns flags off. An operator's abort rolls back everything. */
  private killOnly(): boolean {
    return this.s.plan.flags?.onFailure === 'killSwitchOnly' && this.s.abort === undefined;
  }

  private cutNow(): Promise<unknown> {
    const { s } = this;
    return Promise.all(
      s.order
        .filter((n) => !['Pending', 'Promoted', 'RolledBack'].includes(s.region(n).phase))
        .flatMap((n) => (s.undo.get(n) ?? []).filter((u) => u.kind === 'restoreTraffic'))
        .map(async (u) => {
          try {
            await this.run({ ...u, key: `${u.key}${TRAFFIC_CUT_KEY_SUFFIX}` });
            s.record('traffic-cut', `traffic in ${u.region} moved back to stable at once`, { region: u.region });
          } catch (err) {
            if (isCancellation(err)) throw err;
            s.record('traffic-cut-failed', `${rootMessage(err)}; the rollback retries it in order`, { region: u.region });
          }
        }),
      );
  }

  /** The region's flags in its status after a flag undo: on the kill switch, or as before the rollout (no longer shown). */
  private flagsUndone(u: Undo): void {
    if (u.kind !== 'killSwitch' && u.kind !== 'restoreFlag') return;
    const { [u.kind === 'killSwitch' ? u.flag.key : u.snapshot.flagKey]: _undone, ...rest } = this.s.region(u.region).flags ?? {};
    const flags = u.kind === 'killSwitch' ? { ...rest, [u.flag.key]: { variant: u.flag.killSwitch, fraction: 100 } } : rest;
    this.s.setRegion(u.region, { flags });
  }

  /** Every touched region's flags on their kill switches at once, before the traffic cut: nothing is faster to undo. */
  private async killSwitches(kills: Undo[]): Promise<void> {
    const { s } = this;
    await Promise.all(
      kills.map(async (u) => {
        try {
          const { tookMs } = (await this.run({ ...u, key: `${u.key}${TRAFFIC_CUT_KEY_SUFFIX}` })) as { tookMs: number };
          this.flagsUndone(u);
          s.record('undo', `${describeUndo(u)} at once`, { region: u.region, data: { undo: u.kind, tookMs } });
        } catch (err) {
          if (isCancellation(err)) throw err;
          s.record('undo-failed', `${describeUndo(u)}: ${rootMessage(err)}; the rollback retries it first`, { region: u.region, data: { undo: u.kind, attempts: 1, error: rootMessage(err) } });
        }
      }),
    );
  }

  /** Undo every region in `scope`; returns once all undos are done, after any operator retries. */
  async compensate(scope: Set<string>): Promise<void> {
    const { s } = this;
    s.sagaStarted();
    // Exposure first: the edges stop sending the rolling-back regions' traffic to canaries before anything in the clusters.
    await s.edges?.exposureFirst(scope);
    await this.trafficCut;
    const groups = compensationPlan(
      s.order.map((n) => ({
        region: n,
        wave: s.plan.regions[n]!.wave,
        undo: s.undo.get(n) ?? [],
        ...(s.plan.release ? { serviceOrder: releaseRollbackOrder(s.plan.release, n) } : {}),
      })),
      scope,
    );
    // onFailure: killSwitchOnly: a failure turns the flags off and keeps every region's new version.
    const killOnly = this.killOnly();
    if (killOnly) groups.splice(0, groups.length, ...groups.map((g) => g.filter((r) => r.undo.kind === 'killSwitch')).filter((g) => g.length > 0));
    const records = groups.flat();
    s.sagaPlanned(records);
    for (;;) {
      for (const group of groups) {
        const byRegion = new Map<string, UndoRecord[]>();
        for (const rec of group) byRegion.set(rec.undo.region, [...(byRegion.get(rec.undo.region) ?? []), rec]);
        await Promise.all([...byRegion].map(([name, recs]) => this.undoRegion(name, recs, { planned: records, killOnly })));
      }
      const failed = records.filter((r) => r.outcome === 'failed');
      if (failed.length === 0) break;
      s.sagaNeedsAttention(failed);
      await condition(() => s.retried('undo'));
      s.sagaRetrying();
      for (const r of failed) r.outcome = 'pending';
    }
    await s.edges?.returnAfterRollback(scope);
    s.sagaFinished(records);
  }

  /** One region newest first; it stops at its first failure, since later undos assume earlier ones held. */
  private async undoRegion(name: string, records: UndoRecord[], saga: { planned: UndoRecord[]; killOnly: boolean }): Promise<void> {
    const { s } = this;
    s.showRegion(name, { phase: 'RollingBack', step: undefined });
    for (const rec of records) {
      if (rec.outcome === 'done') continue;
      rec.attempts += 1;
      try {
        const result = await this.run(rec.undo);
        rec.outcome = 'done';
        rec.error = undefined;
        this.flagsUndone(rec.undo);
        rec.counts = countsOf(rec.undo, result);
        const counts = rec.counts ? `: found ${rec.counts.found}, fixed ${rec.counts.fixed}, ${rec.counts.remaining} remaining` : '';
        s.record('undo', `${describeUndo(rec.undo)}${counts}`, { region: name, ...serviceOf(rec.undo), data: { undo: rec.undo.kind, ...(rec.counts ? { counts: { ...rec.counts } } : {}) } });
      } catch (err) {
        if (isCancellation(err)) throw err;
        rec.outcome = 'failed';
        rec.error = rootMessage(err);
        const why = `could not ${describeUndo(rec.undo)} (${rec.attempts} run${rec.attempts > 1 ? 's' : ''} of ${PRESETS.undo.retry.maximumAttempts} attempts): ${rec.error}`;
        s.record('undo-failed', why, { region: name, ...serviceOf(rec.undo), data: { undo: rec.undo.kind, attempts: rec.attempts, error: rec.error } });
        s.showRegion(name, { phase: 'NeedsAttention', reason: why });
        return;
      }
    }
    // A region's kill switches run in a group of their own, before the rest of its undo steps.
    if (saga.planned.some((r) => r.undo.region === name && r.outcome !== 'done')) return;
    if (saga.killOnly) {
      s.showRegion(name, { phase: 'Degraded', reason: `flags on their kill switches; ${s.plan.image} stays deployed (onFailure: killSwitchOnly)` });
      return;
    }
    const snapshot = s.region(name).snapshot;
    s.showRegion(name, { phase: 'RolledBack', weight: snapshot?.weight ?? 0, reason: snapshot ? `back on ${snapshot.image}` : undefined });
  }
}
