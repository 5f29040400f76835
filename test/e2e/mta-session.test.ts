// The port 25 session as a client sees it: greeting without a software version, the
// EHLO keywords, no AUTH, VRFY/EXPN that confirm nothing, command order, the limits
// (size, recipients, header, hops, line length, errors, idle time, connections),
// access lists, IPv6, the Received header, aliases, and real clients (swaks, Python
// smtplib) delivering over STARTTLS.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect as connectTcp, createServer } from 'node:net';
import { connect as tlsConnect, type SecureVersion } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startInstance, type Instance, type InstanceOptions } from '../harness/instance.ts';
import { smtpSend, swaks } from '../harness/clients.ts';
import { messagesOf, subjectOf, waitForSubject, type StoredMessage } from './mailbox.ts';
import { appendToml, message, PASSWORD, SmtpClient, tag, USER, type Reply } from './smtp.ts';

const SENDER = 'sender@remote.example';
const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';
const TEAM = 'team@example.test'; // alias → alice, bob
const ALL = 'all@example.test'; // alias → team, alice
const DEFAULT_MAX_MESSAGE_SIZE = 26214400;

const users = [USER, ALICE, BOB].map((address) => ({ address, password: PASSWORD }));
const aliases = { [TEAM]: [ALICE, BOB], [ALL]: [TEAM, ALICE] };

/** An instance of its own for one test; no users unless asked (each `user add` costs a process and a scrypt hash). */
function mta(t: TestContext, smtpToml?: string, extra: Partial<InstanceOptions> = {}): Promise<Instance> {
  return startInstance({ t, editConfig: smtpToml ? appendToml(smtpToml) : undefined, ...extra });
}

/** Counts messages with this subject. */
const countSubject = (messages: StoredMessage[], subject: string) => messages.filter((m) => subjectOf(m) === subject).length;

/** Unfolds the first header field of a stored message. */
function firstHeaderField(content: string): string {
  const match = /^[^\r\n]*(?:\r\n[ \t][^\r\n]*)*/.exec(content);
  return (match?.[0] ?? '').replace(/\r\n[ \t]+/g, ' ');
}

/** The first Received field of a stored message (below our Authentication-Results), unfolded. */
function receivedField(content: string): string {
  const start = content.search(/^Received: /m);
  return start < 0 ? '' : firstHeaderField(content.slice(start));
}

function assertReceivedHeader(stored: StoredMessage, original: string, { helo, ip, hostname, protocol }: { helo: string; ip: RegExp; hostname: string; protocol: 'ESMTP' | 'ESMTPS' }): void {
  // On top: our Authentication-Results (RFC 8601), then our Received (RFC 5321 §4.4).
  const results = firstHeaderField(stored.content);
  assert.ok(results.startsWith(`Authentication-Results: ${hostname}; `), `the stored message must start with our Authentication-Results, got:\n${results}`);
  const afterResults = stored.content.slice(stored.content.indexOf('\r\n', stored.content.indexOf(results.slice(-20).trim())) + 2);
  const received = firstHeaderField(afterResults);
  const pattern = new RegExp(
    `^Received: from ${helo.replace(/\./g, '\\.')} \\((?:[^\\s()]+ )?${ip.source}\\)\\s+by ${hostname.replace(/\./g, '\\.')}\\s+with ${protocol}(?: \\([^)]*\\))?\\s+id [^;]+;\\s*(.+)$`,
  );
  const match = pattern.exec(received);
  assert.ok(match, `the stored message must start with "Received: from ${helo} ([ip]) by ${hostname} with ${protocol} id …; date", got:\n${received}`);
  const date = Date.parse(match[1]!);
  assert.ok(Number.isFinite(date) && Math.abs(date - Date.now()) < 10 * 60_000, `Received date "${match[1]}" is not a current RFC 5322 date`);
  const headerEnd = afterResults.indexOf('\r\n', afterResults.indexOf(match[1]!)) + 2;
  // Below the trace fields, the spam filter's verdict (untrained here: no opinion), then the message exactly.
  const spam = /^X-Spam-Score: 0\.00\r\nX-Spam-Status: No, score=0\.00 required=3\.00\r\n\ttests=none\r\n/.exec(afterResults.slice(headerEnd));
  assert.ok(spam, `below Received: X-Spam-Score and X-Spam-Status, got:\n${afterResults.slice(headerEnd, headerEnd + 200)}`);
  assert.equal(afterResults.slice(headerEnd + spam[0].length), `${original}\r\n`, 'after our fields: the message exactly as sent (CRLF)');
  assert.equal(stored.size, stored.bytes.length, 'size in the index = octets of the stored file');
}

