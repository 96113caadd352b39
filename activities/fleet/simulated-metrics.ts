import { targetTraits } from '../../domain/targets';
import type { TargetDriver } from '../drivers';
import type { RegionRef } from '../types';
import type { SimulatedFleet } from './fleet';

/**
 * `driver`, with the fleet told the weight each change leaves in a region on a real target, so
 * simulated metrics and scripted metric faults follow that region's traffic (a rehearsal on real
 * clusters with simulated metrics). A region on the simulated fleet already holds its own weight.
 * A change that fails leaves the observed weight as it was.
 */
export function withSimulatedMetrics(driver: TargetDriver, fleet: SimulatedFleet): TargetDriver {
  const observe = (ref: RegionRef, weight: number) => {
    if (!targetTraits(ref.target).simulated) fleet.observeWeight(ref.service, ref.region, weight);
  };
  const preflight = driver.preflight?.bind(driver);
  const readContracts = driver.readContracts?.bind(driver);
  const recordContracts = driver.recordContracts?.bind(driver);
  return {
    kind: driver.kind,
    ...(preflight ? { preflight } : {}),
    ...(readContracts ? { readContracts } : {}),
    ...(recordContracts ? { recordContracts } : {}),
    snapshot: (ref) => driver.snapshot(ref),
    deployCanary: (input) => driver.deployCanary(input),
    async setWeight(input) {
      await driver.setWeight(input);
      observe(input, input.weight);
    },
    async promote(input) {
      await driver.promote(input);
      observe(input, 100);
    },
    async restoreTraffic(input) {
      await driver.restoreTraffic(input);
      observe(input, input.weight);
    },
    async restoreWorkload(input) {
      await driver.restoreWorkload(input);
      observe(input, input.snapshot.weight);
    },
  };
}
