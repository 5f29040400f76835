// The outbound queue (issue 5), end to end between two instances that find each other
// through real DNS (dnsmasq): A (127.0.0.2, a.test) and B (127.0.0.3, b.test), see
// two-instances.ts. Mail submitted at A for b.test arrives in B's mailbox (over
// opportunistic STARTTLS, with A's Received header); a receiver that is down gets the
// message when it is back (retries with backoff, visible in `kakitome queue list`); a
// 550 from the receiver, a null MX (RFC 7505) and expiry (`outbound.max_age`) produce
// an RFC 3464 DSN in the local sender's mailbox — and mail that no local user submitted
// is never bounced; the hold window (`outbound.hold`) with `queue cancel` (the sender is
// told) and `queue retry`; `queue list|show` and their errors.
//
// One pair serves the whole file; A is reconfigured (and restarted) between phases:
//   1. hold 0s                 delivery, DSNs, no backscatter, receiver down
//   2. hold 1h                 hold, cancel, retry
//   3. hold 0s, max_age 3s     expiry
// No test needs another to have run first (each passes alone with --test-name-pattern).
// "Nothing arrived" is checked only after a positive event shows the queue has done its
// work: A's log ("delivery attempt", "delivery failed; …") or a later message arriving.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { pop3Fetch, smtpSend } from '../harness/clients.ts';
import { messagesOf, subjectOf, waitForMessages, waitForSubject, type StoredMessage } from './mailbox.ts';
import { SmtpClient, tag } from './smtp.ts';
import {
  ALICE,
  BOB,
  describeMessages,
  dsnsFor,
  headerSection,
  headerValues,
  isDsn,
  loggedIn,
  PASSWORD,
  QUEUE_EMPTY,
  queueCli,
  queueEntry,
  queueIdOf,
  queueList,
  startPair,
  submissionMessage,
  submit,
  updateConfig,
  waitForQueue,
  watchFailures,
  type Pair,
} from './two-instances.ts';

const ANN = 'ann@a.test'; // a second local user at A
const CAROL_B = 'carol@b.test'; // a user at B who writes to A from the internet
const NOBODY_B = 'nobody@b.test'; // does not exist at B: 550 5.1.1
const FWD = 'fwd@a.test'; // alias at A forwarding to B (one good, one unknown recipient)
const NULL_MX = 'nullmx.test';
const DEAD = 'dead.test'; // MX → a host where nothing listens

/**
 * The number of delivery attempts the queue states: the ATTEMPTS column of a
 * `queue list` table (header line right above the entry), or "attempts: N" / "attempts N" (never a date such as
 * "next attempt 2026-…").
 */
function attemptsIn(text: string): number {
  const counts = [...text.matchAll(/\battempts\s*[:=]?\s*(\d+)(?![\d:-])/gi)].map((m) => Number(m[1]));
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const column = /\bATTEMPTS\b/.exec(lines[i]!);
    if (!column) continue;
    const row = lines[i + 1] ?? ''; // queueDetails puts the header right above the entry
    const cell = /^\s*(\d+)(?=\s|$)/.exec(row.slice(column.index));
    if (cell) counts.push(Number(cell[1]));
  }
  return counts.length ? Math.max(...counts) : 0;
}

/** What the queue says about one id: its `queue list` entry and `queue show` output. */
async function queueDetails(pair: Pair, id: string): Promise<string> {
  const list = await queueList(pair.a);
  const entry = queueEntry(list, id);
  const listed = entry ? `${list.split('\n').find((line) => /\bATTEMPTS\b/.test(line)) ?? ''}\n${entry}` : '(not in queue list)';
  const shown = await queueCli(pair.a, ['show', id]);
  return `queue list:\n${listed}\nqueue show (exit ${shown.code}):\n${shown.stdout}${shown.stderr}`;
}

