// The spam classifier's reading of a message (src/filter/spam/tokens.ts, grams.ts): any
// octets as a message, every feature bounded, the count bounded, the text for the rules
// bounded, the rules' linear-time patterns run over it, and a score always a number in
// [0, 1] (src/filter/spam/model.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_RULE_TEXT, MAX_TOKENS, readMessage } from '../../src/filter/spam/tokens.ts';
import { GRAM_OCTETS, messageGrams } from '../../src/filter/spam/grams.ts';
import { SpamModel } from '../../src/filter/spam/model.ts';
import { ruleHits } from '../../src/filter/spam/score.ts';
import { keywordPattern, parseLinearPattern } from '../../src/config/pattern.ts';
import { corpusInputs } from '../lib/inputs.ts';
import { invariant, type FuzzTarget } from '../lib/target.ts';

let scratch: string | undefined;
const model = new SpamModel();
const rules = [
  { name: 'SUBJECT', header: 'subject', pattern: keywordPattern(['free', 'café']), points: 1 },
  { name: 'BODY', header: '', pattern: parseLinearPattern('(a|aa)+b|\\$[0-9]+'), points: 1 },
];

const spamTokens: FuzzTarget = {
  name: 'spam-tokens',
  about: 'the spam classifier\'s features of a message: header words, decoded text parts, HTML rendered, URLs, attachment names',
  ...corpusInputs('spam-tokens', ['Subject: ', 'From: ', 'Content-Type: text/html; charset=', 'utf-8', 'iso-2022-jp', 'Content-Transfer-Encoding: base64', 'quoted-printable', '\r\n', '\r\n\r\n', '<a href="http://', '&#x', '&eacute;', '<script>', '=?UTF-8?B?', '--b', 'boundary="b"', 'multipart/mixed', 'FREE', '$$$', '\u00e9'], 65_536),
  setup: async () => void (scratch ??= mkdtempSync(join(tmpdir(), 'kakitome-fuzz-spam-'))),
  teardown: async () => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    scratch = undefined;
  },
  async check(input) {
    const reading = await readMessage(input, { scratchDir: scratch!, maxBytes: 256 * 1024, withText: true });
    const { tokens } = reading;
    invariant(tokens.length <= MAX_TOKENS, 'more features than MAX_TOKENS');
    invariant(new Set(tokens).size === tokens.length, 'a feature twice');
    for (const token of tokens) invariant(Number.isInteger(token) && token >= 0 && token < 2 ** 32, `feature ${token} is not a 32-bit hash`);
    invariant(reading.text.length <= MAX_RULE_TEXT + 1024, `rule text of ${reading.text.length} characters`);
    const grams = messageGrams(input);
    invariant(grams.length <= GRAM_OCTETS, `${grams.length} 4-grams`);
    ruleHits(rules, reading);
    const features = { tokens, grams };
    model.learn(features, input.length % 2 === 0);
    const { score } = model.score(features);
    invariant(Number.isFinite(score) && score >= 0 && score <= 1, `score ${score} outside [0, 1]`);
  },
};

export const SPAM_TARGETS: readonly FuzzTarget[] = [spamTokens];
