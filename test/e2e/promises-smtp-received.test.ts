// README (The MTA, "250 means on disk"): our Received header (RFC 5321 §4.4) names the
// recipient, `for <address>`, only when the transaction had a single recipient, so no
// recipient learns the others' addresses. The same on submission (587), whose Received
// comes from the same step. Checked as the users see it: each copy retrieved over POP3.
//
// - one RCPT: `for <that address>`;
// - two RCPTs (two users, or one user twice as user and user+tag): no `for` in any copy;
// - two RCPTs of which one is refused (550 5.1.1): the transaction has one recipient,
//   so `for <it>`.
// The message carries a Received of an earlier hop with a `for` of its own, so the
// checks must find ours (the one `by` our hostname) and not that one.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { suiteInstance } from '../harness/instance.ts';
import { subjectOf, waitForSubject, type StoredMessage } from './mailbox.ts';
import { message, PASSWORD, SmtpClient, tag, USER } from './smtp.ts';
import { authPlain, headerValues, submissionClient, submissionMessage } from './two-instances.ts';

const OTHER = 'other@example.test';
const TAGGED = 'user+lists@example.test'; // reaches USER
const UNKNOWN = 'nobody@example.test';
const EARLIER_HOP = 'Received: from origin.remote.example by relay.remote.example with ESMTP id R1\r\n\tfor <earlier@remote.example>; Mon, 1 Jan 2024 00:00:00 +0000';

type Role = 'smtp' | 'submission';

describe('Received: for <address> only with a single recipient (seen over POP3)', () => {
  const instance = suiteInstance({ users: [USER, OTHER].map((address) => ({ address, password: PASSWORD })) });

  /** One transaction on `role` with these RCPTs (USER's own address as sender on 587); asserts the 250 and returns the subject. */
  async function send(role: Role, recipients: readonly string[], expectRefused: readonly string[] = []): Promise<string> {
    const subject = tag('received');
    let client: SmtpClient;
    let sender: string;
    let text: string;
    if (role === 'smtp') {
      client = await SmtpClient.to(instance());
      await client.ehlo('client.remote.example');
      sender = 'sender@remote.example';
      text = message({ from: sender, to: recipients[0], subject, headers: [EARLIER_HOP] });
    } else {
      client = (await submissionClient(instance())).client;
      client.assertReply(await authPlain(client, USER, PASSWORD), '235 2.7.0', 'AUTH PLAIN');
      sender = USER;
      text = submissionMessage({ from: sender, to: [...recipients], subject, headers: [EARLIER_HOP] });
    }
    try {
      await client.expectCmd(`MAIL FROM:<${sender}>`, '250 2.1.0');
      for (const rcpt of recipients) {
        await client.expectCmd(`RCPT TO:<${rcpt}>`, expectRefused.includes(rcpt) ? '550 5.1.1' : '250 2.1.5', `RCPT ${rcpt}`);
      }
      await client.expectCmd('DATA', /^354 /);
      client.sendRaw(`${text}\r\n.\r\n`);
      client.assertReply(await client.reply(15_000), '250 2.0.0', `the message for ${recipients.join(', ')}`);
    } finally {
      await client.quit();
    }
    return subject;
  }

  /** The copy with `subject` in ADDRESS's mailbox, over POP3; exactly one. */
  async function copyOf(address: string, subject: string): Promise<StoredMessage> {
    const copies = (await waitForSubject(instance(), address, subject)).filter((m) => subjectOf(m) === subject);
    assert.equal(copies.length, 1, `${address} has one copy of ${subject}`);
    return copies[0]!;
  }

  /** Our Received field (the one `by` our hostname), unfolded; exactly one, above the earlier hop's. */
  function ourReceived(copy: StoredMessage): string {
    const all = headerValues(copy, 'Received');
    const ours = all.filter((value) => new RegExp(`\\bby ${instance().hostname.replace(/\./g, '\\.')} `).test(value));
    assert.equal(ours.length, 1, `one Received by ${instance().hostname}:\n${all.join('\n')}`);
    assert.equal(all[0], ours[0], `ours is on top:\n${all.join('\n')}`);
    assert.ok(all.some((value) => value.includes('for <earlier@remote.example>')), `the earlier hop's Received is kept:\n${all.join('\n')}`);
    return ours[0]!;
  }

  const FOR_CLAUSE = /\sfor\s+<([^>]*)>/;

  for (const role of ['smtp', 'submission'] as const) {
    test(`${role}: one recipient: for <that address>`, async () => {
      const subject = await send(role, [OTHER]);
      const received = ourReceived(await copyOf(OTHER, subject));
      assert.equal(FOR_CLAUSE.exec(received)?.[1], OTHER, `Received names the single recipient:\n${received}`);
    });

    test(`${role}: two recipients (two users): no for in either copy`, async () => {
      const subject = await send(role, [USER, OTHER]);
      for (const address of [USER, OTHER]) {
        const received = ourReceived(await copyOf(address, subject));
        assert.doesNotMatch(received, FOR_CLAUSE, `${address}'s copy names a recipient:\n${received}`);
      }
    });

    test(`${role}: two recipients that reach one user (user and user+tag): one copy, no for`, async () => {
      const subject = await send(role, [USER, TAGGED]);
      const received = ourReceived(await copyOf(USER, subject));
      assert.doesNotMatch(received, FOR_CLAUSE, `a copy for two envelope recipients names one:\n${received}`);
    });

    test(`${role}: two RCPTs, one refused (550 5.1.1): a single recipient, so for <it>`, async () => {
      const subject = await send(role, [UNKNOWN, OTHER], [UNKNOWN]);
      const received = ourReceived(await copyOf(OTHER, subject));
      assert.equal(FOR_CLAUSE.exec(received)?.[1], OTHER, `Received names the one accepted recipient:\n${received}`);
    });
  }
});