async function waitForDetails(pair: Pair, id: string, done: (details: string) => boolean, what: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const details = await queueDetails(pair, id);
    if (done(details)) return details;
    if (Date.now() >= deadline) assert.fail(`the queue did not show ${what} for ${id} within ${timeoutMs} ms:\n${details}`);
    await sleep(300);
  }
}

const find = (messages: readonly StoredMessage[], subject: string) => messages.find((m) => subjectOf(m) === subject);

/** A's "delivery attempt" log entries for queue id `id`, in order. */
const attemptsLogged = (pair: Pair, id: string) => pair.a.logEntries().filter((entry) => entry.msg === 'delivery attempt' && entry.queueId === id);

/** Waits for A's log to say the queue gave up on `id` (with or without a notice to the sender). */
const waitForGiveUp = (pair: Pair, id: string, msg: string, timeoutMs = 20_000) =>
  pair.a.waitForLog((entry) => entry.msg === msg && entry.queueId === id, timeoutMs); // hang guard

async function waitForDsn(pair: Pair, recipient: string, timeoutMs: number): Promise<StoredMessage> {
  const messages = await waitForMessages(pair.a, ALICE, (all) => dsnsFor(all, recipient).length > 0, {
    timeoutMs,
    what: `a DSN (multipart/report; report-type=delivery-status) naming ${recipient}`,
  }).catch(async (error: Error) => {
    throw new Error(`${error.message}\n${describeMessages(await messagesOf(pair.a, ALICE).catch(() => []))}`);
  });
  return dsnsFor(messages, recipient)[0]!;
}