async function ipv6Available(): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => server.close(() => resolve(true)));
  });
}

describe('MTA session on port 25 (default config)', () => {
  let instance: Instance;

  before(async () => {
    instance = await startInstance({ users, aliases });
  });
  after(async () => {
    await instance?.close();
  });

  test('greeting: 220 with the hostname and ESMTP, no software name or version', async () => {
    const client = await SmtpClient.to(instance);
    const greeting = client.greeting!;
    assert.match(greeting.last, new RegExp(`^220 ${instance.hostname.replace(/\./g, '\\.')} ESMTP(?: |$)`), `greeting: ${greeting.last}`);
    const text = greeting.lines.join('\n');
    assert.doesNotMatch(text, /kakitome|node|smtp-server|nodemailer|haraka|postfix/i, `greeting names software: ${text}`);
    assert.doesNotMatch(text.slice(4 + instance.hostname.length), /\d+\.\d+/, `greeting carries a version-like number: ${text}`);
    const ehlo = await client.ehlo('client.test');
    assert.doesNotMatch(ehlo.lines.join('\n'), /kakitome|node\.?js|smtp-server|nodemailer|\bv?\d+\.\d+\.\d+/i, `EHLO reply names software:\n${client.dialogue()}`);
    await client.expectCmd('QUIT', /^221 /);
    assert.ok(await client.session.waitForClose(2000), 'QUIT closes the connection');
  });

  test('EHLO lists PIPELINING, SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, STARTTLS and no AUTH', async () => {
    const client = await SmtpClient.to(instance);
    const ehlo = await client.ehlo('client.test');
    const keywords = ehlo.lines.slice(1).map((line) => line.slice(4).toUpperCase());
    for (const keyword of ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'STARTTLS']) {
      assert.ok(keywords.some((k) => k === keyword || k.startsWith(`${keyword} `)), `EHLO lacks ${keyword}:\n${client.dialogue()}`);
    }
    const size = keywords.find((k) => k.startsWith('SIZE'));
    assert.equal(size, `SIZE ${DEFAULT_MAX_MESSAGE_SIZE}`, `EHLO SIZE (default 25 MiB):\n${client.dialogue()}`);
    assert.ok(!keywords.some((k) => k.startsWith('AUTH')), `AUTH offered on port 25:\n${client.dialogue()}`);
    await client.quit();
  });

  test('AUTH on port 25 is refused (502/503 5.5.1), before and after STARTTLS', async () => {
    const client = await SmtpClient.to(instance);
    await client.ehlo('client.test');
    const plain = Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64');
    await client.expectCmd(`AUTH PLAIN ${plain}`, /^50[23] 5\.5\.1(?: |$)/, 'AUTH PLAIN before TLS');
    await client.expectCmd('AUTH LOGIN', /^50[23] 5\.5\.1(?: |$)/, 'AUTH LOGIN before TLS');
    await client.startTls();
    const ehlo = await client.ehlo('client.test');
    assert.ok(!ehlo.lines.some((line) => /^250[ -]AUTH\b/i.test(line)), `AUTH offered inside TLS on port 25:\n${client.dialogue()}`);
    await client.expectCmd(`AUTH PLAIN ${plain}`, /^50[23] 5\.5\.1(?: |$)/, 'AUTH PLAIN inside TLS');
    await client.quit();
  });

  test('STARTTLS negotiates TLS 1.2 and 1.3 and refuses TLS 1.0/1.1', async () => {
    const handshake = async (minVersion: SecureVersion, maxVersion: SecureVersion): Promise<string> => {
      const plain = connectTcp({ host: instance.host, port: instance.ports.smtp });
      let text = '';
      plain.setEncoding('utf8');
      const waitFor = (pattern: RegExp) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no ${pattern} within 5 s; got ${JSON.stringify(text)}`)), 5000);
          const check = () => {
            if (pattern.test(text)) {
              clearTimeout(timer);
              plain.off('data', onData);
              resolve();
            }
          };
          const onData = (chunk: string) => {
            text += chunk;
            check();
          };
          plain.on('data', onData);
          check();
        });
      try {
        await waitFor(/^220 /m);
        plain.write('EHLO tls.test\r\n');
        await waitFor(/^250 /m);
        text = '';
        plain.write('STARTTLS\r\n');
        await waitFor(/^220 /m);
        plain.removeAllListeners('data');
        return await new Promise<string>((resolve, reject) => {
          // SECLEVEL=0 lets this client offer TLS 1.0/1.1 at all; the server must still say no.
          const secure = tlsConnect({ socket: plain, rejectUnauthorized: false, minVersion, maxVersion, ciphers: 'DEFAULT@SECLEVEL=0' });
          const timer = setTimeout(() => reject(new Error('TLS handshake took over 5 s')), 5000);
          secure.once('secureConnect', () => {
            clearTimeout(timer);
            resolve(secure.getProtocol() ?? 'unknown');
            secure.destroy();
          });
          secure.once('error', (error) => {
            clearTimeout(timer);
            resolve(`error: ${error.message}`);
          });
        });
      } finally {
        plain.destroy();
      }
    };
    assert.equal(await handshake('TLSv1.3', 'TLSv1.3'), 'TLSv1.3');
    assert.equal(await handshake('TLSv1.2', 'TLSv1.2'), 'TLSv1.2');
    for (const old of ['TLSv1', 'TLSv1.1'] as const) {
      const outcome = await handshake(old, old);
      assert.match(outcome, /^error: /, `STARTTLS with ${old} must fail, it negotiated ${outcome}`);
      assert.doesNotMatch(outcome, /no protocols available|no ciphers available/i, `the client could not offer ${old}; the test proves nothing: ${outcome}`);
    }
  });

  test('HELO works as well as EHLO', async () => {
    const client = await SmtpClient.to(instance);
    await client.expectCmd('HELO oldclient.test', /^250 /);
    await client.expectCmd(`MAIL FROM:<${SENDER}>`, '250 2.1.0');
    await client.expectCmd(`RCPT TO:<${USER}>`, '250 2.1.5');
    await client.quit();
  });

  test('command order: MAIL before EHLO, RCPT before MAIL and DATA without recipients are refused', async () => {
    const client = await SmtpClient.to(instance);
    await client.expectCmd(`MAIL FROM:<${SENDER}>`, '503 5.5.1', 'MAIL before EHLO/HELO');
    await client.ehlo('client.test');
    await client.expectCmd(`RCPT TO:<${USER}>`, '503 5.5.1', 'RCPT before MAIL');
    await client.expectCmd('DATA', /^(?:503|554) 5\.5\.1(?: |$)/, 'DATA before MAIL');
    await client.expectCmd(`MAIL FROM:<${SENDER}>`, '250 2.1.0');
    await client.expectCmd('DATA', /^(?:503|554) 5\.5\.1(?: |$)/, 'DATA before any RCPT');
    await client.expectCmd(`RCPT TO:<nosuchuser@example.test>`, '550 5.1.1', 'unknown local user');
    await client.expectCmd('DATA', '554 5.5.1', 'DATA when no recipient was accepted');
    await client.expectCmd('RSET', '250');
    await client.expectCmd('NOOP', '250');
    await client.quit();
  });

  test('MAIL FROM: a malformed mailbox is 553 5.1.7, the null sender and UTF-8 senders are accepted', async () => {
    const client = await SmtpClient.to(instance);
    await client.ehlo('client.test');
    for (const bad of ['<user@>', '<a b@remote.example>', '<user@remote..example>', '<@>']) {
      await client.expectCmd(`MAIL FROM:${bad}`, '553 5.1.7', `MAIL FROM:${bad}`);
    }
    await client.expectCmd('MAIL FROM:<>', '250 2.1.0', 'the null reverse-path (bounces)');
    await client.expectCmd('RSET', '250');
    await client.expectCmd('MAIL FROM:<jürgen@remote.example> SMTPUTF8 BODY=8BITMIME', '250 2.1.0', 'UTF-8 sender with SMTPUTF8');
    await client.quit();
  });

  test('MAIL FROM with SIZE over the limit is 552 5.3.4', async () => {
    const client = await SmtpClient.to(instance);
    await client.ehlo('client.test');
    await client.expectCmd(`MAIL FROM:<${SENDER}> SIZE=${DEFAULT_MAX_MESSAGE_SIZE + 1}`, '552 5.3.4');
    await client.expectCmd(`MAIL FROM:<${SENDER}> SIZE=999999999999`, '552 5.3.4');
    await client.expectCmd(`MAIL FROM:<${SENDER}> SIZE=1000`, '250 2.1.0');
    await client.quit();
  });

  test('VRFY and EXPN give the same 252 for existing users, aliases and unknown addresses', async () => {
    const client = await SmtpClient.to(instance);
    await client.ehlo('client.test');
    for (const verb of ['VRFY', 'EXPN']) {
      const replies: [string, Reply][] = [];
      for (const target of [USER, 'user', TEAM, 'nosuchuser@example.test', 'nosuchuser', 'someone@remote.example']) {
        replies.push([target, await client.cmd(`${verb} ${target}`)]);
      }
      const [first] = replies[0]!;
      const reference = replies[0]![1];
      assert.match(reference.last, /^(?:252|502)[ -]/, `${verb} ${first} must be 252 (or 502):\n${client.dialogue()}`);
      for (const [target, reply] of replies) {
        assert.deepEqual(reply.lines, reference.lines, `${verb} ${target} differs from ${verb} ${first} (account discovery):\n${client.dialogue()}`);
      }
    }
    await client.quit();
  });

  test('unknown local user is 550 5.1.1, remote domain 554 5.7.1, known users in any case 250 2.1.5', async () => {
    const client = await SmtpClient.to(instance);
    await client.ehlo('client.test');
    await client.expectCmd(`MAIL FROM:<${SENDER}>`, '250 2.1.0');
    await client.expectCmd('RCPT TO:<nosuchuser@example.test>', '550 5.1.1');
    await client.expectCmd('RCPT TO:<someone@remote.example>', /^5[05]4 5\.7\.1(?: |$)/);
    await client.expectCmd('RCPT TO:<User@Example.TEST>', '250 2.1.5', 'addresses are case-insensitive');
    await client.expectCmd(`RCPT TO:<${TEAM}>`, '250 2.1.5', 'an alias');
    await client.quit();
  });

  test('the 101st recipient is 452 4.5.3; the message still goes once to the user', async () => {
    const subject = tag('many-rcpts');
    const client = await SmtpClient.to(instance);
    await client.ehlo('client.test');
    await client.expectCmd(`MAIL FROM:<${SENDER}>`, '250 2.1.0');
    // Pipelined, one write (PIPELINING is advertised).
    client.sendRaw(Array.from({ length: 101 }, () => `RCPT TO:<${USER}>\r\n`).join(''));
    const replies = await client.replies(101);
    replies.slice(0, 100).forEach((reply, i) => client.assertReply(reply, '250 2.1.5', `RCPT #${i + 1}`));
    client.assertReply(replies[100]!, '452 4.5.3', 'RCPT #101');
    await client.expectCmd('DATA', /^354 /);
    client.sendRaw(`${message({ subject })}\r\n.\r\n`);
    client.assertReply(await client.reply(), '250 2.0.0', 'end of DATA');
    await client.quit();
    // The 250 comes after the one transaction that adds every copy (src/mda/deliver.ts): what POP3 shows now is final.
    assert.equal(countSubject(await messagesOf(instance, USER), subject), 1, 'one copy per user');
  });

  test('Received header: "from <helo> ([127.0.0.1]) by <hostname> with ESMTP id …; date", then the message byte for byte', async () => {
    const subject = tag('received');
    const original = message({ subject, body: 'line 1\r\n\r\nline 3 after an empty line\r\n\tindented' });
    const client = await SmtpClient.to(instance);
    await client.ehlo('client.test');
    await client.mustDeliver(SENDER, [USER], original);
    await client.quit();
    const stored = (await waitForSubject(instance, USER, subject)).find((m) => subjectOf(m) === subject)!;
    assertReceivedHeader(stored, original, { helo: 'client.test', ip: /\[127\.0\.0\.1\]/, hostname: instance.hostname, protocol: 'ESMTP' });
  });

  test('8BITMIME/SMTPUTF8: a UTF-8 message is stored byte for byte', async () => {
    const subject = tag('utf8');
    const original = message({ subject, from: 'jürgen@remote.example', to: USER, body: 'Grüße, 書留 — ünïcödé\r\n日本語の本文' });
    const client = await SmtpClient.to(instance);
    await client.ehlo('client.test');
    await client.expectCmd('MAIL FROM:<jürgen@remote.example> SMTPUTF8 BODY=8BITMIME', '250 2.1.0');
    await client.expectCmd(`RCPT TO:<${USER}>`, '250 2.1.5');
    await client.expectCmd('DATA', /^354 /);
    client.sendRaw(Buffer.from(`${original}\r\n.\r\n`, 'utf8'));
    client.assertReply(await client.reply(), '250 2.0.0', 'end of DATA');
    await client.quit();
    const stored = (await waitForSubject(instance, USER, subject)).find((m) => subjectOf(m) === subject)!;
    assert.ok(stored.bytes.subarray(stored.bytes.length - Buffer.byteLength(`${original}\r\n`)).equals(Buffer.from(`${original}\r\n`, 'utf8')),
      'UTF-8 content changed in transit');
  });

  test('aliases: each target user gets one copy, even when reached several times', async () => {
    const subject = tag('alias');
    const client = await SmtpClient.to(instance);
    await client.ehlo('client.test');
    await client.mustDeliver(SENDER, [TEAM, ALL, ALICE], message({ subject, to: TEAM }));
    await client.quit();
    // After the 250 every copy is committed (one transaction, src/mda/deliver.ts): what POP3 shows now is final.
    assert.equal(countSubject(await messagesOf(instance, ALICE), subject), 1, 'alice: one copy (reached via team, all and directly)');
    assert.equal(countSubject(await messagesOf(instance, BOB), subject), 1, 'bob: one copy (reached via team and all→team)');
    assert.equal(countSubject(await messagesOf(instance, USER), subject), 0, 'user@ was not a recipient');
  });

  test('unknown command is 500 5.5.2, a line over 2048 octets is 500 5.5.6', async () => {
    const client = await SmtpClient.to(instance);
    await client.ehlo('client.test');
    await client.expectCmd('FROBNICATE now', '500 5.5.2');
    await client.expectCmd(`NOOP ${'x'.repeat(3000)}`, '500 5.5.6', 'a 3005-octet command line');
    // RFC 5321 §4.5.3.1.4 / §4.2.4: "500 line too long" is a reply like any error; the session goes on (only 10 errors end it).
    await client.expectCmd('NOOP', '250', 'the session goes on after a long line');
    client.close();
  });

  test('after 10 or more errors the server says 421 and closes', async () => {
    const client = await SmtpClient.to(instance);
    await client.ehlo('client.test');
    let closedWith: Reply | undefined;
    for (let i = 1; i <= 20 && !closedWith; i++) {
      const reply = await client.cmd(`BOGUS${i}`);
      if (reply.code === 421) closedWith = reply;
      else client.assertReply(reply, '500 5.5.2', `unknown command #${i}`);
    }
    assert.ok(closedWith, `no 421 after 20 errors:\n${client.dialogue()}`);
    assert.ok(await client.session.waitForClose(2000), `the connection stays open after 421:\n${client.dialogue()}`);
    const errors = client.dialogue().split('\n').filter((line) => line.startsWith('S: 500')).length;
    assert.ok(errors >= 10, `421 came after only ${errors} errors (at least 10 expected)`);
  });

  test('an HTTP request gets 421 and the connection is closed', async () => {
    const client = await SmtpClient.to(instance);
    client.sendRaw('GET / HTTP/1.1\r\nHost: mail.example.test\r\nUser-Agent: curl/8\r\n\r\n');
    const reply = await client.reply();
    client.assertReply(reply, /^421 /, 'GET / HTTP/1.1');
    assert.ok(await client.session.waitForClose(2000), `still open after 421:\n${client.dialogue()}`);
  });

  test('binary garbage and an endless line: the server answers or closes, and keeps serving others', async () => {
    const deadline = Date.now() + 8000;
    const attackers = await Promise.all(Array.from({ length: 5 }, () => SmtpClient.to(instance)));
    // Random bytes, 16 writes of 4 KiB per connection (bounded), one connection with 1 MiB without a line end.
    for (let round = 0; round < 16 && Date.now() < deadline; round++) {
      for (const attacker of attackers) if (!(await attacker.session.waitForClose(0))) attacker.session.sendRaw(randomBytes(4096));
      await sleep(10);
    }
    const endless = await SmtpClient.to(instance);
    for (let i = 0; i < 16 && Date.now() < deadline && !(await endless.session.waitForClose(0)); i++) endless.session.sendRaw(Buffer.alloc(65536, 'A'));
    const endlessClosed = await endless.session.waitForClose(1000);
    if (!endlessClosed) {
      // It must not be waiting forever for the end of a 1 MiB line: it has answered (500 5.5.6) by now.
      assert.match(endless.session.pending(), /^500[ -]/m, 'no reply to a 1 MiB line and still open');
    }
    const subject = tag('after-garbage');
    const client = await SmtpClient.to(instance);
    await client.ehlo('client.test');
    await client.mustDeliver(SENDER, [USER], message({ subject }));
    await client.quit();
    await waitForSubject(instance, USER, subject);
    for (const attacker of [...attackers, endless]) attacker.close();
  });

  test('hop limit: 60 Received headers (over the default 50) are 554 5.4.6 and not stored; 10 are fine', async () => {
    const received = (n: number) => Array.from({ length: n }, (_, i) => `Received: from hop${i}.remote.example by hop${i + 1}.remote.example; Mon, 1 Jan 2024 00:00:00 +0000`);
    const client = await SmtpClient.to(instance);
    await client.ehlo('client.test');
    const loop = tag('loop');
    client.assertReply(await client.deliver(SENDER, [USER], message({ subject: loop, headers: received(60) })), '554 5.4.6', '60 Received headers');
    await client.expectCmd('RSET', '250');
    const ok = tag('hops-ok');
    await client.mustDeliver(SENDER, [USER], message({ subject: ok, headers: received(10) }));
    await client.quit();
    assert.equal(countSubject(await waitForSubject(instance, USER, ok), loop), 0, 'the looping message was stored');
  });

  test('swaks over STARTTLS delivers; the Received header says ESMTPS', async () => {
    const subject = tag('swaks-tls');
    const result = await swaks([
      '--server', `${instance.host}:${instance.ports.smtp}`, '--tls', '--ehlo', 'swaks.test',
      '--from', SENDER, '--to', USER, '--header', `Subject: ${subject}`, '--body', 'sent by swaks over STARTTLS',
    ], { timeoutMs: 20_000 });
    assert.equal(result.code, 0, `swaks failed:\n${result.transcript}`);
    assert.match(result.transcript, /TLS started/i, `swaks did not use TLS:\n${result.transcript}`);
    const stored = (await waitForSubject(instance, USER, subject)).find((m) => subjectOf(m) === subject)!;
    assert.match(receivedField(stored.content), /^Received: from swaks\.test .* with ESMTPS(?: \([^)]*\))? id /, 'Received header of a TLS session');
    assert.match(stored.content, /sent by swaks over STARTTLS/);
  });

  test('Python smtplib with STARTTLS (certificate checked against the instance CA) delivers to two users', async () => {
    const subject = tag('smtplib');
    const result = await smtpSend({
      host: instance.host, port: instance.ports.smtp, security: 'starttls', trust: { cafile: instance.certPath },
      helo: 'python.test', from: SENDER, to: [USER, BOB],
      // CRLF: smtp_send.py passes bytes, and smtplib fixes line ends only in str messages.
      message: `From: <${SENDER}>\r\nTo: <${USER}>\r\nSubject: ${subject}\r\n\r\nsent by smtplib\r\n.leading dot\r\n`,
    });
    assert.ok(result.ok, `smtplib failed: ${JSON.stringify(result)}`);
    assert.deepEqual(result.refused, {});
    assert.ok(result.ehlo?.features.includes('starttls') === false, `STARTTLS still advertised after TLS: ${JSON.stringify(result.ehlo)}`);
    for (const address of [USER, BOB]) {
      const stored = (await waitForSubject(instance, address, subject)).find((m) => subjectOf(m) === subject)!;
      assert.match(receivedField(stored.content), /^Received: from python\.test .* with ESMTPS(?: \([^)]*\))? id /);
      assert.ok(stored.content.endsWith('sent by smtplib\r\n.leading dot\r\n'), `body: ${JSON.stringify(stored.content.slice(-80))}`);
    }
  });

  test('Python smtplib without TLS delivers too (opportunistic TLS: plain text is allowed on port 25)', async () => {
    const subject = tag('smtplib-plain');
    const result = await smtpSend({
      host: instance.host, port: instance.ports.smtp, helo: 'python.test', from: SENDER, to: [USER],
      message: `Subject: ${subject}\r\n\r\nplain\r\n`,
    });
    assert.ok(result.ok, `smtplib failed: ${JSON.stringify(result)}`);
    await waitForSubject(instance, USER, subject);
  });
});

