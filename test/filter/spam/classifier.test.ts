// The spam classifier on small corpora made here, and its tokens from real MIME: the
// separation, the abstention on what it has not seen, learning from a mistake, and the
// features of encoded, HTML and attached content.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { chi2Q, classifyHashes, featureProbability, TokenCounts } from '../../../src/filter/spam/classifier.ts';
import { messageTokens } from '../../../src/filter/spam/tokens.ts';
import { CHI_LIMIT, SpamModel, type LabelledMessage, type MessageFeatures } from '../../../src/filter/spam/model.ts';
import { messageGrams } from '../../../src/filter/spam/grams.ts';
import { DenseWeights, featureIndex } from '../../../src/filter/spam/logistic.ts';
import { TokenTable, tokenHash } from '../../../src/filter/spam/token-table.ts';

const options = { scratchDir: tmpdir(), maxBytes: 1024 * 1024 };
const tokensOf = (raw: string) => messageTokens(Buffer.from(raw), options);

test('chi2Q: the chi-square survival function for even degrees of freedom', () => {
  assert.equal(chi2Q(0, 2), 1);
  assert.ok(Math.abs(chi2Q(2, 2) - Math.exp(-1)) < 1e-12);
  assert.ok(Math.abs(chi2Q(6, 4) - Math.exp(-3) * 4) < 1e-12);
  assert.equal(chi2Q(5000, 300), 0, 'far in the tail: nothing, not NaN');
});

test('a feature seen only in spam leans to spam, more the more often; an unseen one is the prior', () => {
  const model = { spamMessages: 10, hamMessages: 10 };
  assert.equal(featureProbability(undefined, model), 0.5);
  const once = featureProbability({ spam: 1, ham: 0 }, model);
  const often = featureProbability({ spam: 9, ham: 0 }, model);
  assert.ok(once > 0.5 && often > once && often < 1, `${once} ${often}`);
  assert.ok(featureProbability({ spam: 0, ham: 9 }, model) < 0.05);
});

/** A message of `words` drawn in turn from its list, with the shared filler. */
const messageOf = (subject: string, words: readonly string[], i: number) =>
  `From: <x${i}@example.test>\r\nSubject: ${subject}\r\n\r\n${words.filter((_, j) => (i + j) % 3 !== 0).join(' ')} the and of meeting\r\n`;
const SPAM_WORDS = ['viagra', 'winner', 'lottery', 'casino', 'bitcoin', 'unsubscribe', 'offer', 'cheap'];
const HAM_WORDS = ['kernel', 'patch', 'review', 'release', 'branch', 'merge', 'build', 'commit'];

test('trained on a small corpus it separates new messages, abstains on unseen words, and learns from a mistake', async () => {
  const model = new TokenCounts();
  for (let i = 0; i < 30; i++) {
    model.learnHashes(await tokensOf(messageOf('special offer', SPAM_WORDS, i)), true);
    model.learnHashes(await tokensOf(messageOf('patch review', HAM_WORDS, i)), false);
  }
  const spamScore = classifyHashes(await tokensOf(messageOf('you are a winner', ['lottery', 'casino', 'cheap', 'offer'], 99)), [model]).score;
  const hamScore = classifyHashes(await tokensOf(messageOf('build failed', ['kernel', 'branch', 'merge'], 99)), [model]).score;
  assert.ok(spamScore > 0.95, `spam ${spamScore}`);
  assert.ok(hamScore < 0.05, `ham ${hamScore}`);
  assert.equal(classifyHashes(await tokensOf('Subject: zzz\r\n\r\nqwertyuiop asdfghjkl\r\n'), [model]).score, 0.5, 'nothing known: no opinion');

  // A new kind of spam, dressed in ham's words: scored ham, then learned as spam.
  const sneaky = await tokensOf(messageOf('kernel release', ['kernel', 'release', 'pharmacy', 'discount', 'pills'], 7));
  const before = classifyHashes(sneaky, [model]).score;
  for (let i = 0; i < 3; i++) model.learnHashes(sneaky, true);
  const after = classifyHashes(sneaky, [model]).score;
  assert.ok(after > before + 0.3, `${before} → ${after}`);
  // Unlearning takes it back.
  for (let i = 0; i < 3; i++) model.learnHashes(sneaky, true, -1);
  assert.equal(classifyHashes(sneaky, [model]).score, before);
});