describe('outbound queue between two instances', () => {
  let pair: Pair;
  const failed = watchFailures();

  before(async () => {
    pair = await startPair({
      a: {
        users: [ALICE, ANN].map((address) => ({ address, password: PASSWORD })),
        aliases: { [FWD]: [NOBODY_B, BOB] },
      },
      b: { users: [BOB, CAROL_B].map((address) => ({ address, password: PASSWORD })) },
      records: { mx: { [DEAD]: { exchange: `mail.${DEAD}`, priority: 10 } }, a: { [`mail.${DEAD}`]: '127.0.0.9' } },
      nullMx: [NULL_MX],
    });
  });
  after(async () => {
    if (pair) await pair.close(failed());
  });

  describe('phase 1: no hold', () => {
    test('queue list on an empty queue says "queue is empty"', async () => {
      const out = await queueList(pair.a);
      assert.match(out, QUEUE_EMPTY);
    });

    test('smtplib (starttls + login) at A for bob@b.test: in B\'s mailbox, over STARTTLS, with A\'s Received header; readable over POP3', async () => {
      const subject = tag('a2b');
      // Without Message-ID and Date: the MSA adds them (RFC 6409 §8), and B's user sees them.
      const sent = await smtpSend({
        host: pair.a.host, port: pair.a.ports.submission, security: 'starttls', trust: { cafile: pair.a.certPath },
        user: ALICE, password: PASSWORD, from: ALICE, to: [BOB], message: submissionMessage({ from: ALICE, to: BOB, subject, noDate: true, noMessageId: true }),
      });
      assert.ok(sent.ok, `submission at A failed: ${JSON.stringify(sent)}`);
      const message = find(await waitForSubject(pair.b, BOB, subject, 10_000), subject)!;
      const received = headerValues(message, 'Received');
      const byA = received.filter((value) => /\bby mail\.a\.test\b/.test(value));
      const byB = received.filter((value) => /\bby mail\.b\.test\b/.test(value));
      assert.equal(byA.length, 1, `expected one Received header by mail.a.test:\n${headerSection(message)}`);
      assert.equal(byB.length, 1, `expected one Received header by mail.b.test:\n${headerSection(message)}`);
      assert.ok(received.indexOf(byB[0]!) < received.indexOf(byA[0]!), 'B\'s Received header is above A\'s');
      assert.match(byB[0]!, /\bwith ESMTPS/, `A did not use STARTTLS towards B (opportunistic TLS): ${byB[0]}`);
      assert.match(byB[0]!, /\[127\.0\.0\.2\]/, `B must see the message come from A's outbound.source_ip 127.0.0.2: ${byB[0]}`);
      assert.deepEqual(headerValues(message, 'From'), [`<${ALICE}>`]);
      assert.equal(headerValues(message, 'Message-ID').length, 1, `B's copy needs one Message-ID:\n${headerSection(message)}`);
      assert.equal(headerValues(message, 'Date').length, 1, `B's copy needs one Date:\n${headerSection(message)}`);

      const fetched = await pop3Fetch({ host: pair.b.host, port: pair.b.ports.pop3s, trust: { cafile: pair.b.certPath }, user: BOB, password: PASSWORD });
      assert.ok(fetched.messages?.some((m) => m.text.includes(`Subject: ${subject}`)), `bob's POP3 maildrop lacks ${subject}: ${JSON.stringify(fetched).slice(0, 500)}`);

      await waitForQueue(pair.a, (out) => QUEUE_EMPTY.test(out), '"queue is empty" after the delivery');
    });

    test('a spoofed header From for a remote recipient: 550 5.7.1 at the end of DATA, nothing queued, nothing sent', async () => {
      const subject = tag('spoof');
      const client = await loggedIn(pair.a, ALICE);
      try {
        const reply = await client.deliver(ALICE, [BOB], submissionMessage({ from: ALICE, to: BOB, subject, headerFrom: '<ceo@b.test>' }));
        client.assertReply(reply, '550 5.7.1', 'header From of another domain');
      } finally {
        await client.quit();
      }
      assert.match(await queueList(pair.a), QUEUE_EMPTY, 'the refused message is in the queue');
      // Nothing was queued (the list above), so there is nothing the queue could still send: no wait is needed.
      assert.equal(find(await messagesOf(pair.b, BOB), subject), undefined, 'B got the refused message');
    });

    test('B answers 550 for one of two recipients: the other gets it, the sender gets a DSN (multipart/report) for the failed one with 5.1.1', async () => {
      const subject = tag('dsn550');
      const { id } = await submit(pair.a, ALICE, [BOB, NOBODY_B], subject);
      await waitForSubject(pair.b, BOB, subject, 10_000);
      const dsn = await waitForDsn(pair, NOBODY_B, 10_000);
      assert.ok(isDsn(dsn), 'Content-Type: multipart/report; report-type=delivery-status');
      assert.match(dsn.content, /^Action:\s*failed\s*$/im, `DSN without Action: failed:\n${dsn.content}`);
      assert.match(dsn.content, /^Status:\s*5\.1\.1\s*$/im, `DSN without Status: 5.1.1:\n${dsn.content}`);
      assert.equal(dsnsFor([dsn], BOB).length, 0, `the DSN names bob, who got the message:\n${dsn.content}`);
      assert.ok(dsn.content.includes(subject) || dsn.content.includes(id), `the DSN does not identify the message (subject ${subject} or id ${id}):\n${dsn.content}`);
      await waitForQueue(pair.a, (out) => !out.includes(id), `${id} gone from the queue`);
    });

    test('no backscatter: mail from the internet forwarded by an alias and refused by B is not bounced', async () => {
      const subject = tag('noback');
      const smtp = await SmtpClient.to(pair.a);
      let id: string;
      try {
        await smtp.ehlo('mail.b.test');
        const reply = await smtp.deliver(CAROL_B, [FWD], submissionMessage({ from: CAROL_B, to: FWD, subject }));
        smtp.assertReply(reply, '250 2.0.0', 'port 25 mail for a forwarding alias');
        id = queueIdOf(reply);
      } finally {
        await smtp.quit();
      }
      // The forward to bob proves A's queue tried B (where nobody@b.test got 550).
      await waitForSubject(pair.b, BOB, subject, 10_000);
      // The queue's decision about the failed recipient, logged once it is made: no notice (and why).
      const decision = await waitForGiveUp(pair, id, 'delivery failed; no notice sent');
      assert.match(String(decision.why), /\S/, `no reason given for sending no notice: ${JSON.stringify(decision)}`);
      assert.equal(pair.a.logEntries().filter((entry) => entry.queueId === id && entry.msg === 'delivery failed; notice sent to the sender').length, 0);
      await waitForQueue(pair.a, (out) => QUEUE_EMPTY.test(out), 'an empty queue after the forward');
      const carolsMail = await messagesOf(pair.b, CAROL_B);
      assert.equal(carolsMail.length, 0, `the internet sender was sent something (backscatter):\n${describeMessages(carolsMail)}`);
      assert.equal(dsnsFor(await messagesOf(pair.a, ALICE), NOBODY_B).filter((m) => m.content.includes(subject)).length, 0);
      assert.match(await queueList(pair.a), QUEUE_EMPTY, 'a bounce waits in A\'s queue');
    });

    test('null MX (RFC 7505): an immediate DSN, no retries', async () => {
      const recipient = `someone@${NULL_MX}`;
      const { id } = await submit(pair.a, ALICE, recipient, tag('nullmx'));
      const dsn = await waitForDsn(pair, recipient, 20_000);
      assert.match(dsn.content, /^Action:\s*failed\s*$/im, `DSN without Action: failed:\n${dsn.content}`);
      assert.match(dsn.content, /^Status:\s*5\.\d{1,3}\.\d{1,3}\s*$/im, `DSN without a permanent Status:\n${dsn.content}`);
      // Immediate means: the first attempt was final (permanent), and there was no other.
      await waitForGiveUp(pair, id, 'delivery failed; notice sent to the sender');
      const attempts = attemptsLogged(pair, id);
      assert.deepEqual(attempts.map((entry) => [entry.attempt, entry.result]), [[1, 'permanent']], `expected one permanent attempt:\n${attempts.map((e) => JSON.stringify(e)).join('\n')}`);
      await waitForQueue(pair.a, (out) => !out.includes(id), `${id} gone from the queue`);
    });

    test('receiver down: queue list shows attempts and the last error; delivered when B is back', async () => {
      await pair.b.stop();
      let id: string;
      const subject = tag('down');
      try {
        ({ id } = await submit(pair.a, ALICE, BOB, subject));
        const details = await waitForDetails(
          pair,
          id,
          (text) => attemptsIn(text) >= 1 && /refused/i.test(text),
          'at least one attempt and the last error (connection refused)',
          10_000,
        );
        assert.ok(details.includes(BOB), `the queue entry does not name the recipient:\n${details}`);
      } finally {
        if (!pair.b.running()) await pair.b.restart();
      }
      await waitForSubject(pair.b, BOB, subject, 15_000);
      await waitForQueue(pair.a, (out) => !out.includes(id), `${id} gone from the queue after delivery`);
      assert.equal(dsnsFor(await messagesOf(pair.a, ALICE), BOB).length, 0, 'a temporary failure must not bounce');
    });
  });

  describe('phase 2: hold 1h', () => {
    before(async () => {
      await updateConfig(pair.a, { 'outbound.hold': '1h' });
      await pair.a.restart();
    });

    test('held mail is listed as held; queue cancel removes it, never tries it, and the sender gets a DSN saying so', async () => {
      const subject = tag('cancel');
      const { id } = await submit(pair.a, ALICE, BOB, subject);
      const listed = queueEntry(await queueList(pair.a), id);
      assert.ok(listed, `queue list does not show ${id}:\n${await queueList(pair.a)}`);
      assert.match(listed, /\b(held|hold)\b/i, `queue list does not show ${id} as held:\n${listed}`);

      const shown = await queueCli(pair.a, ['show', id]);
      assert.equal(shown.code, 0, `queue show ${id} failed:\n${shown.stderr}`);
      assert.ok(shown.stdout.includes(BOB) && shown.stdout.includes(ALICE), `queue show names neither sender nor recipient:\n${shown.stdout}`);

      const before = (await messagesOf(pair.a, ALICE)).length;
      const cancelled = await queueCli(pair.a, ['cancel', id]);
      assert.equal(cancelled.code, 0, `queue cancel ${id} failed (exit ${cancelled.code}):\n${cancelled.stdout}${cancelled.stderr}`);
      assert.ok(!(await queueList(pair.a)).includes(id), `${id} is still listed after cancel`);

      assert.match(cancelled.stdout, new RegExp(`notice sent to ${ALICE}`), `queue cancel did not tell the sender:\n${cancelled.stdout}`);

      // The notice is an RFC 3464 DSN for bob, about this message: cancelled, a permanent failure.
      const all = await waitForMessages(pair.a, ALICE, (messages) => messages.length > before, { what: 'a cancellation notice' });
      const notices = dsnsFor(all.slice(before), BOB);
      assert.equal(notices.length, 1, `expected one DSN (multipart/report; report-type=delivery-status) naming ${BOB}:\n${describeMessages(all.slice(before))}`);
      const notice = notices[0]!;
      assert.match(notice.content, /^Action:\s*failed\s*$/im, `cancellation DSN without Action: failed:\n${notice.content}`);
      assert.match(notice.content, /^Status:\s*5\.\d{1,3}\.\d{1,3}\s*$/im, `cancellation DSN without a permanent Status:\n${notice.content}`);
      assert.match(notice.content, /cancelled by the administrator/i, `the DSN does not say the message was cancelled:\n${notice.content}`);
      assert.match(notice.content, new RegExp(`^X-Queue-ID:\\s*${id}\\s*$`, 'im'), `the DSN does not name queue id ${id}:\n${notice.content}`);
      assert.ok(notice.content.includes(`Subject: ${subject}`), `the DSN does not carry the cancelled message's header:\n${notice.content}`);

      const again = await queueCli(pair.a, ['retry', id]);
      assert.notEqual(again.code, 0, `queue retry of a cancelled message succeeded:\n${again.stdout}`);
      assert.equal(attemptsLogged(pair, id).length, 0, `A tried to deliver the cancelled message:\n${JSON.stringify(attemptsLogged(pair, id))}`);
    });

    test('a message cancelled while held is not sent after the hold is lifted (restart with hold 0s)', async () => {
      const subject = tag('cancel-lift');
      const { id } = await submit(pair.a, ALICE, BOB, subject);
      const cancelled = await queueCli(pair.a, ['cancel', id]);
      assert.equal(cancelled.code, 0, `queue cancel ${id} failed (exit ${cancelled.code}):\n${cancelled.stdout}${cancelled.stderr}`);
      await updateConfig(pair.a, { 'outbound.hold': '0s' });
      try {
        await pair.a.restart();
        // A later message from the same sender to the same recipient arriving shows the queue has run since the restart.
        const later = tag('after-lift');
        await submit(pair.a, ALICE, BOB, later);
        const bobs = await waitForSubject(pair.b, BOB, later);
        assert.equal(find(bobs, subject), undefined, 'B got the cancelled message after the hold was lifted');
        assert.equal(attemptsLogged(pair, id).length, 0, `A tried to deliver the cancelled message:\n${JSON.stringify(attemptsLogged(pair, id))}`);
      } finally {
        await updateConfig(pair.a, { 'outbound.hold': '1h' });
        await pair.a.restart();
      }
    });

    test('held mail: local recipients get it at once; queue retry sends the remote copy now', async () => {
      const subject = tag('retry');
      const { id } = await submit(pair.a, ALICE, [ANN, BOB], subject);
      await waitForSubject(pair.a, ANN, subject, 5000);
      assert.match(queueEntry(await queueList(pair.a), id) ?? '', /\b(held|hold)\b/i, 'the remote copy is held');
      // Held (the list says so), and never tried: A logged no attempt for it, and B does not have it.
      assert.equal(attemptsLogged(pair, id).length, 0, `held mail was tried before its hold window:\n${JSON.stringify(attemptsLogged(pair, id))}`);
      assert.equal(find(await messagesOf(pair.b, BOB), subject), undefined, 'held mail left before its hold window');
      const retried = await queueCli(pair.a, ['retry', id]);
      assert.equal(retried.code, 0, `queue retry ${id} failed (exit ${retried.code}):\n${retried.stdout}${retried.stderr}`);
      await waitForSubject(pair.b, BOB, subject, 10_000);
      await waitForQueue(pair.a, (out) => QUEUE_EMPTY.test(out), 'an empty queue after the retry');
    });

    test('queue show prints the message header readably (folded lines keep their leading whitespace)', async () => {
      const subject = tag('show');
      const { id } = await submit(pair.a, ALICE, BOB, subject);
      try {
        const shown = await queueCli(pair.a, ['show', id]);
        assert.equal(shown.code, 0, `queue show ${id} failed:\n${shown.stderr}`);
        assert.match(shown.stdout, new RegExp(`Subject: ${subject}`), `queue show lacks the Subject:\n${shown.stdout}`);
        // The Received header this server added is folded (CRLF + TAB): the TAB must not turn into a "?".
        assert.match(shown.stdout, /^\s+by mail\.a\.test with /m, `the folded Received line is not shown as such:\n${shown.stdout}`);
        assert.doesNotMatch(shown.stdout, /\?by mail\.a\.test/, `folding whitespace is printed as "?":\n${shown.stdout}`);
      } finally {
        await queueCli(pair.a, ['cancel', id]);
      }
    });

    test('queue show, retry and cancel of an unknown id fail with one line on stderr', async () => {
      for (const command of ['show', 'retry', 'cancel']) {
        const result = await queueCli(pair.a, [command, 'NOSUCHID0000']);
        assert.notEqual(result.code, 0, `queue ${command} of an unknown id succeeded:\n${result.stdout}`);
        assert.equal(result.stderr.trim().split('\n').length, 1, `queue ${command}: expected one line on stderr:\n${result.stderr}`);
      }
    });
  });

  describe('phase 3: max_age 3s', () => {
    before(async () => {
      await updateConfig(pair.a, { 'outbound.hold': '0s', 'outbound.max_age': '3s' });
      await pair.a.restart();
    });

    test('a destination that stays unreachable past max_age: DSN to the sender', async () => {
      const recipient = `someone@${DEAD}`;
      const subject = tag('expire');
      const { id } = await submit(pair.a, ALICE, recipient, subject);
      const dsn = await waitForDsn(pair, recipient, 30_000);
      // A refused connection is a temporary failure: retried until max_age, not bounced at once.
      await waitForGiveUp(pair, id, 'delivery failed; notice sent to the sender');
      const attempts = attemptsLogged(pair, id);
      assert.ok(attempts.length >= 2, `expected retries before the expiry, A logged ${attempts.length} attempt(s):\n${attempts.map((e) => JSON.stringify(e)).join('\n')}`);
      assert.ok(attempts.every((entry) => entry.result === 'temporary'), `every attempt should be a temporary failure:\n${attempts.map((e) => JSON.stringify(e)).join('\n')}`);
      assert.match(dsn.content, /^Action:\s*failed\s*$/im, `DSN without Action: failed:\n${dsn.content}`);
      // RFC 3463 4.4.7: delivery time expired; the reason says retries were given up.
      assert.match(dsn.content, /^Status:\s*4\.4\.7\s*$/im, `DSN without Status: 4.4.7 (expired):\n${dsn.content}`);
      assert.match(dsn.content, new RegExp(`delivery given up after ${attempts.length} attempts`), `the DSN does not say retries were given up:\n${dsn.content}`);
      await waitForQueue(pair.a, (out) => !out.includes(id), `${id} gone after expiry`);
    });
  });
});
