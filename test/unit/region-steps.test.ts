import { describe, expect, it } from 'vitest';
import { step } from '../../domain/spec';
import type { Verdict } from '../../domain/status';
import { decisive } from '../../workflows/region/steps/analysis';
import { STEP_RUNS } from '../../workflows/region/steps/index';

const verdict = (metric: string, phase: Verdict['phase'], value?: number): Verdict => ({
  metric,
  phase,
  ...(value !== undefined ? { value } : {}),
  threshold: { max: 1 },
  reason: `${metric} ${phase}`,
});

describe('region stage steps', () => {
  it('every step kind of the spec has a runner, and nothing else does', () => {
    const kinds = step.options.map((o) => o.shape.kind.value);
    expect(Object.keys(STEP_RUNS).sort()).toEqual([...kinds].sort());
  });

  it('a failed analysis rests on its first failed verdict, even after an inconclusive one', () => {
    const verdicts = [verdict('latency', 'Successful', 0.2), verdict('saturation', 'Inconclusive'), verdict('error_rate', 'Failed', 0.08), verdict('cpu', 'Failed', 3)];
    expect(decisive(verdicts, 'Failed')).toEqual({ metric: 'error_rate', value: 0.08, threshold: { max: 1 } });
  });

  it('an inconclusive analysis rests on its first verdict that is not successful; a missing value stays missing', () => {
    const verdicts = [verdict('latency', 'Successful', 0.2), verdict('saturation', 'Inconclusive'), verdict('error_rate', 'Error')];
    expect(decisive(verdicts)).toEqual({ metric: 'saturation', threshold: { max: 1 } });
    expect(decisive([verdict('latency', 'Successful', 0.2)])).toBeUndefined();
  });
});