describe('MTA limits from [smtp] (one instance with small limits)', () => {
  let instance: Instance;
  before(async () => {
    instance = await startInstance({
      users,
      aliases,
      editConfig: appendToml(
        '[smtp]\nmax_message_size = 10000\nmax_recipients = 3\nmax_header_fields = 20\nmax_header_bytes = 2000\nmax_received_headers = 5',
      ),
    });
  });
  after(async () => {
    await instance?.close();
  });

  test('max_message_size = 10000: SIZE advertised, MAIL SIZE= over it and a bigger DATA are 552 5.3.4 and not stored', async () => {
    const client = await SmtpClient.to(instance);
    const ehlo = await client.ehlo('client.test');
    assert.ok(ehlo.lines.some((line) => /^250[ -]SIZE 10000$/i.test(line)), `EHLO must advertise SIZE 10000:\n${client.dialogue()}`);
    await client.expectCmd(`MAIL FROM:<${SENDER}> SIZE=10001`, '552 5.3.4');
    const big = tag('big');
    const reply = await client.deliver(SENDER, [USER], message({ subject: big, body: 'x'.repeat(78).concat('\r\n').repeat(250) }));
    client.assertReply(reply, '552 5.3.4', 'DATA of about 20000 octets');
    const small = tag('small');
    const before = await messagesOf(instance, USER);
    await client.expectCmd('RSET', '250');
    await client.mustDeliver(SENDER, [USER], message({ subject: small, body: 'y'.repeat(70).concat('\r\n').repeat(60) }));
    await client.quit();
    const after = await waitForSubject(instance, USER, small);
    assert.equal(countSubject(after, big), 0, 'the oversized message was stored');
    assert.equal(after.length, before.length + 1);
  });

  test('max_recipients = 3: the 4th RCPT is 452 4.5.3', async () => {
    const client = await SmtpClient.to(instance);
    await client.ehlo('client.test');
    await client.expectCmd(`MAIL FROM:<${SENDER}>`, '250 2.1.0');
    for (const rcpt of [USER, ALICE, BOB]) await client.expectCmd(`RCPT TO:<${rcpt}>`, '250 2.1.5');
    await client.expectCmd(`RCPT TO:<${TEAM}>`, '452 4.5.3', 'the 4th recipient');
    await client.quit();
  });

  test('max_header_fields = 20 / max_header_bytes = 2000: a header section over them is 552 5.3.4 and not stored', async () => {
    const before = await messagesOf(instance, USER);
    const client = await SmtpClient.to(instance);
    await client.ehlo('client.test');
    const manyFields = tag('many-fields');
    const fields = Array.from({ length: 30 }, (_, i) => `X-Field-${i}: ${i}`);
    client.assertReply(await client.deliver(SENDER, [USER], message({ subject: manyFields, headers: fields })), '552 5.3.4', '30 header fields');
    await client.expectCmd('RSET', '250');
    const longHeader = tag('long-header');
    const folded = `X-Long: ${Array.from({ length: 40 }, () => 'z'.repeat(70)).join('\r\n ')}`;
    client.assertReply(await client.deliver(SENDER, [USER], message({ subject: longHeader, headers: [folded] })), '552 5.3.4', 'a 2900-octet header field');
    await client.expectCmd('RSET', '250');
    const fine = tag('fine');
    await client.mustDeliver(SENDER, [USER], message({ subject: fine, headers: fields.slice(0, 5) }));
    await client.quit();
    const stored = await waitForSubject(instance, USER, fine);
    assert.deepEqual(stored.slice(before.length).map((m) => subjectOf(m)), [fine], 'only the message within the header limits is stored');
  });

  test('max_received_headers = 5: 6 Received headers are 554 5.4.6 and not stored, 3 are fine', async () => {
    const received = (n: number) => Array.from({ length: n }, (_, i) => `Received: from a${i}.remote.example by b${i}.remote.example; Mon, 1 Jan 2024 00:00:00 +0000`);
    const client = await SmtpClient.to(instance);
    await client.ehlo('client.test');
    const loop = tag('loop');
    client.assertReply(await client.deliver(SENDER, [USER], message({ subject: loop, headers: received(6) })), '554 5.4.6', '6 Received headers');
    await client.expectCmd('RSET', '250');
    const ok = tag('hops-ok');
    await client.mustDeliver(SENDER, [USER], message({ subject: ok, headers: received(3) }));
    await client.quit();
    assert.equal(countSubject(await waitForSubject(instance, USER, ok), loop), 0, 'the looping message was stored');
  });
});

