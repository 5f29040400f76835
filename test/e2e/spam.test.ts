// The spam filter seen from outside: an instance trained with `kakitome spam train` on
// a small corpus made here, mail sent to port 25, and what each user and the sender
// see — refused in the session (SPEC: 550 5.7.1, never a bounce), filed in Junk with
// X-Spam-Flag and X-Spam-Status, tagged [SPAM] in INBOX for a POP3 reader, held whole in
// the quarantine and released, a daily digest, expiry, and per-user learning that
// changes only that user's results.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startInstance, type Instance } from '../harness/instance.ts';
import { startDns } from '../harness/dns.ts';
import { setToml } from './two-instances.ts';
import { messagesOf, subjectOf, waitForSubject } from './mailbox.ts';
import { appendToml, message, PASSWORD, SmtpClient, tag } from './smtp.ts';
import { storedMessagesOf, waitForStoredMessages } from './store-files.ts';

const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';
const CAROL = 'carol@example.test';
const SENDER = 'sender@remote.example';

const SPAM_WORDS = ['viagra', 'winner', 'lottery', 'casino', 'bitcoin', 'jackpot', 'pharmacy', 'cheap', 'discount', 'prize', 'millions', 'guaranteed'];
const HAM_WORDS = ['kernel', 'patch', 'review', 'release', 'branch', 'merge', 'build', 'commit', 'meeting', 'agenda', 'minutes', 'schedule'];

/** A training message: words of its kind in turn, from senders and to addresses the test mail never uses. */
function trainingMessage(kind: 'spam' | 'ham', i: number): string {
  const words = kind === 'spam' ? SPAM_WORDS : HAM_WORDS;
  const body = words.filter((_, j) => (i + j) % 3 !== 0).join(' ');
  return [`From: <${kind}${i}@training.invalid>`, `To: <list@training.invalid>`, `Subject: ${words[i % words.length]} ${words[(i + 5) % words.length]}`, '', body, ''].join('\n');
}

const SPAM_CONFIG = `
[spam]
min_ham = 20
min_spam = 20
# Lower than the defaults (quarantine off, reject 9): 30 + 30 made-up messages teach the
# classifier less than real mail does (the corpus's spam reaches 9 two times in three).
quarantine_score = 5.5
reject_score = 7

[[spam.rule]]
name = "EXCLUSIVE_DEAL"
header = "Subject"
keywords = ["exclusive deal"]
score = 4

[[spam.rule]]
name = "HOLD_FOR_REVIEW"
body = true
pattern = "hold-for-review-[0-9]+"
score = 6.5
`;

async function send(instance: Instance, to: readonly string[], content: string): Promise<{ last: string }> {
  const client = await SmtpClient.to(instance);
  try {
    await client.ehlo('client.remote.example');
    return await client.deliver(SENDER, [...to], content);
  } finally {
    await client.quit();
  }
}

/** The message with this subject in ADDRESS's INBOX, once it is there. */
async function delivered(instance: Instance, address: string, subject: string) {
  const messages = await waitForSubject(instance, address, subject);
  return messages.find((m) => subjectOf(m) === subject) ?? assert.fail(`no "${subject}" for ${address}`);
}

