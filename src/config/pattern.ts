// Regular expressions from the config file (spam rules) that run over untrusted mail:
// compiled for V8's linear-time engine (the `l` flag), so that no pattern, however
// written, can backtrack catastrophically on a message crafted for it (ReDoS). That
// engine takes neither the `i` nor the `u` flag and no backreferences or lookarounds:
// such a pattern is refused here with one clear line, never run by the backtracking
// engine instead. Case: the text is lower-cased before it is matched, so a pattern is
// written in lower case (an upper-case letter outside an escape like \S is refused,
// since it could never match).
import { setFlagsFromString } from 'node:v8';

// The engine is behind a V8 flag in Node 24; setting it affects only regular
// expressions created with the `l` flag.
setFlagsFromString('--enable-experimental-regexp-engine');

const MAX_PATTERN = 1000;

/** Compiles `source` for the linear-time engine, global so every match can be counted; throws an Error that says what is wrong. */
export function parseLinearPattern(source: string): RegExp {
  if (source === '') throw new Error('expected a regular expression, got ""');
  if (source.length > MAX_PATTERN) throw new Error(`a pattern is at most ${MAX_PATTERN} characters, got ${source.length}`);
  for (let i = 0; i < source.length; i++) {
    if (source[i] === '\\') {
      i++;
      continue;
    }
    if (/[A-Z]/.test(source[i]!)) {
      throw new Error(`write the pattern in lower case (the text is lower-cased before matching): ${JSON.stringify(source)} has "${source[i]}"`);
    }
  }
  try {
    return new RegExp(source, 'l');
  } catch (err) {
    const why = (err as Error).message.includes('linear time')
      ? 'it needs backtracking (backreferences and lookarounds are not supported, so that no message can make it run for long)'
      : (err as Error).message.replace(/^Invalid regular expression: /, '');
    throw new Error(`${JSON.stringify(source)} is not a usable pattern: ${why}`);
  }
}

/**
 * A word character for keyword edges: ASCII letters and digits, _, and everything from
 * U+00C0 up (\b knows only ASCII, and the linear engine takes no \p{…}). The range stops
 * at U+FFFD: V8's linear engine (Node 24) matches a negated class that reaches U+FFFF
 * against any character (a regression test holds this).
 */
const WORD_CHARACTER = 'a-z0-9_\\u00c0-\\ufffd';

/** Keywords (lower case) as one linear-time pattern: any of them, whole (not inside a longer word). */
export function keywordPattern(keywords: readonly string[]): RegExp {
  const escaped = keywords.map((word) => word.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&').replace(/\s+/g, '\\s+'));
  return new RegExp(`(?:^|[^${WORD_CHARACTER}])(?:${escaped.join('|')})(?:$|[^${WORD_CHARACTER}])`, 'l');
}
