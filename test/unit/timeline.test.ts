import { describe, expect, it } from 'vitest';
import { renderOrdered, Timeline, type OrderedLine, type TimedLine } from '../../cli/timeline';

const T0 = Date.parse('2025-03-04T10:00:00Z');
const s = (seconds: number) => T0 + seconds * 1000;
const line = (at: number, text: string, key?: string): TimedLine => ({ at: s(at), text, ...(key ? { key } : {}) });

/** A step adds the lines of one poll, then releases what is due at `now` (seconds), or flushes. */
type Step = { add: TimedLine[]; now: number | 'flush' };

function run(horizonSeconds: number, steps: Step[]): [number, string, number?][] {
  const timeline = new Timeline(horizonSeconds * 1000);
  const out: OrderedLine[] = [];
  for (const step of steps) {
    timeline.add(step.add);
    out.push(...(step.now === 'flush' ? timeline.flush() : timeline.release(s(step.now))));
  }
  return out.map((l) => (l.late === undefined ? [(l.at - T0) / 1000, l.text] : [(l.at - T0) / 1000, l.text, (l.late - T0) / 1000]));
}

describe('Timeline', () => {
  it.each<[string, number, Step[], [number, string, number?][]]>([
    [
      'sorts one poll: audit entries before the later status line',
      2,
      [{ add: [line(5, 'status'), line(3, 'audit a'), line(4, 'audit b')], now: 'flush' }],
      [[3, 'audit a'], [4, 'audit b'], [5, 'status']],
    ],
    [
      'holds a line until the horizon has passed its time',
      2,
      [
        { add: [line(3, 'a'), line(4, 'b')], now: 5 },
        { add: [], now: 6 },
      ],
      [[3, 'a'], [4, 'b']],
    ],
    [
      'places a line that arrives a poll late, within the horizon, before the later one',
      2,
      [
        { add: [line(5, 'status at poll 1')], now: 5 },
        { add: [line(4, 'audit reported at poll 2')], now: 6 },
        { add: [], now: 'flush' },
      ],
      [[4, 'audit reported at poll 2'], [5, 'status at poll 1']],
    ],
    [
      'releases a line later than the horizon at the time reached, keeping its own time',
      1,
      [
        { add: [line(5, 'first')], now: 7 },
        { add: [line(3, 'very late'), line(8, 'next')], now: 'flush' },
      ],
      [[5, 'first'], [5, 'very late', 3], [8, 'next']],
    ],
    [
      'prints a keyed line once, however often it arrives, and after a poll without it',
      0,
      [
        { add: [line(1, 'entry', 'k1')], now: 1 },
        { add: [], now: 2 },
        { add: [line(1, 'entry', 'k1'), line(2, 'other', 'k2')], now: 'flush' },
      ],
      [[1, 'entry'], [2, 'other']],
    ],
    [
      'keeps arrival order among lines of the same time',
      0,
      [{ add: [line(2, 'rollout'), line(2, 'eu-west-1'), line(2, 'us-east-1')], now: 'flush' }],
      [[2, 'rollout'], [2, 'eu-west-1'], [2, 'us-east-1']],
    ],
    [
      'unkeyed lines with the same text are separate lines',
      0,
      [{ add: [line(2, 'eu-west-1 Progressing 10%'), line(3, 'eu-west-1 Progressing 10%')], now: 'flush' }],
      [[2, 'eu-west-1 Progressing 10%'], [3, 'eu-west-1 Progressing 10%']],
    ],
  ])('%s', (_name, horizon, steps, expected) => {
    expect(run(horizon, steps)).toEqual(expected);
  });

  it('never goes back in time, and loses no line, whatever the order of arrival within the horizon', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const timeline = new Timeline(2_000);
    const out: OrderedLine[] = [];
    const sent: number[] = [];
    for (let poll = 0; poll < 200; poll++) {
      const now = s(poll / 2);
      const batch = Array.from({ length: Math.floor(random() * 4) }, (_, i) => ({ at: now - Math.floor(random() * 2_000), text: `${poll}.${i}` }));
      sent.push(...batch.map((l) => l.at));
      timeline.add(batch);
      out.push(...timeline.release(now));
    }
    out.push(...timeline.flush());
    expect(out.map((l) => l.at)).toEqual([...sent].sort((a, b) => a - b));
    expect(out.filter((l) => l.late !== undefined)).toEqual([]);
  });

  it('says when the oldest held line is due', () => {
    const timeline = new Timeline(2_000);
    expect(timeline.nextDue()).toBeUndefined();
    timeline.add([line(5, 'a'), line(3, 'b')]);
    expect(timeline.nextDue()).toBe(s(5));
  });
});

describe('renderOrdered', () => {
  it('prints the time, and a late line\'s own time', () => {
    expect(renderOrdered({ at: s(5), text: 'eu-west-1 Progressing 10%' })).toBe('10:00:05Z eu-west-1 Progressing 10%');
    expect(renderOrdered({ at: s(5), text: 'rollback: x', late: s(3) })).toBe('10:00:05Z rollback: x (at 10:00:03Z, reported late)');
  });
});
