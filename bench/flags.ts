/**
 * A kill switch at a real service: from the breach verdict to the service's last request on the
 * flag's new path, beside the in-cluster figures of the same breach (canary weight 0, workload
 * restored, both from the simulated fleet's journal).
 *
 *   MERIDIAN_BENCH_ONLY=flagKillSwitch npm run bench
 *
 * The worker (its own process) writes flagd flag files under MERIDIAN_FLAGD_DIR, which bench/run.ts
 * points at a folder of the run. Each trial: a rollout of one region on a simulated target, canary at
 * 10%, the flag on for 50% of users, a pause while the service picks the flag up, canary at 25%,
 * whose analysis breaches (`r1: error_rate 0.08 when weight >= 25`), failure policy rollback-all.
 * A demo-service instance in the bench's process reads the flag file through OpenFeature with
 * flagd's in-process provider, which polls the file every 5 s; a load of named users records which
 * path every answer took.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SimulatedFleet } from '../activities/fleet';
import type { RolloutClient } from '../client/rollout-client';
import { startDemoService } from '../demo-service/server';
import type { RolloutSpecInput } from '../domain/spec';
import type { AuditEntry } from '../domain/status';
import { formatProblem, validateSpec } from '../domain/validate';
import { quantile, round, sleep } from './stats';

const REGION = 'r1';
const KEY = 'checkout-new-path';
const FILE = 'bench-checkout-r1';
const OLD = 'registry.bench/shop/checkout:2.3.1';
const NEW = `registry.bench/shop/checkout@sha256:${'f1'.repeat(32)}`;
const INTERVAL_MS = 500;
const FRACTION = 50;
/** flagd's in-process provider watches its file with fs.watchFile: a poll every 5 s. */
const FLAGD_POLL_MS = 5_000;
/** How long the load runs on after the kill switch's write, so a poll after it is in the counts. */
const HOLD_MS = FLAGD_POLL_MS + 2_000;
const USERS = 1_000;
const CONCURRENCY = 4;
const DEMO_LATENCY_MS = 5;

const figure = (xs: number[]) => ({ medianMs: round(quantile(xs, 0.5)), p95Ms: round(quantile(xs, 0.95)), samplesMs: xs.map((x) => round(x)) });

/** The flag file before every trial: the new path shipped dark, and a flag the rollout never touches. */
const INITIAL = `${JSON.stringify(
  {
    flags: {
      'checkout-theme': { state: 'ENABLED', variants: { light: 'light', dark: 'dark' }, defaultVariant: 'light' },
      [KEY]: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' },
    },
  },
  null,
  2,
)}\n`;

function planFor(service: string) {
  const spec = {
    service,
    version: '2.4.0',
    image: NEW,
    failurePolicy: 'rollback-all',
    regions: [{ name: REGION, target: { kind: 'simulated', initial: { image: OLD } } }],
    waves: [{ name: 'only', regions: [REGION] }],
    metrics: [{ name: 'error_rate', provider: { type: 'simulated' }, max: 0.02 }],
    flags: [{ key: KEY, variants: { on: true, off: false }, killSwitch: 'off' }],
    flagProvider: { type: 'flagd', file: FILE },
    steps: [
      { kind: 'setWeight', weight: 10 },
      { kind: 'flag', flag: KEY, variant: 'on', fraction: FRACTION },
      { kind: 'pause', duration: '6s' },
      { kind: 'setWeight', weight: 25 },
      { kind: 'analysis', metrics: ['error_rate'], interval: `${INTERVAL_MS}ms`, sustainedFor: '10m' },
    ],
    simulation: { baseline: { error_rate: 0.004 }, faults: [`${REGION}: error_rate 0.08 when weight >= 25`] },
  };
  const v = validateSpec(spec as unknown as RolloutSpecInput);
  if (!v.ok) throw new Error(`bench flag spec: ${v.problems.map(formatProblem).join('; ')}`);
  return v.plan;
}

