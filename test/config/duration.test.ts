import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, parseDuration } from '../../src/config/duration.ts';

test('parseDuration reads every unit and combinations, largest first', () => {
  const cases: [string, number][] = [
    ['0s', 0],
    ['250ms', 250],
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['1h30m', 5_400_000],
    ['5d', 432_000_000],
    ['1d2h3m4s5ms', 93_784_005],
    ['007s', 7_000],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

test('parseDuration refuses what is not a duration', () => {
  for (const text of ['', '0', '30', '-5m', '+5m', '1.5h', ' 5m', '5m ', '5 m', '5M', '30m1h', '1m1m', '1ms1s', '5w', 'm', '1h30']) {
    assert.throws(() => parseDuration(text), {
      message: `expected a duration like "30m" or "1h30m" (units d, h, m, s, ms), got ${JSON.stringify(text)}`,
    });
  }
});

test('parseDuration refuses durations beyond exact millisecond arithmetic', () => {
  assert.throws(() => parseDuration('99999999999999999d'), { message: 'duration "99999999999999999d" is too long' });
});

test('formatDuration writes the shortest spelling, and parseDuration reads it back', () => {
  const cases: [number, string][] = [
    [0, '0s'],
    [250, '250ms'],
    [90_000, '1m30s'],
    [5_400_000, '1h30m'],
    [432_000_000, '5d'],
    [93_784_005, '1d2h3m4s5ms'],
  ];
  for (const [ms, text] of cases) {
    assert.equal(formatDuration(ms), text);
    assert.equal(parseDuration(text), ms);
  }
});

test('formatDuration refuses negative and fractional milliseconds', () => {
  assert.throws(() => formatDuration(-1), RangeError);
  assert.throws(() => formatDuration(1.5), RangeError);
  assert.throws(() => formatDuration(Number.NaN), RangeError);
});
