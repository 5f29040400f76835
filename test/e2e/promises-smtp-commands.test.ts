// README (The MTA), the table of checks per stage, on 25 and on 587/465 alike:
// - EHLO/HELO whose argument is neither a domain nor an address literal (RFC 5321
//   §4.1.1.1, §4.1.2, §4.1.3) gets `501 5.5.4`, and the server stays in the state it
//   was in (§4.1.4): before any EHLO, MAIL still needs one (503); inside a transaction,
//   the transaction goes on.
// - a MAIL parameter other than SIZE, BODY=7BIT/8BITMIME and SMTPUTF8 (RFC 5321
//   §4.1.1.11: a parameter the server did not advertise) gets `555 5.5.4` and opens no
//   transaction; the advertised ones, in any case, are accepted. The same for an
//   unknown RCPT parameter.
// The server closes a session after 10 errors (README, "Bounded everything"), so the
// refusals are spread over several sessions.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { suiteInstance } from '../harness/instance.ts';
import { waitForSubject } from './mailbox.ts';
import { message, PASSWORD, SmtpClient, tag, USER } from './smtp.ts';
import { authPlain, submissionClient, submissionMessage } from './two-instances.ts';

type SmtpRole = 'smtp' | 'submission' | 'submissions';
const ROLES: readonly SmtpRole[] = ['smtp', 'submission', 'submissions'];
/** Refusals per session, below the server's 10 errors. */
const PER_SESSION = 4;

const BAD_HELO = [
  '', // no argument
  '-client.test', // a label starts with "-"
  'client..test', // an empty label
  'client_test.example', // "_" is no letter, digit or hyphen
  'client.test extra', // one argument only
  'client.test.', // no trailing dot in a Domain
  `${'a'.repeat(64)}.test`, // a label over 63 octets
  '[127.0.0.1', // an unclosed literal
  '[300.0.0.1]', // an octet over 255
  '[192.0.2]', // three octets
  '[no-literal]', // neither an address nor tag:content
  '[IPv6:1:2:3]', // too few IPv6 groups
];
const GOOD_HELO = ['client.test', 'localhost', 'xn--bcher-kva.example', '[127.0.0.1]', '[IPv6:::1]', '[IPv6:2001:db8::1]'];

/** Unknown MAIL parameters (each would be 555 5.5.4 on every port); AUTH= only where AUTH is not offered. */
const UNKNOWN_MAIL_PARAMS = ['FOO=BAR', 'XFORWARD', 'RET=HDRS', 'ENVID=abc', 'BODY=BINARYMIME', 'SMTPUTF8=yes', 'SIZE=10 SIZE=20'];
const UNKNOWN_MAIL_PARAMS_PORT_25 = ['AUTH=<>'];

const chunks = <T>(items: readonly T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, i * size + size));

