// [spam] in the config file: rules are checked when the file is read (one line per
// problem, with its line), patterns run only on V8's linear-time engine, and the
// thresholds keep their order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/load.ts';
import { keywordPattern } from '../../src/config/pattern.ts';

const parse = (text: string) => parseConfig(`hostname = "mail.example.test"\n${text}`, 'x.toml');

function problem(text: string): string {
  try {
    parse(text);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `not a ConfigError: ${error}`);
    return error.message;
  }
  assert.fail('the config was accepted');
}

test('a keyword rule and a pattern rule are read and compiled', () => {
  const config = parse(`
[[spam.rule]]
name = "DEAL"
header = "Subject"
keywords = ["Exclusive Deal", "act now"]
score = 2.5

[[spam.rule]]
name = "WIRE"
body = true
pattern = "wire \\\\$?[0-9]+"
score = -1
`);
  const [deal, wire] = config.spam.rule;
  assert.deepEqual({ ...deal, pattern: undefined }, { name: 'DEAL', header: 'subject', body: false, pattern: undefined, keywords: ['exclusive deal', 'act now'], score: 2.5 });
  assert.equal(wire!.pattern!.flags, 'l', 'the linear-time engine');
  assert.ok(wire!.pattern!.test('please wire $500'));
});

test('patterns that need backtracking, upper case, or bad syntax are refused with their line', () => {
  const rule = (pattern: string) => `[[spam.rule]]\nname = "R"\nbody = true\npattern = '${pattern}'\nscore = 1\n`;
  assert.match(problem(rule('(a)\\1')), /x\.toml:5: spam\.rule\[0\]\.pattern: "\(a\)\\\\1" is not a usable pattern: it needs backtracking/);
  assert.match(problem(rule('(?=x)y')), /is not a usable pattern: it needs backtracking/);
  assert.match(problem(rule('Free')), /write the pattern in lower case \(the text is lower-cased before matching\): "Free" has "F"/);
  assert.match(problem(rule('[')), /"\[" is not a usable pattern: .*Unterminated character class/);
  assert.doesNotThrow(() => parse(rule('\\Sfree\\s+\\D')), 'escapes may be upper case');
});

test('a rule needs one place and one kind of match; names are unique; thresholds keep their order', () => {
  assert.match(problem('[[spam.rule]]\nname = "R"\nkeywords = ["x"]\nscore = 1\n'), /a rule needs exactly one of header = "Field" and body = true/);
  assert.match(problem('[[spam.rule]]\nname = "R"\nbody = true\nheader = "Subject"\nkeywords = ["x"]\nscore = 1\n'), /exactly one of header/);
  assert.match(problem('[[spam.rule]]\nname = "R"\nbody = true\nscore = 1\n'), /a rule needs exactly one of pattern and keywords/);
  assert.match(problem('[[spam.rule]]\nname = "r"\nbody = true\nkeywords = ["x"]\nscore = 1\n'), /expected a rule name like "LOTTERY_WIN"/);
  const twice = '[[spam.rule]]\nname = "R"\nbody = true\nkeywords = ["x"]\nscore = 1\n';
  assert.match(problem(twice + twice), /spam\.rule\[1\]\.name: "R" is already the name of another rule/);
  assert.match(problem('[spam]\njunk_score = 5\nquarantine_score = 4\n'), /spam\.quarantine_score: must be at least junk_score \(5\)/);
  assert.match(problem('[spam]\nreject_score = 8\n'), /spam\.reject_score: must be at least quarantine_score \(9\)/);
  assert.match(problem('[spam.scores]\nspf_fail = "high"\n'), /spam\.scores\.spf_fail: expected a number, got "high"/);
});

test('keywords match whole words only, in any script (regression: V8\'s linear engine matched a negated class reaching U+FFFF against anything)', () => {
  const pattern = keywordPattern(['viagra', 'free money', 'c++', 'café']);
  for (const yes of ['buy viagra!', 'viagra', 'get free   money', 'i like c++', 'au café.']) assert.ok(pattern.test(yes), yes);
  for (const no of ['aviagra', 'viagras', 'éviagra', 'viagraé', 'freemoney', 'cafés']) assert.ok(!pattern.test(no), no);
});
