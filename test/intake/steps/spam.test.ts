// The spam step on drafts made here, with models trained here: how the total is made
// (classifier, rules, the other checks' facts), when the classifier abstains, what each
// threshold does, per-recipient results, and that incoming X-Spam fields do not survive.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { MessageContent } from '../../../src/intake/content.ts';
import { imitatesLocalDomain, spamStep, type SpamStepOptions } from '../../../src/intake/steps/spam.ts';
import type { Draft, IntakeContext, PlannedRecipient, StepVerdict } from '../../../src/intake/step.ts';
import { SpamModel } from '../../../src/filter/spam/model.ts';
import { messageTokens } from '../../../src/filter/spam/tokens.ts';
import { messageGrams } from '../../../src/filter/spam/grams.ts';
import { keywordPattern, parseLinearPattern } from '../../../src/config/pattern.ts';
import { configSchema } from '../../../src/config/schema.ts';
import type { JunkMode } from '../../../src/store/spam.ts';

const context = { origin: 'mta', queueId: 'q', mailFrom: '', envelopeRecipients: [], client: { address: '127.0.0.9' }, hostname: 'mail.example.test', now: new Date(0), logger: pino({ level: 'silent' }) } as unknown as IntakeContext;
const mailbox = (userId: number): PlannedRecipient => ({ kind: 'mailbox', userId, folder: 'INBOX', flags: [], keywords: [] });
const draftOf = (raw: string, notes: Record<string, unknown> = {}, recipients: PlannedRecipient[] = [mailbox(1)]): Draft => {
  const content = MessageContent.fromBuffer(Buffer.from(raw));
  return { original: content, content, recipients, notes, topOctets: 0 };
};
const SPAM_WORDS = ['viagra', 'winner', 'lottery', 'casino', 'jackpot', 'prize'];
const HAM_WORDS = ['kernel', 'patch', 'review', 'release', 'branch', 'merge'];
const text = (subject: string, words: readonly string[], i: number, extra = '') =>
  `From: <x${i}@sender.invalid>\r\nSubject: ${subject}\r\n${extra}\r\n${words.filter((_, j) => (i + j) % 3 !== 0).join(' ')}\r\n`;

let scratch: string;
let instance: SpamModel;
before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'kakitome-spam-step-'));
  instance = new SpamModel();
  const messages = [];
  for (let i = 0; i < 30; i++) {
    for (const [words, spam] of [[SPAM_WORDS, true], [HAM_WORDS, false]] as const) {
      const raw = text(words[i % words.length]!, words, i);
      messages.push({ tokens: await messageTokens(Buffer.from(raw), { scratchDir: scratch, maxBytes: 1 << 20 }), grams: messageGrams(Buffer.from(raw)), spam });
    }
  }
  instance.train(messages, 1);
});
after(() => rmSync(scratch, { recursive: true, force: true }));

function options(overrides: Partial<SpamStepOptions> & { users?: Record<number, SpamModel>; modes?: Record<number, JunkMode>; trained?: boolean } = {}): SpamStepOptions {
  const { users = {}, modes = {}, trained = true, ...rest } = overrides;
  return {
    models: {
      layers: async (userId) => [...(trained ? [instance] : []), ...(userId !== undefined && users[userId] ? [users[userId]!] : [])],
      junkMode: async (userId) => modes[userId] ?? 'folder',
    },
    rules: [],
    scores: configSchema.parse({ hostname: 'mail.example.test' }).spam.scores,
    thresholds: { junk: 2, quarantine: 7, reject: 9 },
    minHam: 20,
    minSpam: 20,
    localDomains: async () => ['example.test'],
    scratchDir: scratch,
    maxBytes: 1 << 20,
    ...rest,
  };
}

const notesOf = (verdict: StepVerdict) => verdict.notes?.spam as { score: number; action: string; tests: string };

test('trained spam past reject_score: 550 5.7.1 in the session, naming the score', async () => {
  const verdict = await spamStep(options()).run(draftOf(text('lottery prize', SPAM_WORDS, 7)), context);
  assert.equal(verdict.action, 'reject');
  assert.ok(verdict.action === 'reject' && /^message refused as spam \(score (9|10)\.\d\d\)$/.test(verdict.reply.text) && verdict.reply.code === 550 && verdict.reply.enhanced === '5.7.1');
});

