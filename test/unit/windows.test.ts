import { describe, expect, it } from 'vitest';
import type { DeploymentWindow } from '../../domain/spec';
import { WEEKDAYS } from '../../domain/spec-defaults';
import { describeWindows, windowWaitMs } from '../../domain/windows';

const MIN = 60_000;
const H = 60 * MIN;
const D = 24 * H;
const ALL: DeploymentWindow['days'] = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

const berlinOffice: DeploymentWindow = { timezone: 'Europe/Berlin', days: ['Mon', 'Tue', 'Wed', 'Thu'], start: '09:00', end: '16:00' };
const fridayNight: DeploymentWindow = { timezone: 'UTC', days: ['Fri'], start: '22:00', end: '02:00' };
const berlinDaily = (start: string, end: string): DeploymentWindow => ({ timezone: 'Europe/Berlin', days: ALL, start, end });
const newYorkFriday: DeploymentWindow = { timezone: 'America/New_York', days: ['Fri'], start: '09:00', end: '12:00' };

// 2026-03-02 is a Monday; Berlin is on CET (UTC+1) until 2026-03-29 and on CEST (UTC+2) until 2026-10-25.
const cases: [string, string, DeploymentWindow[], number][] = [
  ['no windows: always open', '2026-03-07T03:00:00Z', [], 0],
  ['inside', '2026-03-02T10:00:00Z', [berlinOffice], 0],
  ['at the opening minute', '2026-03-02T08:00:00Z', [berlinOffice], 0],
  ['before opening, same day', '2026-03-02T07:30:00Z', [berlinOffice], 30 * MIN],
  ['at closing: the next allowed day', '2026-03-02T15:00:00Z', [berlinOffice], 17 * H],
  ['after closing on the last day: skips Fri-Sun', '2026-03-05T16:00:00Z', [berlinOffice], 3 * D + 16 * H],
  ['on a weekend', '2026-03-07T12:00:00Z', [berlinOffice], D + 20 * H],
  ['midnight-crossing window, before midnight', '2026-03-06T23:00:00Z', [fridayNight], 0],
  ['midnight-crossing window, after midnight it still belongs to Friday', '2026-03-07T01:59:00Z', [fridayNight], 0],
  ['midnight-crossing window, closed Saturday 02:00', '2026-03-07T02:00:00Z', [fridayNight], 6 * D + 20 * H],
  ['midnight-crossing window, Thursday night is not Friday night', '2026-03-06T01:00:00Z', [fridayNight], 21 * H],
  ['spring forward: the night before the change is 23 hours long', '2026-03-28T12:00:00Z', [berlinDaily('09:00', '10:00')], 19 * H],
  ['spring forward: a skipped opening moves on by the gap (02:30 -> 03:30 CEST)', '2026-03-29T00:00:00Z', [berlinDaily('02:30', '04:00')], 90 * MIN],
  ['spring forward: inside a window that opened late', '2026-03-29T01:45:00Z', [berlinDaily('02:30', '04:00')], 0],
  ['spring forward: a window inside the gap does not happen that day', '2026-03-29T00:30:00Z', [berlinDaily('02:00', '03:00')], 23 * H + 30 * MIN],
  ['fall back: the night before the change is 25 hours long', '2026-10-24T12:00:00Z', [berlinDaily('09:00', '10:00')], 20 * H],
  ['fall back: opens at the first 02:00', '2026-10-24T23:30:00Z', [berlinDaily('02:00', '03:00')], 30 * MIN],
  ['fall back: the repeated hour is inside', '2026-10-25T01:30:00Z', [berlinDaily('02:00', '03:00')], 0],
  ['several windows: the earliest opening wins', '2026-03-05T16:00:00Z', [berlinOffice, newYorkFriday], 22 * H],
  ['several windows: inside any one is open', '2026-03-06T15:00:00Z', [berlinOffice, newYorkFriday], 0],
  ['a window that never opens waits the whole search span', '2026-03-02T10:00:00Z', [berlinDaily('10:00', '10:00')], 8 * D],
];

describe('windowWaitMs', () => {
  it.each(cases)('%s', (_name, now, windows, expected) => {
    expect(windowWaitMs(Date.parse(now), windows)).toBe(expected);
  });

  it('lands exactly on an opening that is then open', () => {
    for (const [, now, windows] of cases) {
      const wait = windowWaitMs(Date.parse(now), windows);
      if (wait > 0 && wait < 8 * D) expect(windowWaitMs(Date.parse(now) + wait, windows)).toBe(0);
    }
  });
});

describe('describeWindows', () => {
  it.each([
    [[berlinOffice], 'Mon-Thu 09:00-16:00 Europe/Berlin'],
    [[fridayNight], 'Fri 22:00-02:00 UTC'],
    [[berlinDaily('02:00', '03:00')], 'daily 02:00-03:00 Europe/Berlin'],
    [[{ ...fridayNight, days: ['Sat', 'Sun', 'Mon', 'Wed'] }], 'Wed,Sat-Mon 22:00-02:00 UTC'],
    [[{ ...fridayNight, days: ['Fri', 'Mon', 'Tue'] }], 'Mon,Tue,Fri 22:00-02:00 UTC'],
    [[berlinOffice, newYorkFriday], 'Mon-Thu 09:00-16:00 Europe/Berlin; Fri 09:00-12:00 America/New_York'],
    [[], 'any time'],
  ] as [DeploymentWindow[], string][])('%j -> %s', (windows, expected) => {
    expect(describeWindows(windows)).toBe(expected);
  });
});

describe('weekday order', () => {
  it('is Date#getUTCDay order, which window arithmetic indexes by', () => {
    const sunday = Date.parse('2026-03-01T12:00:00Z');
    WEEKDAYS.forEach((day, i) => {
      const w: DeploymentWindow = { timezone: 'UTC', days: [day], start: '00:00', end: '23:59' };
      expect(windowWaitMs(sunday + i * D, [w])).toBe(0);
    });
  });
});
