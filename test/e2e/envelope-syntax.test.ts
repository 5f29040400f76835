// Envelope syntax over real sockets (issue 10, defect 5), the outside tester's exact
// commands: a second "@" outside quotes is no mailbox (RFC 5321 §4.1.2) — 553 5.1.7 at
// MAIL, 553 5.1.3 at RCPT — and a non-ASCII address without MAIL's SMTPUTF8 parameter
// is refused with 553 5.6.7 (RFC 6531 §3.4/§3.5), on port 25 and on 587 and 465 alike.
// With SMTPUTF8 (advertised in EHLO) a UTF-8 sender is accepted and delivered as before.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startInstance, type Instance } from '../harness/instance.ts';
import { waitForSubject } from './mailbox.ts';
import { message, PASSWORD, SmtpClient, tag, USER } from './smtp.ts';
import { loggedIn, submissionMessage } from './two-instances.ts';

describe('envelope syntax (RFC 5321 §4.1.2, RFC 6531 §3.4)', () => {
  let instance: Instance;
  before(async () => {
    instance = await startInstance({ users: [{ address: USER, password: PASSWORD }] });
  });
  after(async () => {
    await instance?.close();
  });

  test('port 25: the tester\'s MAIL FROM paths get 553 5.1.7; a quoted "@" is a valid local part', async () => {
    const client = await SmtpClient.to(instance);
    const ehlo = await client.ehlo('client.test');
    assert.ok(ehlo.lines.some((line) => /^250[ -]SMTPUTF8$/.test(line)), `EHLO advertises SMTPUTF8:\n${client.dialogue()}`);
    await client.expectCmd('MAIL FROM:<a@sender.test@example.test>', '553 5.1.7');
    await client.expectCmd('MAIL FROM:<a@b@[127.0.0.1]>', '553 5.1.7');
    await client.expectCmd('MAIL FROM:<"a@sender.test"@example.test>', '250 2.1.0', 'a Quoted-string local part may hold "@"');
    await client.expectCmd('RSET', '250');
    await client.expectCmd('MAIL FROM <sender@remote.example>', '501 5.5.4', 'no "FROM:" at all is a command syntax error');
    await client.quit();
  });

  test('port 25: a UTF-8 sender without SMTPUTF8 is 553 5.6.7; with it the message is delivered', async () => {
    const client = await SmtpClient.to(instance);
    await client.ehlo('client.test');
    await client.expectCmd('MAIL FROM:<jürgen@remote.example>', '553 5.6.7');
    await client.expectCmd('MAIL FROM:<user@bücher.example>', '553 5.6.7', 'a U-label domain needs SMTPUTF8 too');
    await client.expectCmd('MAIL FROM:<jürgen@remote.example> SMTPUTF8', '250 2.1.0');
    await client.expectCmd(`RCPT TO:<${USER}>`, '250 2.1.5');
    await client.expectCmd('DATA', /^354 /);
    const subject = tag('utf8');
    client.sendRaw(Buffer.concat([Buffer.from(message({ from: 'jürgen@remote.example', to: USER, subject })), Buffer.from('\r\n.\r\n')]));
    client.assertReply(await client.reply(15_000), '250 2.0.0', 'a UTF-8 sender with SMTPUTF8');
    await waitForSubject(instance, USER, subject);
    await client.quit();
  });

  test('port 25 RCPT: a second "@" is 553 5.1.3, a UTF-8 recipient without SMTPUTF8 is 553 5.6.7', async () => {
    const client = await SmtpClient.to(instance);
    await client.ehlo('client.test');
    await client.expectCmd('MAIL FROM:<sender@remote.example>', '250 2.1.0');
    await client.expectCmd('RCPT TO:<user@remote.example@example.test>', '553 5.1.3');
    await client.expectCmd('RCPT TO:<a@b@[127.0.0.1]>', '553 5.1.3');
    await client.expectCmd('RCPT TO:<jörg@example.test>', '553 5.6.7');
    await client.expectCmd(`RCPT TO:<${USER}>`, '250 2.1.5', 'the transaction goes on');
    await client.expectCmd('RSET', '250');
    await client.expectCmd('MAIL FROM:<sender@remote.example> SMTPUTF8', '250 2.1.0');
    await client.expectCmd('RCPT TO:<jörg@example.test>', '550 5.1.1', 'with SMTPUTF8 the address is looked up (no such user)');
    await client.quit();
  });

  for (const port of ['submission', 'submissions'] as const) {
    test(`${port}: the same rules for an authenticated user`, async () => {
      const client = await loggedIn(instance, USER, PASSWORD, { port });
      await client.expectCmd(`MAIL FROM:<${USER}@example.test>`, '553 5.1.7');
      await client.expectCmd('MAIL FROM:<a@b@[127.0.0.1]>', '553 5.1.7');
      await client.expectCmd('MAIL FROM:<üser@example.test>', '553 5.6.7');
      await client.expectCmd(`MAIL FROM:<${USER}>`, '250 2.1.0');
      await client.expectCmd('RCPT TO:<someone@remote.example@example.test>', '553 5.1.3');
      await client.expectCmd('RCPT TO:<jörg@remote.example>', '553 5.6.7');
      await client.expectCmd(`RCPT TO:<${USER}>`, '250 2.1.5');
      await client.expectCmd('DATA', /^354 /);
      const subject = tag(port);
      client.sendRaw(`${submissionMessage({ from: USER, to: USER, subject })}\r\n.\r\n`);
      client.assertReply(await client.reply(15_000), '250 2.0.0', 'the valid envelope is still accepted');
      await waitForSubject(instance, USER, subject);
      await client.quit();
    });
  }
});