test('a user\'s counts add to the instance\'s: only that user\'s scores change', async () => {
  const global = new TokenCounts();
  for (let i = 0; i < 20; i++) {
    global.learnHashes(await tokensOf(messageOf('offer', SPAM_WORDS, i)), true);
    global.learnHashes(await tokensOf(messageOf('review', HAM_WORDS, i)), false);
  }
  const newsletter = await tokensOf(messageOf('weekly newsletter', ['newsletter', 'digest', 'weekly', 'issue'], 1));
  const alice = new TokenCounts();
  for (let i = 0; i < 10; i++) alice.learnHashes(newsletter, true);
  assert.equal(classifyHashes(newsletter, [global]).score, 0.5, 'the instance has no opinion');
  assert.ok(classifyHashes(newsletter, [global, alice]).score > 0.9, 'alice taught hers that it is spam');
});

test('tokens: subject words by field, base64 and charset decoded, HTML rendered, link domains, attachment extensions', async () => {
  const html = Buffer.from('<html><body><p>Caf&eacute; <b>SPECIAL</b> &amp; deal</p><a href="https://shop.bad.example/x">here</a><script>var hidden=1</script></body></html>').toString('base64');
  const raw = [
    'From: "Shop" <shop@bad.example>',
    'Subject: =?UTF-8?B?R3Jvw59lcyBBbmdlYm90?=',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b"',
    '',
    '--b',
    'Content-Type: text/plain; charset=iso-8859-1',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'Gr=FC=DFe von http://www.example.org/page',
    '--b',
    'Content-Type: text/html',
    'Content-Transfer-Encoding: base64',
    '',
    html,
    '--b',
    'Content-Type: application/octet-stream; name="invoice.PDF.exe"',
    'Content-Transfer-Encoding: base64',
    '',
    'AAAA',
    '--b--',
    '',
  ].join('\r\n');
  const tokens = new Set(await tokensOf(raw));
  for (const expected of ['subject:großes', 'subject:angebot', 'from:shop', 'grüße', 'grüße von', 'url:www.example.org', 'café', 'url:example.org', 'special', 'upper:special', 'url:shop.bad.example', 'url:bad.example', 'html:script', 'attachment:exe', 'type:application/octet-stream', 'content-type:multipart/mixed']) {
    assert.ok(tokens.has(tokenHash(expected)), `${expected} is a feature`);
  }
  assert.ok(!tokens.has(tokenHash('hidden')), 'script text is not read');
  assert.ok(!tokens.has(tokenHash('eacute')), 'entities are decoded or dropped, not words');
});

/** What the model reads of a message: tokens and 4-grams. */
const featuresOf = async (raw: string): Promise<MessageFeatures> => ({ tokens: await tokensOf(raw), grams: messageGrams(Buffer.from(raw)) });

async function smallCorpus(): Promise<LabelledMessage[]> {
  const messages: LabelledMessage[] = [];
  for (let i = 0; i < 30; i++) {
    messages.push({ ...(await featuresOf(messageOf('special offer', SPAM_WORDS, i))), spam: true });
    messages.push({ ...(await featuresOf(messageOf('patch review', HAM_WORDS, i))), spam: false });
  }
  return messages;
}