test('below min_ham or min_spam the classifier abstains: the same spam is only tagged', async () => {
  for (const step of [spamStep(options({ trained: false })), spamStep(options({ minHam: 31 }))]) {
    const verdict = await step.run(draftOf(text('lottery prize', SPAM_WORDS, 7)), context);
    assert.equal(verdict.action, 'modify');
    assert.deepEqual(notesOf(verdict), { score: 0, action: 'tag', tests: '' });
  }
});

test('rules: a header keyword, a body pattern; facts from earlier steps; the total and the action follow', async () => {
  const rules = [
    { name: 'DEAL', header: 'subject', pattern: keywordPattern(['exclusive deal']), points: 1.5 },
    { name: 'WIRE', header: '', pattern: parseLinearPattern('wire \\$?[0-9]+'), points: 2 },
    { name: 'NOT_HERE', header: 'x-mailer', pattern: keywordPattern(['deal']), points: 50 },
  ];
  const step = spamStep(options({ trained: false, rules }));
  const raw = 'From: "Bank" <a@bank.invalid>\r\nSubject: An Exclusive  Deal\r\n\r\nplease WIRE $5000 today\r\n';
  const verdict = await step.run(draftOf(raw, { auth: { spf: 'fail', dkim: 'fail:bank.invalid:rsa-sha256', dmarc: 'none' } }), context);
  // 1.5 + 2 + spf_fail 1 + dkim_fail 1 = 5.5: junk (below quarantine 7).
  assert.deepEqual(notesOf(verdict), { score: 5.5, action: 'junk', tests: 'SPF_FAIL,DKIM_FAIL,DEAL,WIRE' });
  assert.ok(verdict.action === 'modify');
  assert.deepEqual(verdict.recipients, [
    { userId: 1, folder: 'Junk', fields: 'X-Spam-Flag: YES\r\nX-Spam-Score: 5.50\r\nX-Spam-Status: Yes, score=5.50 required=2.00\r\n\ttests=SPF_FAIL=1.00,DKIM_FAIL=1.00,DEAL=1.50,WIRE=2.00\r\n' },
  ]);

  // A DKIM pass beside a fail is no DKIM failure; a stripped attachment and DMARC p=quarantine count.
  const strict = spamStep(options({ trained: false, rules, scores: { ...options().scores, dmarc_fail: 2, attachment_blocked: 2 } }));
  const second = await strict.run(draftOf('Subject: hi\r\n\r\nx\r\n', { auth: { spf: 'pass', dkim: 'fail:a.invalid:rsa-sha256,pass:b.invalid:ed25519-sha256', dmarc: 'fail' }, quarantine: true, attachments: 'stripped 1' }), context);
  assert.deepEqual(notesOf(second), { score: 7, action: 'quarantine', tests: 'DMARC_FAIL,DMARC_QUARANTINE,ATTACHMENT_BLOCKED' });
  assert.ok(second.action === 'hold' && second.reason === 'spam' && second.detail === 'score 7.00 (DMARC_FAIL, DMARC_QUARANTINE, ATTACHMENT_BLOCKED)');
});