describe('MTA session limits that need an instance of their own', () => {
  test('idle_timeout = "2s": an idle session gets 421 4.4.2 and is closed', async (t) => {
    const instance = await mta(t, '[smtp]\nidle_timeout = "2s"');
    const client = await SmtpClient.to(instance);
    await client.ehlo('client.test');
    // 4.4.2 is the idle timeout's own reply (RFC 3463: connection dropped/timeout); the 30 s are a hang guard only.
    const reply = await client.reply(30_000); // hang guard
    client.assertReply(reply, '421 4.4.2', 'after 2 s of silence');
    await instance.waitForLog((entry) => entry.msg === 'idle timeout', 5000); // hang guard
    assert.ok(await client.session.waitForClose(2000), 'closed after the idle 421');
  });

  test('max_connections_per_ip = 3 and max_connections = 5: extra connections get 421 4.7.0 and are closed', async (t) => {
    const instance = await mta(t, '[smtp]\nmax_connections_per_ip = 3\nmax_connections = 5');
    const open: SmtpClient[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const client = await SmtpClient.to(instance);
        client.assertReply(client.greeting!, /^220 /, `connection ${i + 1} from 127.0.0.1`);
        open.push(client);
      }
      const fourth = await SmtpClient.to(instance);
      fourth.assertReply(fourth.greeting!, '421 4.7.0', 'the 4th connection from 127.0.0.1');
      assert.ok(await fourth.session.waitForClose(2000), 'the refused connection is closed');
      for (let i = 0; i < 2; i++) {
        const client = await SmtpClient.to(instance, { localAddress: '127.0.0.2' });
        client.assertReply(client.greeting!, /^220 /, `connection ${i + 1} from 127.0.0.2 (5 in all)`);
        open.push(client);
      }
      const sixth = await SmtpClient.to(instance, { localAddress: '127.0.0.3' });
      sixth.assertReply(sixth.greeting!, '421 4.7.0', 'the 6th connection in all (from 127.0.0.3)');
      assert.ok(await sixth.session.waitForClose(2000), 'the refused connection is closed');
      // A slot freed is a slot available again.
      await open.shift()!.quit();
      let again: SmtpClient | undefined;
      for (let attempt = 0; attempt < 20 && !again; attempt++) {
        const client = await SmtpClient.to(instance);
        if (client.greeting!.code === 220) again = client;
        else {
          client.close();
          await sleep(100);
        }
      }
      assert.ok(again, 'a new connection from 127.0.0.1 is served once one of its three has ended');
      await again.ehlo('client.test');
      open.push(again);
    } finally {
      for (const client of open) client.close();
    }
  });
});