test('the 4-gram logistic part and the combined model: trained in passes they separate; one learned message moves its score; the weights have a fixed size', async () => {
  const messages = await smallCorpus();
  const model = new SpamModel();
  model.train(messages, 3);
  assert.deepEqual(model.trained, { spam: 30, ham: 30 });
  const spam = model.score(await featuresOf(messageOf('winner', ['lottery', 'casino', 'cheap'], 5)));
  const ham = model.score(await featuresOf(messageOf('merge', ['kernel', 'branch', 'merge'], 5)));
  assert.ok(spam.grams > 0.7 && ham.grams < 0.3, `4-grams ${spam.grams} ${ham.grams}`);
  assert.ok(spam.score > 0.85 && ham.score < 0.15, `combined ${spam.score} ${ham.score}`);
  // The log-odds: the chi-square part's clamped to ±8, the 4-grams' counted twice.
  const logOdds = (p: number) => Math.log(p / (1 - p));
  const chi = Math.max(-CHI_LIMIT, Math.min(CHI_LIMIT, logOdds(spam.chiSquare.score)));
  assert.ok(Math.abs(spam.logOdds - (chi + 2 * logOdds(spam.grams)) / 3) < 1e-9, `log-odds ${spam.logOdds}`);
  assert.ok(Math.abs(spam.score - 1 / (1 + Math.exp(-spam.logOdds))) < 1e-12);

  const odd = await featuresOf(messageOf('newsletter', ['newsletter', 'digest'], 2));
  const before = model.score(odd);
  model.learn(odd, true);
  assert.ok(model.score(odd).grams > before.grams, 'one step towards spam');
  assert.ok(model.score(odd).score > before.score, 'and the combined score with it');
  assert.throws(() => new DenseWeights(new Float32Array(10)), RangeError);
  assert.equal(featureIndex('subject:free'), featureIndex('subject:free'));
  assert.ok(featureIndex('subject:free') < 2 ** 20);
});

test('a user\'s layer: per-user learning changes only that user\'s scores, and survives saving and loading', async () => {
  const messages = await smallCorpus();
  const instance = new SpamModel();
  instance.train(messages, 1);
  const alice = new SpamModel({ sparse: true });
  const newsletter = await featuresOf(messageOf('weekly newsletter', ['newsletter', 'digest', 'weekly', 'issue', 'kernel'], 1));
  const before = instance.score(newsletter).score;
  for (let i = 0; i < 5; i++) alice.learn(newsletter, true, [instance]);
  const forAlice = alice.score(newsletter, [instance]).score;
  assert.ok(forAlice > before + 0.3, `alice: ${before} -> ${forAlice}`);
  assert.equal(instance.score(newsletter).score, before, 'the instance (everyone else) is unchanged');

  const reloaded = SpamModel.fromData(alice.toData(), { sparse: true });
  assert.equal(reloaded.score(newsletter, [instance]).score, forAlice);
  const instanceAgain = SpamModel.fromData(instance.toData());
  assert.equal(instanceAgain.score(newsletter).score, before);
});

test('the token table: counts by hash, growth past half full, pruning the rarest and oldest first', () => {
  const table = new TokenTable(4);
  for (let i = 0; i < 5000; i++) table.add(tokenHash(`w${i}`), 1, i % 3 === 0 ? 1 : 0, 100 + (i % 7));
  assert.equal(table.size, 5000);
  assert.deepEqual(table.get(tokenHash('w3')), { spam: 1, ham: 1 });
  assert.equal(table.get(tokenHash('absent')), undefined);
  table.add(tokenHash('w3'), -5, 0, 200);
  assert.deepEqual(table.get(tokenHash('w3')), { spam: 0, ham: 1 }, 'never below zero');
  for (let i = 0; i < 10; i++) table.add(tokenHash('common'), 1, 0, 50);
  const dropped = table.prune(100);
  assert.equal(dropped, 4901);
  assert.equal(table.columns().hashes.length, 100);
  assert.deepEqual(table.get(tokenHash('common')), { spam: 10, ham: 0 }, 'the most frequent is kept, however old');
  const kept = table.columns();
  assert.ok(kept.seen.every((day, i) => kept.hashes[i] === tokenHash('common') || day >= 100), 'rare ones kept are the most recent');
  assert.ok([...kept.hashes].every((hash, i) => kept.spam[i]! + kept.ham[i]! >= 1));
});

