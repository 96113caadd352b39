import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { FlagProvider, FlagSnapshot, FlagSpec } from '../../domain/flags';
import type { DriftReport } from '../../domain/status';
import { FAILURE } from '../../domain/vocabulary';
import { createRegistry } from '../registry';
import { flagdDriver } from './flagd';
import type { FlagChange, FlagDrift, FlagDriver, FlagWrite } from './types';
import { unleashDriver } from './unleash';

/** Where the worker keeps flagd flag files: `<dir>/<file>.json` for a provider's `file`. */
export const FLAGD_DIR_ENV = 'MERIDIAN_FLAGD_DIR';

export interface FlagCall {
  rolloutId: string;
  region: string;
  provider: FlagProvider;
}

export interface FlagActivities {
  /** The flag as it is before the rollout's first change to it in the region. */
  snapshotFlag(input: FlagCall & { flagKey: string }): Promise<FlagSnapshot>;
  /**
   * Sets the change, after checking the flag is as Meridian last left it (`expected`); drift fails
   * non-retryably with a DriftReport unless `acceptDrift`. A repeat of a change already in place writes nothing.
   */
  applyFlag(input: FlagCall & { change: FlagChange; key: string; expected?: FlagWrite; acceptDrift?: boolean }): Promise<void>;
  checkFlagDrift(input: FlagCall & { expected: FlagWrite }): Promise<FlagDrift>;
  /** Undo: every user on the kill switch; returns how long the provider took to take it. */
  killSwitch(input: FlagCall & { flag: FlagSpec; key: string }): Promise<{ tookMs: number }>;
  /** Undo: the flag exactly as its snapshot. */
  restoreFlag(input: FlagCall & { snapshot: FlagSnapshot; key: string }): Promise<void>;
  /** Preflight: every region's provider answers for every flag with the worker's credentials. */
  checkFlagProviders(input: { regions: { name: string; provider: FlagProvider }[]; flags: string[] }): Promise<{ region: string; message: string }[]>;
}

/** The drivers of every flag provider type; flagd's files live under `$MERIDIAN_FLAGD_DIR`. */
export function registeredFlagDrivers(env: NodeJS.ProcessEnv = process.env): FlagDriver[] {
  const resolveFile = (name: string) => {
    const dir = env[FLAGD_DIR_ENV];
    if (!dir) throw ApplicationFailure.nonRetryable(`flagd file "${name}": ${FLAGD_DIR_ENV} is not set in the worker's environment; set it to the directory of the services' flag files`, FAILURE.flagProviderMisconfigured);
    return join(dir, `${name}.json`);
  };
  return [flagdDriver({ resolveFile }) as FlagDriver, unleashDriver({ env }) as FlagDriver];
}

const where = (input: FlagCall) => `flag provider ${input.provider.type} of ${input.region}`;

export function createFlagActivities(drivers: FlagDriver[]): FlagActivities {
  const registry = createRegistry(drivers, (d) => d.kind, { noun: 'flag provider', failureType: FAILURE.unknownFlagProvider });
  const of = (p: FlagProvider) => registry.get(p.type);
  return {
    snapshotFlag: (input) => of(input.provider).snapshot(input.provider, input.flagKey),
    async applyFlag(input) {
      const driver = of(input.provider);
      const already = !(await driver.drift(input.provider, { action: 'apply', ...input.change })).drifted;
      if (!already && input.expected && !input.acceptDrift) {
        const drift = await driver.drift(input.provider, input.expected);
        if (drift.drifted) {
          const report: DriftReport = { object: `flag ${input.change.flag.key} (${where(input)})`, changes: drift.differences, by: [], detectedAt: new Date().toISOString() };
          throw ApplicationFailure.nonRetryable(`${report.object} was changed outside Meridian: ${drift.differences.join('; ')}`, FAILURE.drift, report);
        }
      }
      if (!already) await driver.apply(input.provider, input.change, input.key);
    },
    checkFlagDrift: (input) => of(input.provider).drift(input.provider, input.expected),
    async killSwitch(input) {
      const started = Date.now();
      await of(input.provider).killSwitch(input.provider, input.flag, input.key);
      return { tookMs: Date.now() - started };
    },
    restoreFlag: (input) => of(input.provider).restore(input.provider, input.snapshot, input.key),
    async checkFlagProviders({ regions, flags }) {
      const problems: { region: string; message: string }[] = [];
      await Promise.all(
        regions.map(async (r) => {
          try {
            for (const key of flags) await of(r.provider).snapshot(r.provider, key);
          } catch (err) {
            problems.push({ region: r.name, message: `flag provider ${r.provider.type}: ${err instanceof Error ? err.message : String(err)}` });
          }
        }),
      );
      return problems.sort((a, b) => (a.region < b.region ? -1 : 1));
    },
  };
}
