import { sleep } from '@temporalio/workflow';
import { formatDuration } from '../../domain/duration';
import { DEFAULT_ALARM_BLOCKER, regionMetrics } from '../../domain/plan';
import type { Verdict } from '../../domain/status';
import { FAILURE } from '../../domain/vocabulary';
import { PRESETS } from '../presets';
import { reads } from './proxies';
import type { RegionStage } from './stage';

/**
 * The alarm blocker: a region already failing its health checks before any change holds its
 * stage until it is healthy again, or fails it once the blocker's timeout has passed.
 */
export async function waitForHealth(stage: RegionStage): Promise<void> {
  const metrics = regionMetrics(stage.plan, stage.name);
  if (metrics.length === 0) return;
  const blocker = stage.plan.alarmBlocker ?? DEFAULT_ALARM_BLOCKER;
  const deadline = Date.now() + blocker.timeoutMs;
  for (;;) {
    const verdicts = await reads.checkHealth.executeWithOptions({ ...PRESETS.mutate, summary: `health of ${stage.name} before any change` }, [
      { ...stage.ref('health'), version: stage.plan.version, metrics, baselines: stage.baselines, namespace: stage.region.labels.namespace },
    ]);
    const failing = verdicts.filter((v) => v.phase === 'Failed');
    if (failing.length === 0) {
      if (stage.status.phase === 'WaitingForHealth') stage.record('health-clear', 'healthy again before any change', { verdicts });
      return;
    }
    await hold(stage, verdicts, failing, { timeoutMs: blocker.timeoutMs, overdue: Date.now() >= deadline });
    await sleep(Math.min(blocker.intervalMs, deadline - Date.now()), { summary: `recheck health of ${stage.name}` });
  }
}

/** One failing check: the region waits (reported once, when the wait starts), or fails once overdue. */
async function hold(stage: RegionStage, verdicts: Verdict[], failing: Verdict[], blocker: { timeoutMs: number; overdue: boolean }): Promise<void> {
  const { timeoutMs } = blocker;
  stage.update({ verdicts });
  const why = `unhealthy before any change: ${failing.map((v) => v.reason).join('; ')}`;
  if (blocker.overdue) {
    const reason = `${stage.name} ${why}; still failing after ${formatDuration(timeoutMs)}, so its wave does not touch it`;
    stage.record('blocked', reason, { verdicts, timeoutMs });
    throw stage.fail(reason, FAILURE.unhealthyBeforeChange);
  }
  if (stage.status.phase === 'WaitingForHealth') return;
  const reason = `${why}; waiting up to ${formatDuration(timeoutMs)} before touching it`;
  stage.setPhase('WaitingForHealth', reason);
  stage.record('blocked', reason, { verdicts, timeoutMs });
  await stage.report();
}
