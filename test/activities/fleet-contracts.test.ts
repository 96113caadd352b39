import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { ApplicationFailure } from '@temporalio/common';
import { beforeEach, describe, expect, it } from 'vitest';
import { SimulatedFleet } from '../../activities/fleet';
import { simulatedDriver } from '../../activities/fleet/driver';
import type { RegionRef } from '../../activities/types';
import { RECORDED_CONTRACTS_FAILURE, recordedContractsProblems, type RecordedContracts } from '../../domain/recorded-contracts';
import { recordedContracts } from '../support/recorded-contracts';
import { tempDir } from '../support/temp-dir';

let file: string;
beforeEach(() => {
  file = join(tempDir('meridian-fleet-contracts-'), 'fleet.db');
});

function ref(region: string, version: string): RegionRef {
  return {
    rolloutId: `rollout/checkout/${version}`,
    service: 'checkout',
    region,
    target: { kind: 'simulated' },
    key: `rollout/checkout/${version}/${region}/record-contracts`,
  };
}

async function failureOf(run: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

/** Runs `sql` on the fleet's file directly, past SimulatedFleet. */
function onFile<T>(sql: string, ...params: string[]): T | undefined {
  const db = new DatabaseSync(file);
  try {
    return db.prepare(sql).get(...params) as T | undefined;
  } finally {
    db.close();
  }
}

/** The contracts row of a region as the file holds it. */
function stored(region: string): { key: string; at: string; record: RecordedContracts } | undefined {
  const row = onFile<{ key: string; at: string; record: string }>('SELECT key, at, record FROM contracts WHERE service = ? AND region = ?', 'checkout', region);
  return row && { key: row.key, at: row.at, record: JSON.parse(row.record) as RecordedContracts };
}

describe('recorded contracts in the simulated fleet', () => {
  const v1 = recordedContracts('checkout', 'eu-west-1', '2.3.1', 'previous');
  const v2 = recordedContracts('checkout', 'eu-west-1', '2.4.0', 'next');

  it('the fixture records are valid and differ', () => {
    expect(recordedContractsProblems(v1)).toEqual([]);
    expect(recordedContractsProblems(v2)).toEqual([]);
    expect(v2).not.toEqual(v1);
  });

  it('reads back what it recorded, and nothing for a region without a record', async () => {
    const driver = simulatedDriver(new SimulatedFleet(file));
    expect(await driver.readContracts!(ref('eu-west-1', '2.3.1'))).toBeUndefined();
    await driver.recordContracts!({ ...ref('eu-west-1', '2.3.1'), record: v1 });
    expect(await driver.readContracts!(ref('eu-west-1', '2.4.0'))).toEqual(v1);
    expect(await driver.readContracts!(ref('us-east-1', '2.4.0'))).toBeUndefined();
    expect(stored('eu-west-1')).toMatchObject({ key: ref('eu-west-1', '2.3.1').key, record: v1 });
  });

  it('treats the same key twice as a no-op, even with another record, and leaves the stored row untouched', async () => {
    const fleet = new SimulatedFleet(file);
    fleet.recordContracts({ ...ref('eu-west-1', '2.3.1'), record: v1 });
    const before = stored('eu-west-1');
    await new Promise((r) => setTimeout(r, 5));
    fleet.recordContracts({ ...ref('eu-west-1', '2.3.1'), record: v2 });
    expect(stored('eu-west-1')).toEqual(before);
    expect(fleet.readContracts(ref('eu-west-1', '2.3.1'))).toEqual(v1);
  });

  it('replaces the record under a newer key', () => {
    const fleet = new SimulatedFleet(file);
    fleet.recordContracts({ ...ref('eu-west-1', '2.3.1'), record: v1 });
    fleet.recordContracts({ ...ref('eu-west-1', '2.4.0'), record: v2 });
    expect(fleet.readContracts(ref('eu-west-1', '2.4.0'))).toEqual(v2);
    expect(stored('eu-west-1')!.key).toBe(ref('eu-west-1', '2.4.0').key);
  });

  it('keeps the record in the state file, for a new fleet on the same file', () => {
    new SimulatedFleet(file).recordContracts({ ...ref('eu-west-1', '2.4.0'), record: v2 });
    const restarted = new SimulatedFleet(file);
    expect(restarted.readContracts(ref('eu-west-1', '2.4.0'))).toEqual(v2);
    restarted.recordContracts({ ...ref('eu-west-1', '2.4.0'), record: v1 });
    expect(new SimulatedFleet(file).readContracts(ref('eu-west-1', '2.4.0'))).toEqual(v2);
  });

  it('hands out copies: changing what was read or recorded changes nothing stored', () => {
    const fleet = new SimulatedFleet(file);
    const record: RecordedContracts = structuredClone(v1);
    fleet.recordContracts({ ...ref('eu-west-1', '2.3.1'), record });
    record.version = 'changed';
    fleet.readContracts(ref('eu-west-1', '2.3.1'))!.provides.length = 0;
    expect(fleet.readContracts(ref('eu-west-1', '2.3.1'))).toEqual(v1);
  });

  it('leaves regions, journals and other ops alone', () => {
    const fleet = new SimulatedFleet(file);
    fleet.recordContracts({ ...ref('eu-west-1', '2.3.1'), record: v1 });
    expect(fleet.regions()).toEqual([]);
    const snapshotRef = { ...ref('eu-west-1', '2.4.0'), key: 'rollout/checkout/2.4.0/eu-west-1/snapshot' };
    fleet.snapshot(snapshotRef);
    fleet.recordContracts({ ...ref('eu-west-1', '2.4.0'), record: v2 });
    expect(fleet.journal('checkout', 'eu-west-1').map((e) => [e.op, e.effect])).toEqual([['snapshot', 'applied']]);
    fleet.reset();
    expect(fleet.readContracts(ref('eu-west-1', '2.4.0'))).toBeUndefined();
  });

  it('refuses, non-retryable, a malformed record and one of another region', async () => {
    const driver = simulatedDriver(new SimulatedFleet(file));
    const broken = { ...v1, provides: [{ contract: 'orders-api', kind: 'graphql', files: { 'a.graphql': 1 } }] } as unknown as RecordedContracts;
    const malformed = await failureOf(driver.recordContracts!({ ...ref('eu-west-1', '2.3.1'), record: broken }));
    expect(malformed).toMatchObject({ type: RECORDED_CONTRACTS_FAILURE.invalid, nonRetryable: true });
    expect(malformed.message).toContain('provides[0].kind');
    expect(malformed.message).toContain('provides[0].files["a.graphql"]');
    const elsewhere = await failureOf(driver.recordContracts!({ ...ref('us-east-1', '2.3.1'), record: v1 }));
    expect(elsewhere).toMatchObject({ type: RECORDED_CONTRACTS_FAILURE.invalid, nonRetryable: true });
    expect(elsewhere.message).toContain('region: records "eu-west-1", not "us-east-1"');
    expect(await driver.readContracts!(ref('eu-west-1', '2.3.1'))).toBeUndefined();
    expect(await driver.readContracts!(ref('us-east-1', '2.3.1'))).toBeUndefined();
  });

  it('fails non-retryable, naming the state file, when the stored record was damaged', async () => {
    new SimulatedFleet(file).recordContracts({ ...ref('eu-west-1', '2.3.1'), record: v1 });
    onFile("UPDATE contracts SET record = json_remove(record, '$.image') WHERE service = ? AND region = ?", 'checkout', 'eu-west-1');
    expect(stored('eu-west-1')!.record).not.toHaveProperty('image');
    const failure = await failureOf(simulatedDriver(new SimulatedFleet(file)).readContracts!(ref('eu-west-1', '2.4.0')));
    expect(failure).toMatchObject({ type: RECORDED_CONTRACTS_FAILURE.malformed, nonRetryable: true });
    expect(failure.message).toContain(file);
    expect(failure.message).toContain('image: must be a non-empty string');
  });
});
