// The spam classifier's reading of a message (src/filter/spam/tokens.ts): any octets as
// a message, every feature bounded, the count bounded, and a classification always a
// number in [0, 1].
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classify, TokenCounts } from '../../src/filter/spam/classifier.ts';
import { MAX_TOKENS, messageTokens } from '../../src/filter/spam/tokens.ts';
import { corpusInputs } from '../lib/inputs.ts';
import { invariant, type FuzzTarget } from '../lib/target.ts';

let scratch: string | undefined;
const model = new TokenCounts();

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
    const tokens = await messageTokens(input, { scratchDir: scratch!, maxBytes: 256 * 1024 });
    invariant(tokens.size <= MAX_TOKENS, 'more features than MAX_TOKENS');
    for (const token of tokens) invariant(token.length > 0 && token.length <= 300, `feature of ${token.length} characters`);
    model.learn(tokens, input.length % 2 === 0);
    const { score } = classify(tokens, [model]);
    invariant(Number.isFinite(score) && score >= 0 && score <= 1, `score ${score} outside [0, 1]`);
  },
};

export const SPAM_TARGETS: readonly FuzzTarget[] = [spamTokens];
