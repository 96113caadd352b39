import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../domain/duration';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['2d', 172_800_000],
    ['1d2h3m4s5ms', 93_784_005],
    ['1.5h', 5_400_000],
    ['0s', 0],
    [' 10s ', 10_000],
    ['90s', 90_000],
  ])('%j -> %d', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ['400 nines of days', `${'9'.repeat(400)}d`],
    ['2^53 + 1 milliseconds', '9007199254740993ms'],
    ['a hundred billion days', '100000000000d'],
  ])('%s is too long to count in milliseconds', (_name, text) => {
    expect(parseDuration(text)).toBe(Infinity);
  });

  it.each(['', '   ', '5', 'm', '5 m', '5mins', '1h 30m', '-5s', '5x', 's5', '1h30'])('%j is malformed', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [250, '250ms'],
    [999, '999ms'],
    [1_000, '1s'],
    [45_000, '45s'],
    [90_000, '1m30s'],
    [5_400_000, '1h30m'],
    [86_400_000, '1d'],
    [93_784_000, '1d2h3m4s'],
  ])('%d -> %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('round-trips what it formats', () => {
    for (const ms of [1_000, 61_000, 3_600_000, 90_061_000]) expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
});