/** Named users against one URL; remembers when each answer came and which path it took. */
function pathLoad(url: string) {
  let running = true;
  let sent = 0;
  const seen = { newPath: 0, current: 0, failed: 0, lastNewAt: 0, answers: [] as { at: number; newPath: boolean }[] };
  const worker = async () => {
    while (running) {
      const user = `user-${sent++ % USERS}`;
      try {
        const res = await fetch(url, { headers: { 'x-user': user }, signal: AbortSignal.timeout(5_000) });
        const body = (await res.json()) as { flag?: { path?: string } };
        const at = Date.now();
        const newPath = body.flag?.path === 'new';
        if (newPath) {
          seen.newPath += 1;
          seen.lastNewAt = at;
        } else seen.current += 1;
        seen.answers.push({ at, newPath });
      } catch {
        seen.failed += 1;
      }
    }
  };
  const done = Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return {
    seen,
    stop: async () => {
      running = false;
      await done;
      return seen;
    },
  };
}

/** Every content the flag file had, with the time a 10 ms poll first saw it. */
function watchFile(file: string) {
  const versions: { at: number; text: string }[] = [];
  const read = () => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  const timer = setInterval(() => {
    const text = read();
    if (text !== versions.at(-1)?.text) versions.push({ at: Date.now(), text });
  }, 10);
  return { versions, stop: () => clearInterval(timer) };
}

/** The first version of the file with the flag on its kill switch for everyone (no targeting, written by Meridian). */
function killSwitchWrite(versions: { at: number; text: string }[]): number | undefined {
  return versions.find((v) => {
    const flag = (JSON.parse(v.text || '{}') as { flags?: Record<string, { defaultVariant?: string; targeting?: unknown; metadata?: Record<string, unknown> }> }).flags?.[KEY];
    return flag?.defaultVariant === 'off' && flag.targeting === undefined && typeof flag.metadata?.meridianKey === 'string';
  })?.at;
}

function entryOf(audit: AuditEntry[], id: string, match: (a: AuditEntry) => boolean, what: string): AuditEntry {
  const entry = audit.find(match);
  if (!entry) throw new Error(`${id}: no ${what} entry`);
  return entry;
}

/**
 * Per trial, from t0, the `at` of the 'analysis-failed' entry (the breach verdict): the kill switch
 * in effect at the service (the last answer the load got on the new path), the in-cluster traffic
 * back on stable (the fleet journal's first call after the 25% step that left the canary at weight
 * 0), and the workload restored (the journal's applied restoreWorkload). Beside them: the kill
 * switch's write to the flag file (seen by a 10 ms poll), its 'undo' entry and `tookMs`, and the
 * service's delay from the write to its last new-path answer, which is flagd's poll.
 */
