import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseFindings, fingerprintHash } from '../../chaos/rows/postgres-checks';
import { ChaosPostgres } from '../../chaos/rows/postgres-instance';
import { postgresRow } from '../../chaos/rows/postgres';
import { BASE_SCHEMA, EXPAND, NEW_VERSION } from '../../chaos/rows/postgres-scenarios';
import { startTestCluster, type TestCluster } from '../support/cluster';
import { tempDir } from '../support/temp-dir';

/** R3 of the chaos campaign at its CI size, on a Temporal cluster on PostgreSQL, with `meridian worker` processes. */
let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startTestCluster();
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('R3: PostgreSQL crashes in the middle of a migration or a reconciliation', () => {
  it('every rollout still ends where it should, with each migration applied once and each canary row fixed once', async () => {
    const lines: string[] = [];
    const result = await postgresRow({ cluster: cluster.state, size: 'ci', workDir: tempDir('meridian-chaos-r3-'), log: (line) => lines.push(line) });
    const problems = [...(result.problems ?? []), ...result.checks.flatMap((c) => c.problems.map((p) => `${c.rolloutId}: ${p}`))];
    expect(problems, lines.join('\n')).toEqual([]);
    expect({ rollouts: result.rollouts, consistent: result.consistent, inconsistent: result.inconsistent, duplicates: result.duplicates, stuck: result.stuck }).toEqual({
      rollouts: 3,
      consistent: 3,
      inconsistent: 0,
      duplicates: 0,
      stuck: 0,
    });
    expect(result.checks.map((c) => [c.scenario, c.phase])).toEqual([
      ['crash in the expand migration', 'Succeeded'],
      ['crash in the reconciliation', 'RolledBack'],
      ['crash in the contract migration', 'Succeeded'],
    ]);
    expect(result.faults).toEqual({ 'crash in an expand migration': 1, 'crash in a reconciliation': 1, 'crash in a contract migration': 1 });
  }, 600_000);
});

describe("R3's checks", () => {
  let server: ChaosPostgres;
  beforeAll(async () => {
    server = await ChaosPostgres.start();
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('count a migration that took effect twice and a canary row fixed twice as duplicates', async () => {
    await server.createDatabase('twice');
    await server.query('twice', BASE_SCHEMA);
    const before = await fingerprintHash(server, 'twice');
    await server.query('twice', `INSERT INTO chaos_effects (migration, direction) VALUES ($1, 'up'), ($1, 'up'), ($1, 'down')`, [EXPAND]);
    await server.query('twice', `INSERT INTO orders (written_by, format, fix_count) VALUES ($1, 'v1', 2), ($1, 'v1', 1)`, [NEW_VERSION]);
    const found = await databaseFindings(server, 'rollout/x/2.4.0', { region: 'eu-west-1', database: 'twice', end: 'old', before, canaryRows: 2 });
    expect(found.duplicates).toBe(2);
    expect(found.problems.length).toBeGreaterThanOrEqual(4);
  });
});