test('per recipient: a user whose own model knows better gets their own result; inbox mode tags the Subject; remote copies get the fields', async () => {
  const newsletter = text('gardening weekly', ['tulips', 'compost', 'seedlings', 'mulch'], 1);
  const alice = new SpamModel({ sparse: true });
  const features = { tokens: await messageTokens(Buffer.from(newsletter), { scratchDir: scratch, maxBytes: 1 << 20 }), grams: messageGrams(Buffer.from(newsletter)) };
  for (let i = 0; i < 5; i++) alice.learn(features, true, [instance]);
  const step = spamStep(options({ users: { 1: alice, 2: alice }, modes: { 2: 'inbox' } }));
  const verdict = await step.run(draftOf(newsletter, {}, [mailbox(1), mailbox(2), mailbox(3), { kind: 'remote', address: 'far@remote.invalid' }]), context);
  assert.ok(verdict.action === 'modify' && verdict.recipients);
  const [one, two, three, remote] = verdict.recipients as Array<Record<string, unknown>>;
  assert.equal(one!.folder, 'Junk');
  assert.equal(two!.subjectTag, '[SPAM]');
  assert.equal(two!.folder, undefined, 'inbox mode: stays in INBOX');
  assert.equal(three!.folder, undefined, 'user 3 has no model of their own: the instance does not call it junk');
  assert.match(String(three!.fields), /^X-Spam-Score: -?\d\.\d\d\r\nX-Spam-Status: No, /);
  assert.equal(remote!.address, 'far@remote.invalid');
  assert.equal(remote!.fields, three!.fields, "a forwarded copy gets the instance's result");
});

test('incoming X-Spam fields are removed; ours are the only ones', async () => {
  const raw = 'X-Spam-Flag: NO\r\nSubject: s\r\nX-Spam-Score: -50\r\nx-spam-status: No\r\nX-Spam-Level: \r\n\r\nbody\r\n';
  const verdict = await spamStep(options({ trained: false })).run(draftOf(raw), context);
  assert.ok(verdict.action === 'modify');
  const edited = draftOf(raw).content.edit(verdict.edits!);
  assert.equal((await edited.read()).toString(), 'Subject: s\r\n\r\nbody\r\n');
});

test('a From display name that shows a local domain while the address is elsewhere', async () => {
  const local = async () => ['example.test', 'corp.example'];
  const from = (value: string) => [{ name: 'From', value }];
  assert.equal(await imitatesLocalDomain(from('"IT desk it@example.test" <x@evil.invalid>'), local), true);
  assert.equal(await imitatesLocalDomain(from('corp.example payroll <pay@evil.invalid>'), local), true);
  assert.equal(await imitatesLocalDomain(from('"IT desk" <it@example.test>'), local), false, 'the address is local: DMARC answers for it');
  assert.equal(await imitatesLocalDomain(from('"notexample.test.evil" <x@evil.invalid>'), local), false, 'not the domain, a longer name');
  assert.equal(await imitatesLocalDomain(from('x@evil.invalid'), local), false, 'no display name');
  const verdict = await spamStep(options({ trained: false })).run(draftOf('From: "Helpdesk example.test" <a@evil.invalid>\r\nSubject: s\r\n\r\nb\r\n'), context);
  assert.deepEqual(notesOf(verdict), { score: 3, action: 'junk', tests: 'DISPLAY_NAME_IMITATION' });
});

test('a scored block list adds its points, named after the zone', async () => {
  const asked: string[] = [];
  const step = spamStep(options({ trained: false, listedIn: async (address) => (asked.push(address), 'zen.example.invalid') }));
  const verdict = await step.run(draftOf('Subject: s\r\n\r\nb\r\n'), context);
  assert.deepEqual(asked, ['127.0.0.9']);
  assert.deepEqual(notesOf(verdict), { score: 3, action: 'junk', tests: 'DNSBL_ZEN_EXAMPLE_INVALID' });
});

test('untrained and without body rules the body is not read; header rules and the display name see the same decoded fields either way', async () => {
  const raw = 'From: =?UTF-8?B?' + Buffer.from('Grüße example.test').toString('base64') + '?= <a@evil.invalid>\r\nSubject: Größe Ära\r\n\r\nbody\r\n';
  const rules = [{ name: 'UMLAUT', header: 'subject', pattern: keywordPattern(['größe']), points: 1 }];
  const headerOnly = await spamStep(options({ trained: false, rules })).run(draftOf(raw), context);
  const withBody = await spamStep(options({ trained: false, rules: [...rules, { name: 'NEVER', header: '', pattern: keywordPattern(['zzzz']), points: 1 }] })).run(draftOf(raw), context);
  assert.deepEqual(notesOf(headerOnly), { score: 4, action: 'junk', tests: 'DISPLAY_NAME_IMITATION,UMLAUT' });
  assert.deepEqual(notesOf(withBody), notesOf(headerOnly));
});
