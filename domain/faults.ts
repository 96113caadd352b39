import { formatDuration, parseDuration } from './duration';
import { MAX_DURATION_MS } from './spec-defaults';

/** Scripted faults of the simulated fleet, written one per line in `simulation.faults`. */

export type Comparison = '>=' | '>' | '<=' | '<';

/** The new version's metric reads `value` in `region` while the canary weight satisfies `when`. */
export interface MetricFault {
  kind: 'metric';
  region: string;
  /** Whose metric: the new version's (the default) or the running stable version's (`stable error_rate ...`). */
  role?: 'stable';
  metric: string;
  /** `nodata`: the provider answers with no value, which judges Inconclusive. */
  value: number | 'nodata';
  when: { compare: Comparison; weight: number } | 'always';
}

/**
 * The operations a fault names. `cutTraffic` is the saga's instant traffic cut, `restoreTraffic` and
 * `restoreWorkload` the ordered undos after it; `restore`, the older name, hits all three.
 */
export const FAULT_OPS = ['snapshot', 'deploy', 'setWeight', 'promote', 'cutTraffic', 'restoreTraffic', 'restoreWorkload', 'restore'] as const;
export type FaultOp = (typeof FAULT_OPS)[number];

/** One call a fault can hit: every operation but the `restore` umbrella. */
export type FaultCall = Exclude<FaultOp, 'restore'>;

const HITS: Record<FaultOp, readonly FaultCall[]> = {
  snapshot: ['snapshot'],
  deploy: ['deploy'],
  setWeight: ['setWeight'],
  promote: ['promote'],
  cutTraffic: ['cutTraffic'],
  restoreTraffic: ['restoreTraffic'],
  restoreWorkload: ['restoreWorkload'],
  restore: ['cutTraffic', 'restoreTraffic', 'restoreWorkload'],
};

/** Whether a fault on `op` fires on `call`. */
export function faultHits(op: FaultOp, call: FaultCall): boolean {
  return HITS[op].includes(call);
}


/** The operation fails its next `times` calls in `region`; `always` fails it forever. */
export interface OperationFault {
  kind: 'operation';
  region: string;
  op: FaultOp;
  times: number | 'always';
}

/** The operation takes `ms` longer in `region`, for rehearsing slow clusters and slow rollbacks. */
export interface DelayFault {
  kind: 'delay';
  region: string;
  op: FaultOp;
  ms: number;
}

export type Fault = MetricFault | OperationFault | DelayFault;

export const FAULT_USAGE =
  'expected "<region>: <metric> <value|nodata> when weight >= <n>", "<region>: fail <op> <n> times" or "<region>: delay <op> <duration>"';

const REGION = '([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)';
const NUMBER = '(-?\\d+(?:\\.\\d+)?(?:e[+-]?\\d+)?|nodata)';
const DELAY = new RegExp(`^${REGION}\\s*:\\s*delay\\s+(\\S+)\\s+(\\S+)$`, 'i');
const OPERATION = new RegExp(`^${REGION}\\s*:\\s*fail\\s+(\\S+)\\s+(?:(\\d+)\\s+times?|(always))$`, 'i');
const METRIC = new RegExp(
  `^${REGION}\\s*:\\s*(stable\\s+)?([A-Za-z_][\\w.:-]*)\\s+${NUMBER}\\s+(?:when\\s+weight\\s*(>=|>|<=|<)\\s*(\\d+(?:\\.\\d+)?)\\s*%?|(always))$`,
  'i',
);

/** Why a fault line does not parse; `maxMs` when a delay is longer than its bound. */
export interface FaultError {
  error: string;
  maxMs?: number;
}

export function parseFault(line: string): Fault | FaultError {
  const text = line.trim();
  const op = OPERATION.exec(text);
  if (op) {
    const [, region, name, times, always] = op;
    const known = FAULT_OPS.find((o) => o.toLowerCase() === name!.toLowerCase());
    if (!known) return { error: `unknown operation "${name}" (known: ${FAULT_OPS.join(', ')})` };
    return { kind: 'operation', region: region!, op: known, times: always ? 'always' : Number(times) };
  }
  const delay = DELAY.exec(text);
  if (delay) {
    const [, region, name, length] = delay;
    const known = FAULT_OPS.find((o) => o.toLowerCase() === name!.toLowerCase());
    if (!known) return { error: `unknown operation "${name}" (known: ${FAULT_OPS.join(', ')})` };
    const ms = parseDuration(length!);
    if (ms === undefined) return { error: `bad duration "${length}" (write it like 500ms, 3s, 1m)` };
    const maxMs = MAX_DURATION_MS.faultDelay;
    if (ms > maxMs) return { error: `delay fault "${text}": the delay must be at most ${formatDuration(maxMs)}, got ${length}`, maxMs };
    return { kind: 'delay', region: region!, op: known, ms };
  }
  const metric = METRIC.exec(text);
  if (metric) {
    const [, region, stable, name, value, compare, weight, always] = metric;
    return {
      kind: 'metric',
      region: region!,
      ...(stable ? { role: 'stable' as const } : {}),
      metric: name!,
      value: value!.toLowerCase() === 'nodata' ? 'nodata' : Number(value),
      when: always ? 'always' : { compare: compare as Comparison, weight: Number(weight) },
    };
  }
  return { error: `${FAULT_USAGE}, got "${text}"` };
}

export function parseFaults(lines: string[]): { faults: Fault[]; problems: { index: number; message: string }[] } {
  const faults: Fault[] = [];
  const problems: { index: number; message: string }[] = [];
  lines.forEach((line, index) => {
    const parsed = parseFault(line);
    if ('error' in parsed) problems.push({ index, message: `faults[${index}]: ${parsed.error}` });
    else faults.push(parsed);
  });
  return { faults, problems };
}

/** Whether a metric fault holds at the region's current canary weight. */
export function metricFaultApplies(fault: MetricFault, weight: number): boolean {
  if (fault.when === 'always') return true;
  const { compare, weight: limit } = fault.when;
  switch (compare) {
    case '>=':
      return weight >= limit;
    case '>':
      return weight > limit;
    case '<=':
      return weight <= limit;
    case '<':
      return weight < limit;
  }
}

export function describeFault(fault: Fault): string {
  if (fault.kind === 'delay') return `${fault.region}: delay ${fault.op} ${formatDuration(fault.ms)}`;
  if (fault.kind === 'operation') {
    return `${fault.region}: fail ${fault.op} ${fault.times === 'always' ? 'always' : `${fault.times} times`}`;
  }
  const when = fault.when === 'always' ? 'always' : `when weight ${fault.when.compare} ${fault.when.weight}`;
  return `${fault.region}: ${fault.role === 'stable' ? 'stable ' : ''}${fault.metric} ${fault.value} ${when}`;
}
