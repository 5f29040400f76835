// Durations in the config file are written like "250ms", "90s", "30m", "1h30m", "5d":
// whole numbers with a unit, largest unit first, each unit at most once. No
// fractions and no signs, so that every duration has exactly one spelling that
// means what it looks like.

const UNITS = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
  ['ms', 1],
] as const;

const PART = /(\d+)(ms|s|m|h|d)/y;

/** Parses a duration such as "1h30m" into milliseconds; throws an Error saying what is wrong. */
export function parseDuration(text: string): number {
  const wrong = (): Error =>
    new Error(`expected a duration like "30m" or "1h30m" (units d, h, m, s, ms), got ${JSON.stringify(text)}`);
  if (text === '') throw wrong();
  let total = 0;
  let nextUnit = 0; // index into UNITS: units must come in descending order
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const match = PART.exec(text);
    if (!match) throw wrong();
    const unit = UNITS.findIndex(([name]) => name === match[2]);
    if (unit < nextUnit) throw wrong();
    nextUnit = unit + 1;
    total += Number(match[1]) * UNITS[unit]![1];
  }
  if (!Number.isSafeInteger(total)) throw new Error(`duration ${JSON.stringify(text)} is too long`);
  return total;
}

/** Writes milliseconds back in the config file's spelling: 5400000 → "1h30m", 0 → "0s". */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new RangeError(`a duration must be a whole, non-negative number of milliseconds, got ${ms}`);
  }
  if (ms === 0) return '0s';
  let text = '';
  let rest = ms;
  for (const [name, size] of UNITS) {
    const count = Math.floor(rest / size);
    if (count > 0) text += `${count}${name}`;
    rest -= count * size;
  }
  return text;
}
