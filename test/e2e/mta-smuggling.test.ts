// SMTP smuggling (CVE-2023-51764/5/6) and STARTTLS command injection (CVE-2011-0411)
// against port 25, with exact bytes in one write. Only <CR><LF>.<CR><LF> ends DATA;
// a message holding a bare CR, a bare LF or a NUL is refused with 554 5.6.0 and
// nothing of it is stored, least of all the second message smuggled inside it.
// Anything pipelined after STARTTLS in clear text is discarded, never answered.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startInstance, type Instance } from '../harness/instance.ts';
import { swaks } from '../harness/clients.ts';
import { messagesOf, subjectOf, waitForSubject, type StoredMessage } from './mailbox.ts';
import { message, PASSWORD, SmtpClient, tag, USER, type Reply } from './smtp.ts';

const SENDER = 'sender@remote.example';
const REFUSED_CONTENT = /^554 5\.6\.0(?: |$)/;

// The end-of-data look-alikes of the smuggling papers and issue 3, and NUL around the dot.
const SMUGGLING_SEPARATORS: [name: string, bytes: string][] = [
  ['\\n.\\n', '\n.\n'],
  ['\\r.\\r', '\r.\r'],
  ['\\r.\\n', '\r.\n'],
  ['\\n.\\r', '\n.\r'],
  ['\\n.\\r\\n', '\n.\r\n'],
  ['\\r.\\r\\n', '\r.\r\n'],
  ['\\r\\n.\\n', '\r\n.\n'],
  ['\\r\\n.\\r', '\r\n.\r'],
  ['\\n.\\n preceded by CRLF', '\r\n\n.\n'],
  ['\\r\\n\\0.\\r\\n (NUL before the dot)', '\r\n\0.\r\n'],
  ['\\r\\n.\\0\\r\\n (NUL after the dot)', '\r\n.\0\r\n'],
  ['\\r\\n\\0.\\0\\r\\n (NUL on both sides)', '\r\n\0.\0\r\n'],
];

// Content that must be refused on its own, without any look-alike terminator.
const BAD_CONTENT: [name: string, content: (subject: string) => string][] = [
  ['a bare LF in the body', (s) => `${message({ subject: s, body: 'line one\nline two' })}`],
  ['a bare CR in the body', (s) => `${message({ subject: s, body: 'line one\rline two' })}`],
  ['a bare LF ending a header line', (s) => message({ subject: s, headers: ['X-Test: bare lf\nX-Other: y'] })],
  ['a bare CR ending a header line', (s) => message({ subject: s, headers: ['X-Test: bare cr\rX-Other: y'] })],
  ['a bare LF at the very end of the content', (s) => `${message({ subject: s })}\n`],
  ['a bare CR at the very end of the content', (s) => `${message({ subject: s })}\r`],
  ['a NUL in the body', (s) => message({ subject: s, body: 'nul \0 here' })],
  ['LF-only line ends throughout', (s) => message({ subject: s }).replace(/\r\n/g, '\n')],
  ['CR-only line ends throughout', (s) => message({ subject: s }).replace(/\r\n/g, '\r')],
];

/** A whole second transaction, to the same local user, meant to hide inside the first message. */
function smuggledTransaction(subject: string): string {
  return [
    `MAIL FROM:<admin@${'example.test'}>`,
    `RCPT TO:<${USER}>`,
    'DATA',
    message({ from: 'admin@example.test', subject, body: 'this message was smuggled' }),
  ].join('\r\n');
}