export async function flagBreachFigures(client: RolloutClient, fleet: SimulatedFleet, trials: number, flagdDir: string) {
  const file = join(flagdDir, `${FILE}.json`);
  writeFileSync(file, INITIAL);
  const demo = await startDemoService({ versions: [{ version: REGION, behaviour: { latencyMs: DEMO_LATENCY_MS }, flag: { file, key: KEY } }] });
  const url = demo.versions[0]!.url;
  const atService: number[] = [];
  const weightZero: number[] = [];
  const restored: number[] = [];
  const toFileWrite: number[] = [];
  const toUndoEntry: number[] = [];
  const tookMs: number[] = [];
  const writeToService: number[] = [];
  const shareBefore: number[] = [];
  let late = 0;
  let answersAfter = 0;
  let failedRequests = 0;
  let exactRestores = 0;
  try {
    for (let t = 0; t < trials; t++) {
      writeFileSync(file, INITIAL);
      const service = `flag-breach-${t}`;
      const load = pathLoad(url);
      const watch = watchFile(file);
      try {
        const id = await client.start(planFor(service), { id: `bench/${service}` });
        const status = await client.result(id);
        if (status.phase !== 'RolledBack') throw new Error(`${id} ended ${status.phase}, not RolledBack: ${status.reason ?? ''}`);
        const written = killSwitchWrite(watch.versions);
        if (written === undefined) throw new Error(`${id}: the flag file never showed the kill switch`);
        await sleep(Math.max(0, written + HOLD_MS - Date.now()));
        const seen = await load.stop();
        watch.stop();

        const t0 = Date.parse(entryOf(status.audit, id, (a) => a.action === 'analysis-failed', "'analysis-failed'").at);
        const undo = entryOf(status.audit, id, (a) => a.action === 'undo' && a.data?.undo === 'killSwitch', 'kill switch undo');
        const first = status.audit.find((a) => a.action === 'undo' || a.action === 'traffic-cut' || a.action === 'undo-failed');
        if (first !== undo) throw new Error(`${id}: the first undo was ${first?.action} ${String(first?.data?.undo ?? '')}, not the kill switch`);
        const before = seen.answers.filter((a) => a.at > t0 - 2_000 && a.at <= t0);
        if (!before.some((a) => a.newPath)) throw new Error(`${id}: no request took the new path before the verdict`);
        const after = seen.answers.filter((a) => a.at > seen.lastNewAt);
        if (written + HOLD_MS - seen.lastNewAt < 1_000 || after.length === 0) throw new Error(`${id}: the new path did not stop well before the load did`);

        const journal = fleet.journal(service, REGION);
        const at25 = journal.findIndex((j) => j.op === 'setWeight' && j.effect === 'applied' && j.weight === 25);
        const cut = journal.slice(at25 + 1).find((j) => j.effect === 'applied' && j.weight === 0);
        const workload = journal.find((j) => j.op === 'restoreWorkload' && j.effect === 'applied');
        if (at25 < 0 || !cut || !workload) throw new Error(`${id}: no weight 0 after 25, or no restoreWorkload, in ${REGION}'s journal`);

        atService.push(seen.lastNewAt - t0);
        weightZero.push(Date.parse(cut.at) - t0);
        restored.push(Date.parse(workload.at) - t0);
        toFileWrite.push(written - t0);
        toUndoEntry.push(Date.parse(undo.at) - t0);
        tookMs.push(Number(undo.data?.tookMs ?? NaN));
        writeToService.push(seen.lastNewAt - written);
        shareBefore.push(before.filter((a) => a.newPath).length / before.length);
        if (seen.lastNewAt - written > FLAGD_POLL_MS + 1_000) late += 1;
        answersAfter += after.length;
        failedRequests += seen.failed;
        if (readFileSync(file, 'utf8') === INITIAL) exactRestores += 1;
      } finally {
        watch.stop();
        await load.stop();
      }
    }
  } finally {
    await demo.close();
  }
  const service = quantile(atService, 0.5);
  const cluster = quantile(weightZero, 0.5);
  const workload = quantile(restored, 0.5);
  return {
    trials,
    analysisIntervalMs: INTERVAL_MS,
    fraction: FRACTION,
    flagdPollMs: FLAGD_POLL_MS,
    killSwitchAtService: figure(atService),
    inClusterWeightZero: figure(weightZero),
    workloadRestored: figure(restored),
    ratioServiceToWeightZero: round(service / cluster, 2),
    ratioServiceToWorkloadRestored: round(service / workload, 2),
    verdictToFlagFileWrittenMedianMs: round(quantile(toFileWrite, 0.5)),
    verdictToKillSwitchEntryMedianMs: round(quantile(toUndoEntry, 0.5)),
    killSwitchTookMedianMs: round(quantile(tookMs, 0.5)),
    fileWrittenToServiceMs: writeToService.map((x) => round(x)),
    newPathShareBeforeVerdictMedian: round(quantile(shareBefore, 0.5), 3),
    trialsLaterThanPollPlus1s: late,
    answersAfterLastNewPath: answersAfter,
    exactRestores,
    failedRequests,
  };
}