/** The header fields of a message as text (unfolded). */
const headerOf = (content: string) => content.slice(0, content.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
const spamScoreOf = (content: string) => Number(/^X-Spam-Score: (-?[\d.]+)\r?$/m.exec(headerOf(content))?.[1] ?? assert.fail(`no X-Spam-Score in\n${headerOf(content)}`));

describe('spam filter: trained with kakitome spam train, it refuses, files junk, holds and tags as configured', () => {
  let instance: Instance;
  let corpus: string;
  before(async () => {
    instance = await startInstance({
      users: [ALICE, BOB, CAROL].map((address) => ({ address, password: PASSWORD })),
      editConfig: appendToml(SPAM_CONFIG),
    });
    corpus = join(instance.dir, 'corpus');
    // Spam as a Maildir, ham as a directory of .eml: two of the kinds `spam train` reads.
    for (const sub of ['cur', 'new', 'tmp']) await mkdir(join(corpus, 'spam', sub), { recursive: true });
    await mkdir(join(corpus, 'ham'), { recursive: true });
    for (let i = 0; i < 30; i++) {
      await writeFile(join(corpus, 'spam', i % 2 ? 'cur' : 'new', `${1000 + i}.x.host:2,S`), trainingMessage('spam', i));
      await writeFile(join(corpus, 'ham', `${i}.eml`), trainingMessage('ham', i));
    }
  });
  after(async () => {
    await instance?.close();
  });

  test('untrained, the classifier abstains: mail is delivered, tagged, with no classifier term', async () => {
    const subject = tag('untrained');
    const reply = await send(instance, [ALICE], message({ from: SENDER, to: ALICE, subject, body: SPAM_WORDS.join(' ') }));
    assert.match(reply.last, /^250 /);
    const copy = await delivered(instance, ALICE, subject);
    const header = headerOf(copy.content);
    assert.match(header, /^X-Spam-Status: No, score=0\.00 required=3\.00 tests=none$/m);
    assert.doesNotMatch(header, /^X-Spam-Flag:/m);
  });

  test('spam train reads a Maildir and a directory of .eml, and serve uses the new model with the next message', async () => {
    const trained = await instance.cli(['spam', 'train', '--spam', join(corpus, 'spam'), '--ham', join(corpus, 'ham')]);
    assert.equal(trained.code, 0, trained.stderr);
    assert.match(trained.stdout, /^trained the instance's model on 30 spam and 30 ham in [\d.]+ s; the model has learned 30 spam and 30 ham, \d+ features\n$/);
    const status = await instance.cli(['spam', 'status']);
    assert.match(status.stdout, /^instance\s+30\s+30\s+\d+\s+\d+\s+\d{4}-/m);
    // Trained again with --replace: the same mail is not counted twice.
    const again = await instance.cli(['spam', 'train', '--replace', '--spam', join(corpus, 'spam'), '--ham', join(corpus, 'ham')]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^trained the instance's model afresh on 30 spam and 30 ham in [\d.]+ s; the model has learned 30 spam and 30 ham, \d+ features\n$/);
    assert.match((await instance.cli(['spam', 'status'])).stdout, /^instance\s+30\s+30\s/m);
  });

  test('spam over reject_score: 550 5.7.1 in the session, nothing stored, nothing queued or bounced', async () => {
    const subject = tag('refused');
    const reply = await send(instance, [ALICE], message({ from: SENDER, to: ALICE, subject: 'lottery winner', body: `${SPAM_WORDS.join(' ')} ${subject}` }));
    const refused = /^550 5\.7\.1 message refused as spam \(score (\d+\.\d\d)\)/.exec(reply.last) ?? assert.fail(reply.last);
    assert.ok(Number(refused[1]) >= 7, `on the classifier alone, at reject_score 7 or more: ${refused[1]}`);
    const queue = await instance.cli(['queue', 'list']);
    assert.equal(queue.code, 0, queue.stderr);
    assert.doesNotMatch(queue.stdout, /@/, `nothing queued (no bounce): ${queue.stdout}`);
    assert.ok(!(await storedMessagesOf(instance, ALICE)).some((m) => m.content.includes(subject)));
    assert.ok(!(await storedMessagesOf(instance, ALICE, 'Junk')).some((m) => m.content.includes(subject)));
  });

  test('ham is delivered to INBOX, tagged No; forged X-Spam fields from outside are removed', async () => {
    const subject = tag('ham');
    const reply = await send(
      instance,
      [ALICE],
      message({ from: SENDER, to: ALICE, subject, body: HAM_WORDS.join(' '), headers: ['X-Spam-Flag: NO', 'X-Spam-Score: -100', 'X-Spam-Status: No, score=-100'] }),
    );
    assert.match(reply.last, /^250 /);
    const copy = await delivered(instance, ALICE, subject);
    const header = headerOf(copy.content);
    assert.equal(header.match(/^X-Spam-Score:/gm)?.length, 1, 'one score: ours');
    assert.match(header, /^X-Spam-Status: No, score=-\d+\.\d\d required=3\.00 tests=BAYES_0=-\d+\.\d\d$/m);
    assert.ok(spamScoreOf(copy.content) <= -5, 'the trained classifier is sure it is ham');
    assert.doesNotMatch(header, /X-Spam-Flag/);
  });

  test('junk by a rule: filed in Junk for a folder user, in INBOX with [SPAM] for an inbox user; each copy says why', async () => {
    const set = await instance.cli(['user', 'junk', BOB, 'inbox']);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout, `${BOB}: junk inbox\n`);
    assert.equal((await instance.cli(['user', 'junk', ALICE])).stdout, `${ALICE}: junk folder\n`);
    const bad = await instance.cli(['user', 'junk', ALICE, 'trash']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'kakitome: junk mode must be one of folder, inbox, digest, got "trash"\n');

    const subject = `An exclusive deal ${tag('junk')}`;
    const reply = await send(instance, [ALICE, BOB], message({ from: SENDER, to: ALICE, subject, body: 'quarterly numbers attached below' }));
    assert.match(reply.last, /^250 /);

    const [junk] = await waitForStoredMessages(instance, ALICE, (ms) => ms.some((m) => subjectOf(m) === subject), { mailbox: 'Junk' });
    const header = headerOf(junk!.content);
    assert.match(header, /^X-Spam-Flag: YES$/m);
    assert.match(header, /^X-Spam-Status: Yes, score=[\d.]+ required=3\.00 tests=(BAYES_\d+=-?[\d.]+,)?EXCLUSIVE_DEAL=4\.00$/m);
    const score = spamScoreOf(junk!.content);
    assert.ok(score >= 3 && score < 5.5, `junk, not held: ${score}`);
    assert.ok(!(await messagesOf(instance, ALICE)).some((m) => subjectOf(m) === subject), 'not in alice\'s INBOX (what POP3 shows)');

    const tagged = await delivered(instance, BOB, `[SPAM] ${subject}`);
    assert.match(headerOf(tagged.content), /^X-Spam-Flag: YES$/m);
  });

  test("spam junk lists a user's Junk; unjunk moves a message to INBOX, where POP3 shows it, and --learn teaches her model", async () => {
    const subject = `exclusive deal ${tag('unjunk')}`;
    assert.match((await send(instance, [ALICE], message({ from: SENDER, to: ALICE, subject, body: 'the real deal from a friend' }))).last, /^250 /);
    await waitForStoredMessages(instance, ALICE, (ms) => ms.some((m) => subjectOf(m) === subject), { mailbox: 'Junk' });
    const list = await instance.cli(['spam', 'junk', ALICE]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^UID\s+RECEIVED\s+SCORE\s+FROM\s+SUBJECT$/m);
    const row = list.stdout.split('\n').find((line) => line.endsWith(subject)) ?? assert.fail(list.stdout);
    const uid = /^(\d+)\s+\d{4}-\S+\s+[\d.]+\s+<sender@remote\.example>\s+/.exec(row)?.[1] ?? assert.fail(row);

    const missing = await instance.cli(['spam', 'unjunk', ALICE, '999']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, `kakitome: ${ALICE}: no message with UID 999 in Junk (kakitome spam junk ${ALICE})\n`);
    const moved = await instance.cli(['spam', 'unjunk', ALICE, uid, '--learn']);
    assert.equal(moved.code, 0, moved.stderr);
    assert.equal(moved.stdout, `moved 1 message from ${ALICE}'s Junk to INBOX, learned as ham into ${ALICE}'s model\n`);
    await delivered(instance, ALICE, subject);
    assert.ok(!(await storedMessagesOf(instance, ALICE, 'Junk')).some((m) => subjectOf(m) === subject), 'gone from Junk');
    assert.match((await instance.cli(['spam', 'status'])).stdout, new RegExp(`^${ALICE.replace('.', '\\.')}\\s+0\\s+1\\s`, 'm'), "alice's own model learned one ham");
  });

  test('quarantine_score ≤ score < reject_score: 250, held whole for an administrator; release delivers it once', async () => {
    const subject = tag('held');
    const reply = await send(instance, [ALICE], message({ from: SENDER, to: ALICE, subject, body: 'please hold-for-review-42 thanks' }));
    assert.match(reply.last, /^250 /, 'accepted: the sender is not told it was held');
    const id = /queued as (\S+)/.exec(reply.last)?.[1] ?? assert.fail(reply.last);
    const list = await instance.cli(['quarantine', 'list']);
    const row = list.stdout.split('\n').find((line) => line.startsWith(id)) ?? assert.fail(list.stdout);
    assert.match(row, new RegExp(`^${id}\\s+spam\\s+${SENDER}\\s+${ALICE}\\s+\\d+\\s+\\S+\\s+spam: score [\\d.]+ \\(.*HOLD_FOR_REVIEW\\)$`));
    const show = await instance.cli(['quarantine', 'show', id]);
    assert.match(show.stdout, /^recipients got: nothing \(held whole\)$/m);
    assert.match(show.stdout, /^ {2}X-Spam-Flag: YES$/m, 'held with the score it was held for');
    assert.ok(!(await storedMessagesOf(instance, ALICE, 'Junk')).some((m) => m.content.includes(subject)));
    assert.ok(!(await messagesOf(instance, ALICE)).some((m) => subjectOf(m) === subject));

    const release = await instance.cli(['quarantine', 'release', id]);
    assert.equal(release.code, 0, release.stderr);
    const released = await delivered(instance, ALICE, subject);
    assert.match(headerOf(released.content), /^X-Spam-Status: Yes, .*HOLD_FOR_REVIEW=6\.50$/m);
    assert.equal((await instance.cli(['quarantine', 'release', id])).code, 1, 'released once');
  });

  test("per-user learning: alice teaches hers that a newsletter is spam; only alice's copy goes to Junk", async () => {
    const newsletter = (subject: string) => message({ from: SENDER, to: ALICE, subject, body: 'weekly gardening newsletter tulips compost seedlings' });
    const sample = join(instance.dir, 'newsletter.eml');
    await writeFile(sample, newsletter('Gardening weekly'));
    const before = await instance.cli(['spam', 'score', '--user', ALICE, sample]);
    const instanceBefore = await instance.cli(['spam', 'score', sample]);
    assert.match(before.stdout, /^0\.\d{4} (unsure|ham) .*newsletter\.eml/m);
    for (let i = 0; i < 4; i++) {
      const learned = await instance.cli(['spam', 'learn', '--spam', '--user', ALICE, sample]);
      assert.equal(learned.code, 0, learned.stderr);
      assert.match(learned.stdout, /^learned 1 message as spam into alice@example\.test's model; the model has learned \d spam and \d ham, \d+ features, on top of the instance's\n$/);
    }
    const afterLearning = await instance.cli(['spam', 'score', '--user', ALICE, sample]);
    assert.match(afterLearning.stdout, /^(0\.9[6-9]|1\.0)\d* spam /m);
    const forBob = await instance.cli(['spam', 'score', sample]);
    assert.equal(forBob.stdout, instanceBefore.stdout, "the instance's score is unchanged");

    const subject = tag('newsletter');
    assert.match((await send(instance, [ALICE, BOB], newsletter(subject))).last, /^250 /);
    await waitForStoredMessages(instance, ALICE, (ms) => ms.some((m) => subjectOf(m) === subject), { mailbox: 'Junk', what: "the newsletter in alice's Junk" });
    const bobs = await delivered(instance, BOB, subject);
    assert.match(headerOf(bobs.content), /^X-Spam-Status: No, /m);
  });

  test('digest: a user who reads over POP3 gets one message listing what went to Junk, once a day', async () => {
    assert.equal((await instance.cli(['user', 'junk', CAROL, 'digest'])).code, 0);
    const subject = `exclusive deal ${tag('digest')}`;
    assert.match((await send(instance, [CAROL], message({ from: SENDER, to: CAROL, subject, body: 'nothing special' }))).last, /^250 /);
    await waitForStoredMessages(instance, CAROL, (ms) => ms.some((m) => subjectOf(m) === subject), { mailbox: 'Junk' });
    const sent = await instance.cli(['spam', 'digest']);
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(sent.stdout, '1 junk digest sent\n');
    const digest = await delivered(instance, CAROL, 'Junk mail: 1 message filed as spam');
    assert.match(digest.content, new RegExp(`^ {2}\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d {2}<${SENDER}> {2}${subject} {2}\\(score [\\d.]+\\)\\r$`, 'm'));
    assert.match(digest.content, /^Auto-Submitted: auto-generated\r$/m);
    assert.equal((await instance.cli(['spam', 'digest'])).stdout, '0 junk digests sent\n', 'not again within a day');
  });
});

describe('spam filter: a scored block list adds points instead of refusing', () => {
  test('[dnsbl] scored_zones: a listed client is greeted and its mail scored DNSBL_<ZONE>; an unlisted one is not', async (t) => {
    const LISTED = '127.0.0.6';
    const dns = await startDns({ a: { '6.0.0.127.broad.test': '127.0.0.2' }, txt: {} }, { t });
    const instance = await startInstance({
      t,
      dns: dns.server,
      users: [{ address: ALICE, password: PASSWORD }],
      editConfig: (toml) => setToml(toml, { 'dnsbl.scored_zones': ['broad.test'] }),
    });
    for (const [from, listed] of [[LISTED, true], ['127.0.0.7', false]] as const) {
      const subject = tag('scored');
      const client = await SmtpClient.to(instance, { localAddress: from });
      try {
        client.assertReply(client.greeting!, '220', `a scored list never refuses ${from} at connect`);
        await client.ehlo('client.remote.example');
        client.assertReply(await client.deliver(SENDER, [ALICE], message({ from: SENDER, to: ALICE, subject })), '250 2.0.0', 'accepted');
      } finally {
        await client.quit();
      }
      if (listed) {
        // 3 points ≥ junk_score 3: Junk.
        const junk = await waitForStoredMessages(instance, ALICE, (ms) => ms.some((m) => subjectOf(m) === subject), { mailbox: 'Junk' });
        const header = headerOf(junk.find((m) => subjectOf(m) === subject)!.content);
        assert.match(header, /^X-Spam-Status: Yes, score=3\.00 required=3\.00 tests=DNSBL_BROAD_TEST=3\.00$/m);
      } else {
        assert.match(headerOf((await delivered(instance, ALICE, subject)).content), /^X-Spam-Status: No, score=0\.00 required=3\.00 tests=none$/m);
      }
    }
  });
});

describe('spam filter: junk expires by itself', () => {
  test('junk older than junk_keep is deleted when serve sweeps (at start, then hourly)', async (t) => {
    const instance = await startInstance({
      t,
      users: [{ address: ALICE, password: PASSWORD }],
      editConfig: appendToml(`${SPAM_CONFIG.replace('[spam]', '[spam]\njunk_keep = "1s"')}`),
    });
    const subject = `exclusive deal ${tag('expire')}`;
    assert.match((await send(instance, [ALICE], message({ from: SENDER, to: ALICE, subject, body: 'x' }))).last, /^250 /);
    await waitForStoredMessages(instance, ALICE, (ms) => ms.some((m) => subjectOf(m) === subject), { mailbox: 'Junk' });
    await sleep(1100);
    await instance.restart();
    await instance.waitForLog((entry) => entry.msg === 'expired junk deleted' && entry.count === 1);
    assert.deepEqual(await storedMessagesOf(instance, ALICE, 'Junk'), []);
  });
});
