import { Context } from '@temporalio/activity';
import { errorVerdict, judgeMetric, assessSample } from '../domain/health';
import { judgeCompare } from '../domain/judge/compare';
import type { MetricSpec } from '../domain/spec';
import type { Verdict } from '../domain/status';
import type { ProviderRegistry } from './metrics/registry';
import type { AnalysisInput, AnalysisProgress } from './types';

/**
 * The analysis activity: samples the canary's metrics every `step.interval`, folds each sample into
 * the sustained-health progress and heartbeats it, so history holds one event per chunk, not per
 * sample. Returns on a verdict, or `Running` after `chunkMs` so the workflow calls again.
 */
export function createRunAnalysis(providers: ProviderRegistry) {
  return async function runAnalysis(input: AnalysisInput): Promise<AnalysisProgress> {
    const ctx = Context.current();
    const started = Date.now();
    let progress = (ctx.info.heartbeatDetails as AnalysisProgress | undefined) ?? input.progress;
    for (;;) {
      const now = Date.now();
      const at = new Date(now).toISOString();
      const verdicts = await Promise.all(input.metrics.map((metric) => sample(providers, input, metric, at)));
      progress = assessSample(progress, verdicts, now, input.step);
      ctx.heartbeat(progress);
      if (progress.outcome !== 'Running') return progress;
      await ctx.sleep(input.step.interval);
      if (Date.now() - started >= input.chunkMs) return progress;
    }
  };
}

async function sample(providers: ProviderRegistry, input: AnalysisInput, metric: MetricSpec, at: string): Promise<Verdict> {
  const provider = providers.get(metric.provider.type);
  const ctx = { rolloutId: input.rolloutId, service: input.service, version: input.version, region: input.region, namespace: input.namespace, ...(metric.service ? { owner: metric.service, ownerVersion: metric.serviceVersion } : {}) };
  try {
    if (metric.kind === 'compare') {
      if (!provider.samples) return errorVerdict(metric, `provider "${provider.type}" cannot give sample sets for a compare metric`, at);
      const [canary, stable] = await Promise.all([
        provider.samples(metric, { ...ctx, role: 'canary' }),
        provider.samples(metric, { ...ctx, role: 'stable' }),
      ]);
      return judgeCompare(metric, canary, stable, at);
    }
    const value = await provider.query(metric, { ...ctx, role: 'canary' });
    return judgeMetric(metric, value, at, input.baselines?.[metric.name]);
  } catch (err) {
    return errorVerdict(metric, err instanceof Error ? err.message : String(err), at);
  }
}