describe('SMTP smuggling and STARTTLS injection on port 25', () => {
  let instance: Instance;

  before(async () => {
    instance = await startInstance({ users: [{ address: USER, password: PASSWORD }] });
  });
  after(async () => {
    await instance?.close();
  });

  /**
   * After a refused message: the session goes on and answers the next command with its
   * own reply (no queued replies of smuggled commands); then a sentinel message sent in
   * it arrives, and none of `forbidden` ever did.
   */
  async function assertNothingStored(client: SmtpClient, before: StoredMessage[], forbidden: string[], what: string): Promise<void> {
    const unsolicited = await client.unsolicited();
    assert.equal(unsolicited, '', `${what}: the server sent replies nobody asked for (smuggled commands answered?)\n${client.dialogue()}`);
    await client.ehlo('client.test'); // also what a session needs after STARTTLS
    const sentinel = tag('sentinel');
    await client.mustDeliver(SENDER, [USER], message({ subject: sentinel }));
    await client.quit();
    const after = await waitForSubject(instance, USER, sentinel);
    const subjects = after.map((m) => subjectOf(m));
    for (const subject of forbidden) {
      assert.ok(!subjects.includes(subject), `${what}: a message with Subject: ${subject} was stored\n${client.dialogue()}`);
    }
    // Only the sentinel is new; also catches a stored copy whose subject was mangled.
    assert.equal(after.length, before.length + 1, `${what}: expected only the sentinel to be new; mailbox now: ${JSON.stringify(subjects)}`);
  }

  for (const [name, separator] of SMUGGLING_SEPARATORS) {
    test(`smuggling with ${name} inside DATA is refused 554 5.6.0 and nothing is stored`, async () => {
      const first = tag('first');
      const smuggled = tag('smuggled');
      const before = await messagesOf(instance, USER);
      const client = await SmtpClient.to(instance);
      await client.ehlo('attacker.test');
      await client.expectCmd(`MAIL FROM:<${SENDER}>`, '250 2.1.0');
      await client.expectCmd(`RCPT TO:<${USER}>`, '250 2.1.5');
      await client.expectCmd('DATA', /^354 /);
      // One write: the first message, the look-alike terminator, a second transaction, and the real end.
      client.sendRaw(`${message({ subject: first, body: 'first body' })}${separator}${smuggledTransaction(smuggled)}\r\n.\r\n`);
      const reply: Reply = await client.reply(10_000);
      client.assertReply(reply, REFUSED_CONTENT, `end of DATA with ${name} inside`);
      await assertNothingStored(client, before, [first, smuggled], `smuggling with ${name}`);
    });
  }

  for (const [name, content] of BAD_CONTENT) {
    test(`a message with ${name} is refused 554 5.6.0 and not stored`, async () => {
      const subject = tag('bad');
      const before = await messagesOf(instance, USER);
      const client = await SmtpClient.to(instance);
      await client.ehlo('client.test');
      await client.expectCmd(`MAIL FROM:<${SENDER}>`, '250 2.1.0');
      await client.expectCmd(`RCPT TO:<${USER}>`, '250 2.1.5');
      await client.expectCmd('DATA', /^354 /);
      client.sendRaw(`${content(subject)}\r\n.\r\n`);
      client.assertReply(await client.reply(10_000), REFUSED_CONTENT, `end of DATA with ${name}`);
      await assertNothingStored(client, before, [subject], name);
    });
  }

  test('the smuggled part split across writes (look-alike at a packet boundary) is still refused', async () => {
    const first = tag('first');
    const smuggled = tag('smuggled');
    const before = await messagesOf(instance, USER);
    const client = await SmtpClient.to(instance);
    await client.ehlo('attacker.test');
    await client.expectCmd(`MAIL FROM:<${SENDER}>`, '250 2.1.0');
    await client.expectCmd(`RCPT TO:<${USER}>`, '250 2.1.5');
    await client.expectCmd('DATA', /^354 /);
    client.sendRaw(`${message({ subject: first, body: 'first body' })}\n`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    client.sendRaw(`.\n${smuggledTransaction(smuggled)}\r`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    client.sendRaw('\n.\r\n');
    client.assertReply(await client.reply(10_000), REFUSED_CONTENT, 'end of DATA with \\n.\\n split across writes');
    await assertNothingStored(client, before, [first, smuggled], 'split smuggling');
  });

  test('dot transparency: stuffed dots are removed, the real terminator ends DATA, content kept byte for byte', async () => {
    const subject = tag('dots');
    const client = await SmtpClient.to(instance);
    await client.ehlo('client.test');
    await client.expectCmd(`MAIL FROM:<${SENDER}>`, '250 2.1.0');
    await client.expectCmd(`RCPT TO:<${USER}>`, '250 2.1.5');
    await client.expectCmd('DATA', /^354 /);
    const original = message({ subject, body: ['.', '..two dots', '.x', 'end'].join('\r\n') });
    const stuffed = original.replace(/^\./gm, '..');
    client.sendRaw(`${stuffed}\r\n.\r\n`);
    client.assertReply(await client.reply(), '250 2.0.0', 'end of DATA');
    await client.quit();
    const stored = (await waitForSubject(instance, USER, subject)).find((m) => subjectOf(m) === subject)!;
    const body = stored.content.slice(stored.content.indexOf('\r\n\r\n') + 4);
    assert.equal(body, ['.', '..two dots', '.x', 'end', ''].join('\r\n'), 'the body as the sender wrote it, dots un-stuffed');
    assert.ok(stored.content.endsWith(`${original}\r\n`), 'the stored message ends with the original content and one CRLF');
  });

  test('swaks --pipeline: a message with lines made of dots arrives intact (swaks stuffs, kakitome unstuffs)', async () => {
    const subject = tag('swaks-dots');
    const body = ['.', '..', '. dot space', 'last line'].join('\n');
    const result = await swaks([
      '--server', `${instance.host}:${instance.ports.smtp}`, '--ehlo', 'swaks.test', '--pipeline',
      '--from', SENDER, '--to', USER,
      '--data', `Subject: ${subject}\nFrom: <${SENDER}>\nTo: <${USER}>\n\n${body}\n`,
    ], { timeoutMs: 20_000 });
    assert.equal(result.code, 0, `swaks failed:\n${result.transcript}`);
    assert.match(result.transcript, /<- {1,2}250 2\.0\.0/, `no 250 2.0.0 after DATA:\n${result.transcript}`);
    const stored = (await waitForSubject(instance, USER, subject)).find((m) => subjectOf(m) === subject)!;
    assert.ok(stored.content.includes('\r\n\r\n.\r\n..\r\n. dot space\r\nlast line\r\n'), `body changed in transit:\n${JSON.stringify(stored.content)}`);
  });

  test('STARTTLS injection: a command pipelined after STARTTLS is never answered inside TLS', async () => {
    const client = await SmtpClient.to(instance);
    await client.ehlo('attacker.test');
    client.sendRaw('STARTTLS\r\nRSET\r\n');
    client.assertReply(await client.reply(), /^220 /, 'STARTTLS');
    await client.session.startTls();
    const injected = await client.unsolicited();
    assert.equal(injected, '', `the server answered the injected RSET inside TLS:\n${client.dialogue()}`);
    const ehlo = await client.cmd('EHLO attacker.test');
    client.assertReply(ehlo, /^250 /, 'EHLO inside TLS');
    assert.ok(ehlo.lines.length > 1 && ehlo.lines[0]!.startsWith('250-'),
      `the first reply inside TLS must be the multi-line EHLO reply, not the injected RSET's\n${client.dialogue()}`);
    assert.ok(ehlo.lines.some((line) => /^250[ -]PIPELINING/i.test(line)), `EHLO reply inside TLS:\n${client.dialogue()}`);
    await client.expectCmd('NOOP', '250');
    assert.equal(await client.unsolicited(), '', `extra replies after NOOP:\n${client.dialogue()}`);
    await client.quit();
  });

  test('STARTTLS injection: an injected MAIL FROM is discarded (RCPT inside TLS gets 503 5.5.1)', async () => {
    const client = await SmtpClient.to(instance);
    await client.ehlo('attacker.test');
    client.sendRaw(`STARTTLS\r\nMAIL FROM:<injected@remote.example>\r\n`);
    client.assertReply(await client.reply(), /^220 /, 'STARTTLS');
    await client.session.startTls();
    assert.equal(await client.unsolicited(), '', `the injected MAIL was answered inside TLS:\n${client.dialogue()}`);
    await client.ehlo('attacker.test');
    await client.expectCmd(`RCPT TO:<${USER}>`, '503 5.5.1', 'RCPT with no MAIL in effect (the injected MAIL must have been discarded)');
    await client.quit();
  });

  test('STARTTLS injection: a whole pipelined transaction after STARTTLS is discarded and delivers nothing', async () => {
    const injected = tag('injected');
    const before = await messagesOf(instance, USER);
    const client = await SmtpClient.to(instance);
    await client.ehlo('attacker.test');
    client.sendRaw(
      `STARTTLS\r\nEHLO attacker.test\r\nMAIL FROM:<${SENDER}>\r\nRCPT TO:<${USER}>\r\nDATA\r\n${message({ subject: injected })}\r\n.\r\n`,
    );
    client.assertReply(await client.reply(), /^220 /, 'STARTTLS');
    await client.session.startTls();
    assert.equal(await client.unsolicited(), '', `injected commands were answered inside TLS:\n${client.dialogue()}`);
    await assertNothingStored(client, before, [injected], 'injected transaction');
  });

  test('STARTTLS injection: a partial command before the handshake is not joined with the first line inside TLS', async () => {
    const client = await SmtpClient.to(instance);
    await client.ehlo('attacker.test');
    client.sendRaw('STARTTLS\r\nNOO');
    client.assertReply(await client.reply(), /^220 /, 'STARTTLS');
    await client.session.startTls();
    // Had "NOO" been kept, "NOO" + "P" would make NOOP (250); alone "P" is an unknown command.
    const reply = await client.cmd('P');
    client.assertReply(reply, /^5\d\d /, 'the line "P" inside TLS (the clear-text "NOO" must have been discarded)');
    await client.quit();
  });

  test('after STARTTLS the session starts over: MAIL before a new EHLO is 503 5.5.1, STARTTLS is no longer offered', async () => {
    const client = await SmtpClient.to(instance);
    await client.ehlo('client.test');
    await client.expectCmd(`MAIL FROM:<${SENDER}>`, '250 2.1.0');
    await client.startTls();
    await client.expectCmd(`MAIL FROM:<${SENDER}>`, '503 5.5.1', 'MAIL right after the TLS handshake, before EHLO');
    const ehlo = await client.ehlo('client.test');
    assert.ok(!ehlo.lines.some((line) => /^250[ -]STARTTLS/i.test(line)), `STARTTLS offered again inside TLS:\n${client.dialogue()}`);
    assert.ok(!ehlo.lines.some((line) => /^250[ -]AUTH\b/i.test(line)), `AUTH offered on port 25:\n${client.dialogue()}`);
    await client.expectCmd(`RCPT TO:<${USER}>`, '503 5.5.1', 'RCPT: the MAIL from before TLS must be forgotten');
    const again = await client.cmd('STARTTLS');
    assert.ok(again.code >= 500, `a second STARTTLS must be refused, got "${again.last}"`);
    await client.quit();
  });
});