describe('EHLO syntax (501 5.5.4) and unknown MAIL/RCPT parameters (555 5.5.4) on 25, 587 and 465', () => {
  const instance = suiteInstance({ users: [{ address: USER, password: PASSWORD }] });

  /** A session at the point where EHLO comes next: 25 after the greeting, 587 after STARTTLS (the session starts over), 465 at once. */
  async function beforeEhlo(role: SmtpRole): Promise<SmtpClient> {
    const client = await SmtpClient.connect(instance().host, instance().ports[role], { tls: role === 'submissions', timeoutMs: 10_000 });
    client.assertReply(client.greeting!, /^220 /, `greeting on ${role}`);
    if (role === 'submission') {
      await client.ehlo('client.test');
      await client.startTls();
    }
    return client;
  }

  /** A session where MAIL comes next: after EHLO, and on 587/465 after AUTH. Returns the sender to use. */
  async function readyForMail(role: SmtpRole): Promise<{ client: SmtpClient; sender: string }> {
    if (role === 'smtp') {
      const client = await SmtpClient.to(instance());
      await client.ehlo('client.test');
      return { client, sender: 'sender@remote.example' };
    }
    const { client } = await submissionClient(instance(), { port: role });
    client.assertReply(await authPlain(client, USER, PASSWORD), '235 2.7.0', `AUTH PLAIN on ${role}`);
    return { client, sender: USER };
  }

  /** DATA and a message in the open transaction: it must get 250 2.0.0 and reach the user's mailbox. */
  async function assertTransactionDelivers(client: SmtpClient, role: SmtpRole, sender: string, why: string): Promise<void> {
    await client.expectCmd('DATA', /^354 /);
    const subject = tag(role);
    const text = role === 'smtp' ? message({ from: sender, to: USER, subject }) : submissionMessage({ from: sender, to: USER, subject });
    client.sendRaw(`${text}\r\n.\r\n`);
    client.assertReply(await client.reply(15_000), '250 2.0.0', why);
    await waitForSubject(instance(), USER, subject);
  }

  for (const role of ROLES) {
    test(`${role}: EHLO and HELO with a bad domain or address literal get 501 5.5.4; no EHLO counts, so MAIL gets 503`, async () => {
      for (const group of chunks(BAD_HELO, PER_SESSION)) {
        const client = await beforeEhlo(role);
        try {
          for (const argument of group) {
            await client.expectCmd(`EHLO ${argument}`.trimEnd(), '501 5.5.4', `EHLO "${argument}"`);
            await client.expectCmd(`HELO ${argument}`.trimEnd(), '501 5.5.4', `HELO "${argument}"`);
          }
          await client.expectCmd('MAIL FROM:<sender@remote.example>', '503 5.5.1', 'MAIL after refused EHLOs only');
        } finally {
          await client.quit();
        }
      }
    });

    test(`${role}: valid EHLO domains and address literals get 250; a bad EHLO inside a transaction leaves it open`, async () => {
      const client = await beforeEhlo(role);
      try {
        for (const argument of GOOD_HELO) {
          const reply = await client.expectCmd(`EHLO ${argument}`, /^250 /, `EHLO ${argument}`);
          assert.match(reply.lines[0]!, new RegExp(`greets ${argument.replace(/[.[\]]/g, '\\$&')}$`), `EHLO ${argument} is greeted by name`);
        }
      } finally {
        await client.quit();
      }
      // RFC 5321 §4.1.4: a refused EHLO leaves the server in the state it was in.
      const { client: sending, sender } = await readyForMail(role);
      try {
        await sending.expectCmd(`MAIL FROM:<${sender}>`, '250 2.1.0');
        await sending.expectCmd('EHLO bad..name', '501 5.5.4', 'a bad EHLO inside a transaction');
        await sending.expectCmd(`RCPT TO:<${USER}>`, '250 2.1.5', 'the transaction is still open after the refused EHLO');
        await assertTransactionDelivers(sending, role, sender, 'the message of that transaction');
      } finally {
        await sending.quit();
      }
    });

    test(`${role}: an unknown MAIL parameter gets 555 5.5.4 and opens no transaction; SIZE, BODY and SMTPUTF8 are accepted`, async () => {
      const unknown = role === 'smtp' ? [...UNKNOWN_MAIL_PARAMS, ...UNKNOWN_MAIL_PARAMS_PORT_25] : UNKNOWN_MAIL_PARAMS;
      for (const group of chunks(unknown, PER_SESSION)) {
        const { client, sender } = await readyForMail(role);
        try {
          for (const params of group) {
            await client.expectCmd(`MAIL FROM:<${sender}> ${params}`, '555 5.5.4', `MAIL with ${params}`);
          }
          await client.expectCmd(`RCPT TO:<${USER}>`, '503 5.5.1', 'no transaction was opened by the refused MAILs');
        } finally {
          await client.quit();
        }
      }

      const { client, sender } = await readyForMail(role);
      try {
        await client.expectCmd(`MAIL FROM:<${sender}> size=500 body=8bitmime smtputf8`, '250 2.1.0', 'the advertised parameters, in lower case');
        await client.expectCmd(`RCPT TO:<${USER}> NOTIFY=NEVER`, '555 5.5.4', 'an unknown RCPT parameter (DSN is not offered)');
        await client.expectCmd(`RCPT TO:<${USER}> ORCPT=rfc822;${USER}`, '555 5.5.4', 'ORCPT (DSN is not offered)');
        await client.expectCmd(`RCPT TO:<${USER}>`, '250 2.1.5', 'the transaction goes on');
        await assertTransactionDelivers(client, role, sender, 'the message sent with the advertised parameters');
      } finally {
        await client.quit();
      }
    });
  }
});
