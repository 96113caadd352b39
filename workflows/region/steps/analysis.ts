import type { AnalysisStep } from '../../../domain/spec';
import type { AnalysisProgress, Verdict } from '../../../domain/status';
import { FAILURE } from '../../../domain/vocabulary';
import { analysisOptions } from '../../presets';
import { reads } from '../proxies';
import type { DataOf, RegionStage } from '../stage';
import type { Run } from './run';

/**
 * Sustained-health analysis at the canary's weight. A failure ends the stage; an inconclusive
 * result waits for an operator and then analyses again from a fresh window, so a region is never
 * promoted on no evidence.
 */
export const analysis: Run<AnalysisStep> = async (step, { stage, index }) => {
  for (;;) {
    const progress = await analyseToVerdict(stage, step, index);
    if (await judge(stage, progress)) return;
  }
};

type Concluded = AnalysisProgress & { outcome: Exclude<AnalysisProgress['outcome'], 'Running'> };

/** Runs analysis chunks until one ends with a verdict; each chunk's progress goes into the stage's status. */
async function analyseToVerdict(stage: RegionStage, step: AnalysisStep, index: number): Promise<Concluded> {
  const metrics = step.metrics.map((m) => stage.plan.metrics[m]!);
  const { chunkMs } = stage;
  let progress: AnalysisProgress | undefined;
  do {
    progress = await reads.runAnalysis.executeWithOptions(
      { ...analysisOptions(chunkMs, step.interval), summary: `analysis ${stage.name} at ${stage.status.weight}%` },
      [
        {
          ...stage.ref(`analysis-${index}`),
          version: stage.plan.version,
          step,
          metrics,
          simulation: stage.plan.simulation,
          baselines: stage.baselines,
          namespace: stage.region.labels.namespace,
          progress,
          chunkMs,
        },
      ],
    );
    stage.update({ sustained: progress.sustained, verdicts: progress.verdicts });
    await stage.report();
  } while (progress.outcome === 'Running');
  return progress as Concluded;
}

/** Acts on an analysis verdict: true when it passed, false when an operator asked for it to run again. */
async function judge(stage: RegionStage, progress: Concluded): Promise<boolean> {
  const { weight } = stage.status;
  switch (progress.outcome) {
    case 'Successful':
      stage.record('analysis-passed', progress.reason, analysisData(progress, weight));
      return true;
    case 'Failed': {
      const reason = `${stage.name} failed analysis at ${weight}%: ${progress.reason}`;
      // A Failed outcome always rests on a Failed verdict of its latest sample (domain/health.ts, assessSample).
      const data = { ...analysisData(progress, weight), ...decisive(progress.verdicts, 'Failed') } as DataOf<'analysis-failed'>;
      stage.record('analysis-failed', reason, data);
      throw stage.fail(reason, FAILURE.analysisFailed);
    }
    case 'Inconclusive': {
      // An Inconclusive outcome always rests on an Error or Inconclusive verdict of its latest sample.
      const data = { ...analysisData(progress, weight), ...decisive(progress.verdicts) } as DataOf<'analysis-inconclusive'>;
      stage.record('analysis-inconclusive', `${progress.reason}; waiting for an operator to resume (analyse again) or abort`, data);
      stage.setPhase('Inconclusive', `analysis inconclusive at ${weight}%: ${progress.reason}`);
      const { via } = await stage.awaitGoAhead();
      stage.setPhase('Progressing');
      stage.record(via === 'resume' ? 'analysis-resumed' : 'analysis-retried', `an operator asked for the analysis to ${via === 'resume' ? 'resume' : 'run again'}`, { via });
      return false;
    }
  }
}

/** What every analysis verdict records: the weight it was judged at and the latest sample. */
export function analysisData(progress: AnalysisProgress, weight: number) {
  const values = Object.fromEntries(progress.verdicts.map((v) => [v.metric, v.value]));
  return { weight, values, verdicts: progress.verdicts };
}

/**
 * The verdict a failed or inconclusive analysis rests on: the first of the latest sample's
 * verdicts in `phase` (any phase but Successful when absent), with its metric, value and threshold.
 */
export function decisive(verdicts: Verdict[], phase?: Verdict['phase']): { metric: string; value?: number; threshold: Verdict['threshold'] } | undefined {
  const v = (phase && verdicts.find((x) => x.phase === phase)) || verdicts.find((x) => x.phase !== 'Successful');
  if (!v) return undefined;
  return { metric: v.metric, ...(v.value !== undefined ? { value: v.value } : {}), threshold: v.threshold };
}
