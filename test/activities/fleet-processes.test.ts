import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SimulatedFleet, type JournalEntry } from '../../activities/fleet';
import { parseFaults } from '../../domain/faults';
import { tempDir } from '../support/temp-dir';

const ROOT = join(import.meta.dirname, '..', '..');
const ROLLOUT = 'rollout/checkout/2.4.0';
const CHILDREN = 3;
const ROUNDS = 150;
const SHARED_FAILURES = 30;

/**
 * One worker process: opens the fleet, says `ready`, waits for a line on stdin, then per round sets
 * the weight in shared-1, shared-2 and its own region under keys of its own, and in shared-2 under a
 * key every child uses, then yields a moment as a worker between activities does. A scripted
 * failure is retried under the same key, as an activity retry is.
 */
const CHILD = `
const { SimulatedFleet } = await import(process.env.FLEET_MODULE);
const fleet = new SimulatedFleet(process.env.FLEET_FILE);
const child = process.env.CHILD;
const rounds = Number(process.env.ROUNDS);
const ref = (region, key) => ({ rolloutId: '${ROLLOUT}', service: 'checkout', region, target: { kind: 'simulated' }, key });
const setWeight = (region, key, weight) => {
  for (let attempt = 0; ; attempt++) {
    try {
      return fleet.setWeight({ ...ref(region, key), weight });
    } catch (err) {
      if (err.type !== 'SimulatedFault' || attempt > 100) throw err;
    }
  }
};
process.stdout.write('ready\\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
process.stdin.destroy();
for (let n = 0; n < rounds; n++) {
  for (const region of ['shared-1', 'shared-2', 'own-' + child]) setWeight(region, child + '/' + region + '/' + n, n);
  setWeight('shared-2', 'everyone/' + n, n);
  await new Promise((resolve) => setTimeout(resolve, 1));
}
fleet.close();
`;

function startChild(file: string, child: number): { process: ChildProcess; ready: Promise<void>; exited: Promise<void> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
    cwd: ROOT,
    env: {
      ...process.env,
      FLEET_MODULE: pathToFileURL(join(ROOT, 'activities', 'fleet', 'index.ts')).href,
      FLEET_FILE: file,
      CHILD: String(child),
      ROUNDS: String(ROUNDS),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d));
  proc.stderr!.on('data', (d: Buffer) => (out += d));
  const exited = new Promise<void>((resolve, reject) =>
    proc.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child ${child} exited ${code}: ${out}`)))),
  );
  const ready = new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', () => out.includes('ready') && resolve());
    exited.then(() => reject(new Error(`child ${child} ended before it was ready: ${out}`)), reject);
  });
  return { process: proc, ready, exited };
}

/** The effects each key had in a region's journal, in order. */
function effectsByKey(journal: JournalEntry[]): Map<string, JournalEntry['effect'][]> {
  const byKey = new Map<string, JournalEntry['effect'][]>();
  for (const e of journal) byKey.set(e.key, [...(byKey.get(e.key) ?? []), e.effect]);
  return byKey;
}

/** How often consecutive entries of a journal come from different children. */
function switches(journal: JournalEntry[]): number {
  const writers = journal.map((e) => e.key.split('/')[0]);
  return writers.filter((w, i) => i > 0 && w !== writers[i - 1]).length;
}

describe('SimulatedFleet shared by worker processes', () => {
  it('applies every key exactly once and loses no update or scripted failure', async () => {
    const file = join(tempDir('meridian-fleet-processes-'), 'fleet.db');
    const fleet = new SimulatedFleet(file);
    const { faults, problems } = parseFaults([`shared-1: fail setWeight ${SHARED_FAILURES} times`]);
    expect(problems).toEqual([]);
    fleet.registerRollout(ROLLOUT, { faults, baseline: {} });

    const children = Array.from({ length: CHILDREN }, (_, i) => startChild(file, i));
    try {
      await Promise.all(children.map((c) => c.ready));
      for (const c of children) c.process.stdin!.write('go\n');
      await Promise.all(children.map((c) => c.exited));
    } finally {
      for (const c of children) if (c.process.exitCode === null) c.process.kill('SIGKILL');
    }

    const shared1 = fleet.journal('checkout', 'shared-1');
    const shared2 = fleet.journal('checkout', 'shared-2');
    expect(shared1).toHaveLength(CHILDREN * ROUNDS + SHARED_FAILURES);
    expect(shared2).toHaveLength(2 * CHILDREN * ROUNDS);
    expect(shared1.filter((e) => e.effect === 'failed')).toHaveLength(SHARED_FAILURES);
    expect(fleet.faults(ROLLOUT)).toEqual([{ kind: 'operation', region: 'shared-1', op: 'setWeight', times: 0 }]);

    for (let child = 0; child < CHILDREN; child++) {
      const own = fleet.journal('checkout', `own-${child}`);
      expect(own.map((e) => [e.key, e.effect])).toEqual(Array.from({ length: ROUNDS }, (_, n) => [`${child}/own-${child}/${n}`, 'applied']));
      expect(fleet.region('checkout', `own-${child}`)!.weight).toBe(ROUNDS - 1);
      for (const [region, journal] of [['shared-1', shared1], ['shared-2', shared2]] as const) {
        const byKey = effectsByKey(journal);
        for (let n = 0; n < ROUNDS; n++) {
          const effects = byKey.get(`${child}/${region}/${n}`)!;
          expect(effects.filter((e) => e === 'applied'), `${child}/${region}/${n}`).toHaveLength(1);
          expect(effects.at(-1)).toBe('applied');
          expect(effects.filter((e) => e === 'noop')).toHaveLength(0);
        }
      }
    }
    const everyone = effectsByKey(shared2);
    for (let n = 0; n < ROUNDS; n++) expect([...everyone.get(`everyone/${n}`)!].sort(), `everyone/${n}`).toEqual(['applied', 'noop', 'noop']);

    for (const [region, journal] of [['shared-1', shared1], ['shared-2', shared2]] as const) {
      expect(fleet.region('checkout', region)!.weight).toBe(journal.at(-1)!.weight);
      expect(journal.map((e) => e.at)).toEqual(journal.map((e) => e.at).sort());
    }
    // The children ran at once: their writes to a shared region interleave.
    expect(switches(shared1)).toBeGreaterThan(CHILDREN);
    expect(fleet.regions('checkout').map((r) => r.name)).toEqual(['own-0', 'own-1', 'own-2', 'shared-1', 'shared-2']);
  });
});
