import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseSpecText } from '../../domain/parse';
import { formatProblem, validateSpec } from '../../domain/validate';
import { formatProblems, loadSpec } from '../../client/spec-file';
import { specInput } from '../support/spec';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/specs/${name}`, import.meta.url));
const demoPath = fileURLToPath(new URL('../../examples/demo.yaml', import.meta.url));

type Raw = any;

/** Two simulated regions in two waves, written as a user would: no simulation, no bake, a tag. */
function base(): Raw {
  return specInput(
    {
      version: '1.0.0',
      image: 'shop/checkout:1.0.0',
      steps: [
        { kind: 'setWeight', weight: 10 },
        { kind: 'analysis', metrics: ['error_rate'], sustainedFor: '1m' },
        { kind: 'setWeight', weight: 50 },
      ],
      bake: undefined,
      simulation: undefined,
    },
    { waves: { canary: ['eu-west-1'], rest: ['us-east-1'] }, region: () => ({ target: { kind: 'simulated' } }) },
  );
}

function problemsOf(input: unknown): string[] {
  const result = validateSpec(input);
  return result.ok ? [] : result.problems.map(formatProblem);
}

const NEVER_ENDS =
  'nobody can approve (the list is empty) and there is no timeout, so this gate never ends; name approvers, or drop the list to let anyone approve';

const cases: [string, (s: Raw) => void, string[]][] = [
  [
    'weights that stay equal or fall',
    (s) => (s.steps = [{ kind: 'setWeight', weight: 25 }, { kind: 'setWeight', weight: 25 }, { kind: 'pause', duration: '1m' }, { kind: 'setWeight', weight: 10 }]),
    [
      'steps[1].weight: weight 25 does not rise above 25 set at steps[0]; each setWeight must raise the weight',
      'steps[3].weight: weight 10 does not rise above 25 set at steps[1]; each setWeight must raise the weight',
    ],
  ],
  [
    "weights that fall in a wave's and a region's own steps",
    (s) => {
      s.waves[1].steps = [{ kind: 'setWeight', weight: 50 }, { kind: 'setWeight', weight: 20 }];
      s.regions[0].steps = [{ kind: 'setWeight', weight: 5 }, { kind: 'setWeight', weight: 1 }];
    },
    [
      'regions[0].steps[1].weight: weight 1 does not rise above 5 set at regions[0].steps[0]; each setWeight must raise the weight',
      'waves[1].steps[1].weight: weight 20 does not rise above 50 set at waves[1].steps[0]; each setWeight must raise the weight',
    ],
  ],
  [
    'setWeight 100 before the last step',
    (s) => s.steps.splice(2, 0, { kind: 'setWeight', weight: 100 }),
    [
      'steps[2].weight: setWeight 100 may only be the last step (the rollout promotes to 100% after its steps on its own)',
      'steps[3].weight: weight 50 does not rise above 100 set at steps[2]; each setWeight must raise the weight',
    ],
  ],
  [
    'a region in two waves',
    (s) => s.waves[1].regions.push('eu-west-1'),
    ['waves[1].regions[1]: region "eu-west-1" is in two waves: "canary" (waves[0]) and "rest" (waves[1]); a region belongs to one wave'],
  ],
  [
    'a region in two unnamed waves, and twice in one wave',
    (s) => (s.waves = [{ regions: ['eu-west-1', 'eu-west-1'] }, { regions: ['us-east-1', 'eu-west-1'] }]),
    [
      'waves[0].regions[1]: region "eu-west-1" is listed twice in this wave',
      'waves[1].regions[1]: region "eu-west-1" is in two waves: "wave-1" (waves[0]) and "wave-2" (waves[1]); a region belongs to one wave',
    ],
  ],
  [
    'a region in no wave',
    (s) => s.waves.pop(),
    ['regions[1]: region "us-east-1" is in no wave; add it to one of the waves'],
  ],
  [
    'an unknown region in a wave, with did-you-mean',
    (s) => (s.waves[1].regions = ['us-eats-1']),
    [
      'regions[1]: region "us-east-1" is in no wave; add it to one of the waves',
      'waves[1].regions[0]: unknown region "us-eats-1" (did you mean us-east-1?)',
    ],
  ],
  [
    'an unknown region nothing is close to',
    (s) => s.waves[1].regions.push('mars-1'),
    ['waves[1].regions[1]: unknown region "mars-1" (known: eu-west-1, us-east-1)'],
  ],
  [
    'duplicate region, wave and metric names',
    (s) => {
      s.regions.push({ name: 'eu-west-1', target: { kind: 'simulated' } });
      s.waves[1].name = 'canary';
      s.metrics.push({ name: 'error_rate', provider: { type: 'simulated' }, min: 0 });
    },
    [
      'regions[2].name: duplicate region name "eu-west-1" (also regions[0])',
      'waves[1].name: duplicate wave name "canary" (also waves[0])',
      'metrics[1].name: duplicate metric name "error_rate" (also metrics[0])',
    ],
  ],
  [
    'bad durations point at their field',
    (s) => {
      s.steps[1].sustainedFor = '1 minute';
      s.steps[1].interval = 30;
      s.bake = 'soon';
      s.waves[0].bake = '2x';
    },
    [
      'waves[0].bake: bad duration "2x" (write it like 30s, 5m, 1h30m, 2d)',
      'steps[1].sustainedFor: bad duration "1 minute" (write it like 30s, 5m, 1h30m, 2d)',
      'steps[1].interval: expected a duration such as 30s, 5m or 1h30m, got the number 30',
      'bake: bad duration "soon" (write it like 30s, 5m, 1h30m, 2d)',
    ],
  ],
  [
    'scripted faults that do not parse or name no region of the spec',
    (s) => {
      s.simulation = { faults: ['eu-wset-1: error_rate 0.08 when weight >= 25', 'us-east-1: fail reboot 2 times'] };
    },
    [
      'simulation.faults[0]: unknown region "eu-wset-1" (did you mean eu-west-1?)',
      'simulation.faults[1]: unknown operation "reboot" (known: snapshot, deploy, setWeight, promote, cutTraffic, restoreTraffic, restoreWorkload, restore)',
    ],
  ],
  [
    'an approval step with no way to end',
    (s) => s.steps.push({ kind: 'approval', name: 'go', approvers: [] }),
    [`steps[3].approvers: ${NEVER_ENDS}`],
  ],
  [
    'an approval nobody may give that aborts at its timeout, and onTimeout without a timeout',
    (s) => {
      s.steps.push({ kind: 'approval', approvers: [], timeout: '1h' });
      s.steps.push({ kind: 'approval', onTimeout: 'proceed' });
    },
    [
      'steps[3].approvers: nobody can approve (the list is empty), so this gate always aborts at its timeout; name approvers, or set onTimeout: proceed',
      'steps[4].onTimeout: onTimeout has no effect without a timeout; add a timeout or remove onTimeout',
    ],
  ],
  [
    'an unknown provider type',
    (s) => (s.metrics[0].provider = { type: 'datadog' }),
    ['metrics[0].provider.type: unknown provider type "datadog" (known: simulated, prometheus, web, sql)'],
  ],
  [
    'an unknown or missing target kind',
    (s) => {
      s.regions[0].target = { kind: 'k8s' };
      s.regions[1].target = {};
    },
    ['regions[0].target.kind: unknown target kind "k8s" (known: simulated, kubernetes)', 'regions[1].target.kind: missing target kind (known: simulated, kubernetes)'],
  ],
  [
    'an unknown step kind',
    (s) => s.steps.push({ kind: 'wait', duration: '1m' }),
    ['steps[3].kind: unknown step kind "wait" (known: setWeight, pause, approval, analysis, mirror, flag)'],
  ],
  [
    'unknown fields, with and without a close match',
    (s) => {
      s.regions[0].taget = s.regions[0].target;
      delete s.regions[0].target;
      s.owner = 'team-a';
    },
    [
      'regions[0]: unknown field "taget" (did you mean target?)',
      'regions[0].target: required field is missing',
      'unknown field "owner" (known: service, version, image, config, regions, waves, steps, approvers, keyring, bake, metrics, failurePolicy, migrations, database, reconciliations, alarmBlocker, services, externalContracts, flags, flagProvider, onFailure, edges, steering, notifications, simulation)',
    ],
  ],
  [
    'an analysis naming unknown metrics',
    (s) => (s.steps[1].metrics = ['eror_rate', 'cpu']),
    ['steps[1].metrics[0]: unknown metric "eror_rate" (did you mean error_rate?)', 'steps[1].metrics[1]: unknown metric "cpu" (known: error_rate)'],
  ],
  [
    'an analysis when no metrics are defined',
    (s) => delete s.metrics,
    ['steps[1].metrics[0]: unknown metric "error_rate" (no metrics are defined; add it under metrics)'],
  ],
  [
    'sustainedFor shorter than minSamples needs, and a zero interval',
    (s) => {
      s.steps[1] = { kind: 'analysis', metrics: ['error_rate'], interval: '30s', sustainedFor: '1m', minSamples: 4 };
      s.waves[0].steps = [{ kind: 'analysis', metrics: ['error_rate'], interval: '0s', sustainedFor: '1m' }];
    },
    [
      'waves[0].steps[0].interval: must be longer than 0',
      'steps[1].sustainedFor: 1m is shorter than the 1m30s that minSamples 4 takes at one sample every 30s; raise sustainedFor to at least 1m30s or lower minSamples',
    ],
  ],
  [
    'deployment windows with a bad time zone, an empty span and a bad clock',
    (s) =>
      (s.regions[0].windows = [
        { timezone: 'Europe/Berln', start: '09:00', end: '17:00' },
        { timezone: 'Mars/Olympus', start: '10:00', end: '10:00' },
        { timezone: 'UTC', days: ['Monday'], start: '9:00', end: '17:00' },
      ]),
    [
      'regions[0].windows[0].timezone: unknown time zone "Europe/Berln" (did you mean Europe/Berlin?)',
      'regions[0].windows[1].timezone: unknown time zone "Mars/Olympus" (use an IANA name such as Europe/Berlin or UTC)',
      'regions[0].windows[1].end: the window is empty: it starts and ends at 10:00',
      'regions[0].windows[2].days[0]: unknown value "Monday" (known: Sun, Mon, Tue, Wed, Thu, Fri, Sat)',
      'regions[0].windows[2].start: must be HH:MM, 24-hour, got the text "9:00"',
    ],
  ],
  [
    'maxParallel 0 and a misspelt failure policy',
    (s) => {
      s.waves[1].maxParallel = 0;
      s.failurePolicy = 'rollback-al';
    },
    ['waves[1].maxParallel: must be at least 1, got the number 0', 'failurePolicy: unknown value "rollback-al" (did you mean rollback-all?)'],
  ],
  [
    'several problems at once, in document order and without repeats',
    (s) => {
      s.service = 'Checkout';
      s.regions[1].name = 'us_east_1';
      s.waves[1].regions = ['us-east-1', 'us-east-1'];
      s.steps[0].weight = 150;
      s.steps.push({ kind: 'setWeight', weight: 40 });
    },
    [
      'service: must be lower-case letters, digits, "-" or ".", starting and ending with a letter or digit, at most 63 characters, got the text "Checkout"',
      'regions[1]: region "us_east_1" is in no wave; add it to one of the waves',
      'regions[1].name: must be lower-case letters, digits, "-" or ".", got the text "us_east_1"',
      'waves[1].regions[0]: unknown region "us-east-1" (did you mean us_east_1?)',
      'waves[1].regions[1]: unknown region "us-east-1" (did you mean us_east_1?)',
      'steps[0].weight: must be at most 100, got the number 150',
      'steps[3].weight: weight 40 does not rise above 50 set at steps[2]; each setWeight must raise the weight',
    ],
  ],
];

describe('validateSpec', () => {
  it('accepts the base spec of the table', () => {
    expect(problemsOf(base())).toEqual([]);
  });

  it.each(cases)('%s', (_name, mutate, expected) => {
    const spec = base();
    mutate(spec);
    expect(problemsOf(spec)).toEqual(expected);
  });

  it('accepts an approval nobody may give when its timeout proceeds', () => {
    const spec = base();
    spec.steps.push({ kind: 'approval', approvers: [], timeout: '10m', onTimeout: 'proceed' });
    expect(problemsOf(spec)).toEqual([]);
  });

  it('rejects input that is not a mapping', () => {
    expect(problemsOf(null)).toEqual(['expected a mapping, got null']);
    expect(problemsOf(['a'])).toEqual(['expected a mapping, got a list']);
  });

  it('resolves region over wave over rollout steps and bake', () => {
    const spec = base();
    spec.bake = '1m';
    spec.waves[1].steps = [{ kind: 'pause', duration: '5m' }];
    spec.waves[1].bake = '2m';
    spec.regions[0].steps = [{ kind: 'setWeight', weight: 100 }];
    const result = validateSpec(spec);
    if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
    expect(result.plan.regions['eu-west-1']).toMatchObject({ wave: 0, steps: [{ kind: 'setWeight', weight: 100 }], bakeMs: 60_000 });
    expect(result.plan.regions['us-east-1']).toMatchObject({ wave: 1, steps: [{ kind: 'pause', duration: 300_000 }], bakeMs: 120_000 });
  });
});

describe('parseSpecText', () => {
  it('reports YAML syntax errors with line and column', async () => {
    const parsed = parseSpecText(await readFile(fixture('bad/syntax.yaml'), 'utf8'), 'spec.yaml');
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(formatProblems(parsed.problems, 'spec.yaml')).toBe(
      'spec.yaml:4:1: Flow sequence in block collection must be sufficiently indented and end with a ]',
    );
  });

  it.each([
    ['a: 1\na: 2\n', 'spec.yaml:2:1: Map keys must be unique'],
    ['service: "checkout\n', 'spec.yaml:2:1: Missing closing "quote'],
    ['{"service": "checkout",, }', 'spec.yaml:1:24: Unexpected , in flow map'],
  ])('reports %j as %s', (text, expected) => {
    const parsed = parseSpecText(text, 'spec.yaml');
    expect(parsed.ok ? [] : formatProblems(parsed.problems, 'spec.yaml')).toEqual(expected);
  });

  it('reports an empty or comment-only file', async () => {
    const expected =
      'spec.yaml: the file is empty; a rollout spec needs service, version, image, regions, waves and steps (see examples/demo.yaml)';
    for (const text of ['', '   \n', await readFile(fixture('bad/empty.yaml'), 'utf8')]) {
      const parsed = parseSpecText(text, 'spec.yaml');
      expect(parsed.ok ? '' : formatProblems(parsed.problems, 'spec.yaml')).toBe(expected);
    }
  });

  it('reports a top level that is not a mapping', () => {
    const parsed = parseSpecText('- service: checkout\n', 'spec.yaml');
    expect(parsed.ok ? '' : formatProblems(parsed.problems, 'spec.yaml')).toBe(
      'spec.yaml:1:1: the top level is a list, but a rollout spec is a mapping with service, version, image, regions, waves and steps',
    );
  });

  it('reads JSON', async () => {
    const parsed = parseSpecText(await readFile(fixture('good/minimal.json'), 'utf8'), 'minimal.json');
    expect(parsed.ok && validateSpec(parsed.value).ok).toBe(true);
  });
});

describe('loadSpec', () => {
  it('reports every problem of a file at once, with positions, in document order', async () => {
    const result = await loadSpec(fixture('bad/many-problems.yaml'));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(formatProblems(result.problems, 'spec.yaml').split('\n')).toEqual([
      'spec.yaml:10:21: regions[0].windows[0].timezone: unknown time zone "Europe/Berln" (did you mean Europe/Berlin?)',
      'spec.yaml:10:74: regions[0].windows[0].end: the window is empty: it starts and ends at 09:00',
      'spec.yaml:12:5: regions[1]: unknown field "taget" (did you mean target?)',
      'spec.yaml:11:5: regions[1].target: required field is missing',
      'spec.yaml:13:5: regions[2]: region "ap-south-1" is in no wave; add it to one of the waves',
      'spec.yaml:14:21: regions[2].target.kind: unknown target kind "k8s" (known: simulated, kubernetes)',
      'spec.yaml:20:15: waves[1].regions[0]: unknown region "eu-wset-1" (did you mean eu-west-1?)',
      'spec.yaml:20:37: waves[1].regions[2]: region "eu-west-1" is in two waves: "canary" (waves[0]) and "rest" (waves[1]); a region belongs to one wave',
      'spec.yaml:21:18: waves[1].maxParallel: must be at least 1, got the number 0',
      'spec.yaml:25:23: metrics[0].provider.type: unknown provider type "datadog" (known: simulated, prometheus, web, sql)',
      'spec.yaml:30:33: steps[1].metrics[0]: unknown metric "eror_rate" (did you mean error_rate?)',
      'spec.yaml:30:73: steps[1].sustainedFor: 2m is shorter than the 4m that minSamples 5 takes at one sample every 1m; raise sustainedFor to at least 4m or lower minSamples',
      'spec.yaml:31:32: steps[2].weight: weight 10 does not rise above 25 set at steps[0]; each setWeight must raise the weight',
      'spec.yaml:32:30: steps[3].duration: bad duration "5 mins" (write it like 30s, 5m, 1h30m, 2d)',
      `spec.yaml:33:34: steps[4].approvers: ${NEVER_ENDS}`,
      'spec.yaml:34:13: steps[5].kind: unknown step kind "wait" (known: setWeight, pause, approval, analysis, mirror, flag)',
    ]);
  });

  it('says when the file does not exist', async () => {
    const result = await loadSpec(fixture('bad/no-such-spec.yaml'));
    expect(result.ok ? '' : formatProblems(result.problems, 'no-such-spec.yaml')).toBe(
      'no-such-spec.yaml: file not found; check the path (examples/demo.yaml shows a complete spec)',
    );
  });

  it('validates examples/demo.yaml into 3 waves over 5 regions with the shared steps resolved', async () => {
    const result = await loadSpec(demoPath);
    if (!result.ok) throw new Error(formatProblems(result.problems, 'demo.yaml'));
    const { plan } = result;
    expect(plan.waves.map((w) => [w.name, w.regions, w.maxParallel])).toEqual([
      ['canary', ['eu-west-1'], 1],
      ['early', ['us-east-1', 'eu-central-1'], 2],
      ['rest', ['ap-south-1', 'ap-northeast-1'], 2],
    ]);
    expect(Object.keys(plan.regions).sort()).toEqual(['ap-northeast-1', 'ap-south-1', 'eu-central-1', 'eu-west-1', 'us-east-1']);
    const analysis = {
      kind: 'analysis',
      metrics: ['error_rate', 'latency_p99_ms'],
      interval: 1_000,
      sustainedFor: 3_000,
      minSamples: 3,
      failureLimit: 0,
      inconclusiveLimit: 0,
      consecutiveErrorLimit: 4,
    };
    const steps = [
      { kind: 'setWeight', weight: 10 },
      analysis,
      { kind: 'setWeight', weight: 25 },
      analysis,
      { kind: 'setWeight', weight: 50 },
      analysis,
    ];
    for (const region of Object.values(plan.regions)) {
      expect(region.steps).toEqual(steps);
      expect(region.bakeMs).toBe(3_000);
      expect(region.windows).toEqual([]);
      expect(plan.waves[region.wave]!.regions).toContain(region.name);
    }
    expect(Object.keys(plan.metrics)).toEqual(['error_rate', 'latency_p99_ms']);
    expect(plan.failurePolicy).toBe('rollback-all');
  });
});

describe('metric judgement fields', () => {
  const THRESHOLD_HELP = 'expected a number or "baseline * <factor>" / "baseline + <delta>"';
  const judged: [string, (s: Raw) => void, string[]][] = [
    [
      'thresholds that are neither numbers nor baseline expressions',
      (s) => {
        s.metrics[0].max = 'baseline x 1.2';
        s.metrics.push({ name: 'latency', provider: { type: 'simulated' }, min: true, max: 'baseline - 5' });
      },
      [`metrics[0].max: ${THRESHOLD_HELP}`, `metrics[1].min: ${THRESHOLD_HELP}`, `metrics[1].max: ${THRESHOLD_HELP}`],
    ],
    [
      'a compare metric without its compare block, and one with max',
      (s) => {
        s.metrics[0] = { name: 'error_rate', kind: 'compare', provider: { type: 'simulated' } };
        s.metrics.push({ name: 'latency', kind: 'compare', provider: { type: 'simulated' }, max: 400, compare: {} });
      },
      [
        'metrics[0]: kind: compare needs a compare block, e.g. compare: { confidence: 0.95, allowedIncrease: 1.1 }',
        'metrics[1].max: max does not apply to kind: compare, which judges canary against stable; put it on a separate threshold metric',
      ],
    ],
    [
      'compare settings out of range, unknown, or without effect',
      (s) => {
        s.metrics[0] = {
          name: 'error_rate',
          kind: 'compare',
          provider: { type: 'simulated' },
          compare: { confidence: 1.5, allowedIncrease: 0.9, allowedDecrease: 0.8, direction: 'up', alpha: 0.05 },
        };
        s.metrics.push({ name: 'latency', kind: 'compare', provider: { type: 'simulated' }, compare: { allowedDecrease: 0.9 } });
      },
      [
        'metrics[0].compare.confidence: must be at most 0.9999, got the number 1.5',
        'metrics[0].compare.allowedIncrease: must be at least 1, got the number 0.9',
        'metrics[0].compare.direction: unknown value "up" (known: increase, decrease, either)',
        'metrics[0].compare: unknown field "alpha" (known: confidence, allowedIncrease, allowedDecrease, direction)',
        'metrics[1].compare.allowedDecrease: has no effect with direction increase (higher is worse); set direction: decrease or either',
      ],
    ],
    [
      'a threshold metric with compare settings, and one with no threshold',
      (s) => {
        s.metrics[0].compare = { confidence: 0.9 };
        s.metrics.push({ name: 'latency', kind: 'threshold', provider: { type: 'simulated' } });
      },
      [
        'metrics[0].compare: compare settings apply only to kind: compare; add kind: compare or remove them',
        'metrics[1]: needs a threshold: max, min or both',
      ],
    ],
  ];

  it.each(judged)('%s', (_name, mutate, expected) => {
    const spec = base();
    mutate(spec);
    expect(problemsOf(spec)).toEqual(expected);
  });

  it('parses relative thresholds and fills compare defaults', () => {
    const spec = base();
    spec.metrics = [
      { name: 'latency', provider: { type: 'simulated' }, max: 'baseline * 1.2', min: 'baseline + 0' },
      { name: 'latency_vs_stable', kind: 'compare', provider: { type: 'simulated' }, compare: { allowedIncrease: 1.1 } },
    ];
    spec.steps[1].metrics = ['latency', 'latency_vs_stable'];
    const result = validateSpec(spec);
    expect(result.ok && result.spec.metrics).toEqual([
      { name: 'latency', provider: { type: 'simulated' }, max: { op: '*', by: 1.2 }, min: { op: '+', by: 0 } },
      {
        name: 'latency_vs_stable',
        kind: 'compare',
        provider: { type: 'simulated' },
        compare: { confidence: 0.95, allowedIncrease: 1.1, direction: 'increase' },
      },
    ]);
  });
});