describe('MTA access lists ([access.smtp])', () => {
  test('allow 127.0.0.1 and 127.0.0.3, deny 127.0.0.3: .1 served; .2 (not allowed) and .3 (denied: deny wins) get 554 5.7.1 and are closed', async (t) => {
    const instance = await mta(t, '[access.smtp]\nallow = ["127.0.0.1/32", "127.0.0.3/32"]\ndeny = ["127.0.0.3/32"]');
    const allowed = await SmtpClient.to(instance);
    allowed.assertReply(allowed.greeting!, /^220 /, 'client 127.0.0.1 (allowed)');
    await allowed.ehlo('client.test');
    await allowed.quit();
    for (const [address, why] of [['127.0.0.2', 'not in allow'], ['127.0.0.3', 'in allow and in deny']] as const) {
      const refused = await SmtpClient.to(instance, { localAddress: address });
      refused.assertReply(refused.greeting!, '554 5.7.1', `client ${address} (${why})`);
      assert.ok(await refused.session.waitForClose(2000), `refused client ${address} is disconnected`);
    }
  });

  test('deny alone (allow empty = everyone): only the denied address is refused', async (t) => {
    const instance = await mta(t, '[access.smtp]\nallow = []\ndeny = ["127.0.0.2"]');
    const refused = await SmtpClient.to(instance, { localAddress: '127.0.0.2' });
    refused.assertReply(refused.greeting!, '554 5.7.1', 'client 127.0.0.2 (denied)');
    assert.ok(await refused.session.waitForClose(2000), 'a refused client is disconnected');
    for (const address of ['127.0.0.1', '127.0.0.3']) {
      const ok = await SmtpClient.to(instance, { localAddress: address });
      ok.assertReply(ok.greeting!, /^220 /, `client ${address}`);
      await ok.quit();
    }
  });
});

describe('MTA over IPv6', () => {
  test('listening on [::1]: greeting, delivery, and the Received header names the IPv6 client', async (t) => {
    if (!(await ipv6Available())) {
      t.skip('::1 is not available on this machine'); // skip reason: a machine (or container) without an IPv6 loopback cannot listen on ::1
      return;
    }
    const instance = await mta(t, undefined, { listen: '::1', users: [{ address: USER, password: PASSWORD }] });
    const subject = tag('ipv6');
    const original = message({ subject });
    const client = await SmtpClient.to(instance);
    client.assertReply(client.greeting!, /^220 /, 'greeting over IPv6');
    await client.ehlo('v6client.test');
    await client.mustDeliver(SENDER, [USER], original);
    await client.quit();
    const stored = (await waitForSubject(instance, USER, subject)).find((m) => subjectOf(m) === subject)!;
    assertReceivedHeader(stored, original, { helo: 'v6client.test', ip: /\[(?:IPv6:)?::1\]/, hostname: instance.hostname, protocol: 'ESMTP' });
  });
});