test('4-grams: distinct octet 4-grams of the first 20,000 octets, past an mbox From_ line', () => {
  const raw = Buffer.from('Subject: abab\r\n\r\nabababab');
  const grams = messageGrams(raw);
  assert.equal(new Set(grams).size, grams.length, 'each once');
  assert.deepEqual(messageGrams(Buffer.concat([Buffer.from('From someone@example.test Mon Jan  1 00:00:00 2024\n'), raw])), grams, 'the From_ line is not the message');
  const zzzz = messageGrams(Buffer.from('zzzz'))[0]!;
  assert.ok(messageGrams(Buffer.concat([raw, Buffer.alloc(19_000, 'x'), Buffer.from('zzzz')])).includes(zzzz), 'up to 20,000 octets are read');
  assert.ok(!messageGrams(Buffer.concat([raw, Buffer.alloc(20_000, 'x'), Buffer.from('zzzz')])).includes(zzzz), 'past 20,000 octets nothing is read');
  // Every 4-gram of a long varied message, each once (the set of seen grams never fills up).
  let x = 1;
  const varied = Buffer.from(Array.from({ length: 20_000 }, () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24));
  assert.equal(messageGrams(varied).length, new Set(Array.from({ length: 20_000 - 3 }, (_, i) => varied.subarray(i, i + 4).toString('hex'))).size);
  assert.equal(messageGrams(Buffer.from('abc')).length, 0);
});

test('words: the tokenizer\'s scan finds exactly what the word pattern matches, with pairs and capitals, in any script', async () => {
  // The pattern the scan implements (tokens.ts), as an oracle: the features a body's words give.
  const WORD = /[\p{L}\p{N}$€£¥][\p{L}\p{N}$€£¥'.!%-]*[\p{L}\p{N}$€£¥!%]|[\p{L}\p{N}$€£¥]/gu;
  const expected = (text: string) => {
    const out = new Set<number>([tokenHash('content-type:text/plain'), tokenHash('type:text/plain')]);
    let previous: string | undefined;
    for (const [raw] of text.matchAll(WORD)) {
      if (raw.length > 40) {
        out.add(tokenHash(`long:${Math.min(raw.length, 200) >> 3}`));
        previous = undefined;
        continue;
      }
      const word = raw.toLowerCase();
      out.add(tokenHash(word));
      if (raw.length > 2 && raw !== word && raw === raw.toUpperCase()) out.add(tokenHash(`upper:${word}`));
      if (previous !== undefined) out.add(tokenHash(`${previous} ${word}`));
      previous = word;
    }
    return [...out].sort();
  };
  const alphabet = ['a', 'B', 'z', 'Z', '0', '9', '$', '€', '£', '¥', "'", '.', '!', '%', '-', ' ', '\n', 'é', 'É', 'ß', 'İ', 'Σ', 'ς', '𝐀', '😀', '\ud800', '日', '_', ',', 'ǅ', 'ﬀ', '٣', 'Ⅻ'];
  let x = 11;
  const random = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const texts = ["FREE money!!! Don't miss-out... 100% $5.99 €10 O'Brien ÉTÉ SÜSS İSTANBUL 𝐀𝐁𝐂 end.", 'x'.repeat(45) + ' after'];
  for (let i = 0; i < 300; i++) {
    let text = '';
    for (let j = Math.floor(random() * 120); j > 0; j--) text += random() < 0.03 ? 'q'.repeat(Math.floor(random() * 50)) : alphabet[Math.floor(random() * alphabet.length)];
    texts.push(text);
  }
  for (const text of texts) {
    const raw = Buffer.from(`Content-Type: text/plain; charset=utf-8\r\n\r\n${text}\r\n`);
    const got = [...(await messageTokens(raw, { scratchDir: tmpdir(), maxBytes: 1 << 20 }))].map((h) => h >>> 0).sort();
    assert.deepEqual(got, expected(text.replace(/\ud800/g, '\ufffd')), JSON.stringify(text));
  }
});
