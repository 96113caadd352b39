/**
 * The cost of one keyed fleet operation against the size of the fleet's file: the median time of a
 * keyed setWeight in a fleet of 10 regions and in one of 5,000 (1,000 rollouts x 5 regions), each
 * region with its journal and each rollout with its scripted faults. The ratio should stay near 1.
 *
 *   MERIDIAN_BENCH_ONLY=fleetOpCost npm run bench
 *
 * The two fleets are measured in turn, one operation each, so that noise on the shared machine
 * falls on both alike.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedFleet } from '../activities/fleet';
import type { RegionRef } from '../activities/types';
import { parseFaults } from '../domain/faults';
import { quantile, round } from './stats';

const REGIONS_PER_ROLLOUT = 5;
const SMALL_ROLLOUTS = 2;
const LARGE_ROLLOUTS = 1_000;
const WARMUP_OPS = 200;
const OLD = { image: 'registry.bench/shop/app:1.0.0', config: {} };
const NEW = { image: `registry.bench/shop/app@sha256:${'ab'.repeat(32)}`, config: { FEATURE: 'on' } };

interface BenchFleet {
  fleet: SimulatedFleet;
  regions: RegionRef[];
  file: string;
}

function regionRef(rollout: number, region: number, step: string): RegionRef {
  const rolloutId = `rollout/app-${rollout}/1.1.0`;
  const name = `region-${region}`;
  return { rolloutId, service: `app-${rollout}`, region: name, target: { kind: 'simulated', initial: OLD }, key: `${rolloutId}/${name}/${step}` };
}

/** A fleet of `rollouts` x 5 regions, each region taken through snapshot, deploy, two weights and promotion. */
function fillFleet(file: string, rollouts: number): BenchFleet {
  const fleet = new SimulatedFleet(file);
  const regions: RegionRef[] = [];
  for (let r = 0; r < rollouts; r++) {
    const lines = Array.from({ length: REGIONS_PER_ROLLOUT }, (_, i) => `region-${i}: error_rate 0.08 when weight >= 90`);
    fleet.registerRollout(regionRef(r, 0, '').rolloutId, { faults: parseFaults(lines).faults, baseline: { error_rate: 0.004 }, image: NEW.image });
    for (let i = 0; i < REGIONS_PER_ROLLOUT; i++) {
      fleet.snapshot(regionRef(r, i, 'snapshot'));
      fleet.deployCanary({ ...regionRef(r, i, 'deploy'), ...NEW });
      fleet.setWeight({ ...regionRef(r, i, 'step-0'), weight: 10 });
      fleet.setWeight({ ...regionRef(r, i, 'step-1'), weight: 50 });
      fleet.promote({ ...regionRef(r, i, 'promote'), ...NEW });
      regions.push(regionRef(r, i, ''));
    }
  }
  return { fleet, regions, file };
}

/** Microseconds of one keyed setWeight under a new key in a region picked at random. */
function timedSetWeight(f: BenchFleet, i: number): number {
  const ref = f.regions[Math.floor(Math.random() * f.regions.length)]!;
  const input = { ...ref, key: `${ref.rolloutId}/${ref.region}/bench-${i}`, weight: i % 100 };
  const t0 = performance.now();
  f.fleet.setWeight(input);
  return (performance.now() - t0) * 1000;
}

function summary(f: BenchFleet, samples: number[]) {
  return {
    regions: f.regions.length,
    journalEntries: f.fleet.regions().reduce((n, r) => n + r.journal.length, 0),
    fileMb: round(statSync(f.file).size / 2 ** 20, 1),
    medianUs: round(quantile(samples, 0.5), 1),
    p95Us: round(quantile(samples, 0.95), 1),
  };
}

export function fleetOpCostFigures(ops = 3_000) {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-bench-fleet-'));
  try {
    const small = fillFleet(join(dir, 'small.db'), SMALL_ROLLOUTS);
    const large = fillFleet(join(dir, 'large.db'), LARGE_ROLLOUTS);
    for (let i = 0; i < WARMUP_OPS; i++) (timedSetWeight(small, -1 - i), timedSetWeight(large, -1 - i));
    const samples = { small: [] as number[], large: [] as number[] };
    for (let i = 0; i < ops; i++) {
      samples.small.push(timedSetWeight(small, i));
      samples.large.push(timedSetWeight(large, i));
    }
    const figures = { ops, small: summary(small, samples.small), large: summary(large, samples.large) };
    small.fleet.close();
    large.fleet.close();
    return { ...figures, largeToSmallMedianRatio: round(figures.large.medianUs / figures.small.medianUs, 2) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
