/**
 * The Kubernetes driver on the local test bed: how long rolling regions back takes, one region and
 * three in parallel against in sequence, and how long the test bed takes to start.
 *
 *   MERIDIAN_BENCH_ONLY=kubernetes npm run bench
 *   MERIDIAN_BENCH_K8S_COLD=1   also time a cold build into scratch Go and binary caches (about 17 min on 2 cores)
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubernetesDriver } from '../activities/kubernetes/driver';
import type { RegionRef } from '../activities/types';
import { kubernetesTarget } from '../domain/spec';
import type { KnownGood } from '../domain/status';
import { cacheLayout, ensureBinaries, startTestbed, type Testbed } from '../testbed';
import { seedWeb, uniqueNamespace } from '../test/kubernetes/support';

const REGIONS = ['eu-west-1', 'us-east-1', 'ap-south-1'];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const driver = kubernetesDriver();

/** A region at 50% canary, ready to be rolled back: its ref and known-good. */
async function canaryAt50(tb: Testbed, region: string, ns: string): Promise<{ ref: RegionRef; snapshot: KnownGood }> {
  const target = kubernetesTarget.parse({ kind: 'kubernetes', kubeconfig: tb.kubeconfigPath, context: tb.contexts[region], namespace: ns, deployment: 'web' });
  const ref: RegionRef = { rolloutId: `bench/${ns}`, service: 'web', region, target, key: `${ns}-${region}` };
  const snapshot = await driver.snapshot(ref);
  await driver.deployCanary({ ...ref, image: 'registry.bench/web:2.0.0', config: { MODE: 'canary' } });
  await driver.setWeight({ ...ref, weight: 50 });
  return { ref, snapshot };
}

/** Traffic back to stable, then the known-good workload restored and ready, the canary gone: what a region's rollback does. */
async function rollBack({ ref, snapshot }: { ref: RegionRef; snapshot: KnownGood }): Promise<void> {
  await driver.restoreTraffic({ ...ref, weight: snapshot.weight });
  await driver.restoreWorkload({ ...ref, snapshot });
}

/** Busy and total CPU ticks of the whole machine, from /proc/stat (Linux). */
function cpuTicks(): { busy: number; total: number } | undefined {
  if (!existsSync('/proc/stat')) return undefined;
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const ticks = fields.map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  return { busy: total - ticks[3]! - ticks[4]!, total };
}

function busyShare(a: ReturnType<typeof cpuTicks>, b: ReturnType<typeof cpuTicks>): number {
  if (!a || !b || b.total === a.total) return NaN;
  return Math.round(((b.busy - a.busy) / (b.total - a.total)) * 100) / 100;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return Math.round(performance.now() - started);
}

export async function kubernetesFigures(trials: number, log: (line: string) => void = () => {}) {
  const figures: Record<string, unknown> = {};
  const record = join(cacheLayout().bin, '..', 'build.json');
  if (process.env.MERIDIAN_BENCH_K8S_COLD === '1') {
    const scratch = mkdtempSync(join(tmpdir(), 'meridian-cold-build-'));
    const env = { ...process.env, MERIDIAN_K8S_CACHE: join(scratch, 'k8s'), GOCACHE: join(scratch, 'gocache'), GOMODCACHE: join(scratch, 'gomod') };
    figures.coldBuildSeconds = Math.round((await timed(() => ensureBinaries({ env, log }))) / 1000);
  } else if (existsSync(record)) {
    figures.lastBuild = JSON.parse(readFileSync(record, 'utf8'));
  }
  await ensureBinaries({ log });

  const starts: number[] = [];
  let tb: Testbed | undefined;
  for (let i = 0; i < 3; i++) {
    await tb?.stop();
    const dir = mkdtempSync(join(tmpdir(), 'meridian-bench-testbed-'));
    starts.push(await timed(async () => (tb = await startTestbed({ dir }))));
    log(`warm start ${i + 1}: ${starts.at(-1)} ms`);
  }
  figures.warmStartMs = { median: median(starts), runs: starts };

  try {
    const one: number[] = [];
    const parallel: number[] = [];
    const sequence: number[] = [];
    const busy: number[] = [];
    for (let i = 0; i < trials; i++) {
      const ns = uniqueNamespace('bench');
      await seedWeb(tb!, REGIONS, ns);
      const regions = await Promise.all(REGIONS.map((r) => canaryAt50(tb!, r, ns)));
      one.push(await timed(() => rollBack(regions[0]!)));
      const again = await Promise.all(REGIONS.map((r) => canaryAt50(tb!, r, ns)));
      const before = cpuTicks();
      parallel.push(await timed(() => Promise.all(again.map(rollBack))));
      const share = busyShare(before, cpuTicks());
      if (Number.isFinite(share)) busy.push(share);
      const third = await Promise.all(REGIONS.map((r) => canaryAt50(tb!, r, ns)));
      sequence.push(
        await timed(async () => {
          for (const r of third) await rollBack(r);
        }),
      );
      log(`trial ${i + 1}: one ${one.at(-1)} ms, three parallel ${parallel.at(-1)} ms, three in sequence ${sequence.at(-1)} ms`);
    }
    figures.rollbackOneRegionMs = { median: median(one), runs: one };
    figures.rollbackThreeRegionsMs = {
      parallelMedian: median(parallel),
      sequenceMedian: median(sequence),
      sequenceOverParallel: Math.round((median(sequence) / median(parallel)) * 100) / 100,
      /** Share of the machine's CPU time in use while three regions rolled back at once. */
      cpuBusyDuringParallel: busy.length ? median(busy) : undefined,
      parallel,
      sequence,
    };
  } finally {
    await tb?.stop();
  }
  return figures;
}
