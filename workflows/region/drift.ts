import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import type { DriftReport } from '../../domain/status';
import { FAILURE } from '../../domain/vocabulary';
import { toCompletion } from './proxies';
import type { RegionStage } from './stage';

/** The drift a driver found, when `err` is its refusal to overwrite an object someone else changed. */
export function driftOf(err: unknown): { message: string; report: DriftReport } | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure && cause.type === FAILURE.drift && cause.details?.length) {
    return { message: cause.message, report: cause.details[0] as DriftReport };
  }
  return undefined;
}

/**
 * Runs a change to the region. When the driver finds that someone else changed an object Meridian
 * manages, the region pauses with the drift in its status until an operator accepts the change
 * (then the change runs again over it) or aborts.
 */
export async function changeOverDrift(stage: RegionStage, run: (acceptDrift: boolean) => Promise<unknown>): Promise<void> {
  try {
    await toCompletion(() => run(false));
  } catch (err) {
    const drift = driftOf(err);
    if (!drift) throw err;
    await pauseOnDrift(stage, drift);
    await toCompletion(() => run(true));
  }
}

async function pauseOnDrift(stage: RegionStage, drift: { message: string; report: DriftReport }): Promise<void> {
  const before = stage.status.phase;
  stage.update({ drift: drift.report });
  stage.setPhase('Paused', drift.message);
  stage.record('drift', drift.message, { ...drift.report });
  const { by } = await stage.awaitGoAhead();
  const { object } = drift.report;
  stage.record('drift-accepted', `${object}: the change was accepted; the rollout goes on from it`, { object }, by);
  stage.update({ drift: undefined });
  stage.setPhase(before);
  await stage.report();
}
