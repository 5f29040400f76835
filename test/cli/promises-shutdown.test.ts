// `kakitome serve` stopped with sessions open (SPEC: "runs … until SIGTERM/SIGINT, then
// drains in-flight sessions and exits 0"; README: "stops accepting, lets sessions finish
// for up to 10 s, exits 0", and for POP3 "a server shutdown deletes nothing"). With a
// POP3 session that marked every message with DELE and never sent QUIT, an idle SMTP
// session on 25 and one on 587, and a port-25 message half-way through DATA, SIGTERM:
// the idle sessions are told (POP3 -ERR [SYS/TEMP], SMTP 421 4.3.2) and closed, the
// message in DATA is finished and acknowledged first, nobody new gets in, exit 0; after
// a restart nothing was deleted and the drained message is there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startInstance } from '../harness/instance.ts';
import { rawSession } from '../harness/clients.ts';
import { deliver, openMaildrop, testMessage } from '../e2e/pop3.ts';
import { message, PASSWORD, SmtpClient, USER } from '../e2e/smtp.ts';
import { loggedIn } from '../e2e/two-instances.ts';

test('SIGTERM with sessions open: POP3 DELE marks delete nothing, idle SMTP sessions get 421 4.3.2, a message in DATA is finished (250), new connections are refused, exit 0', async (t) => {
  const instance = await startInstance({ t, users: [{ address: USER, password: PASSWORD }] });
  const shutdownLine = `421 4.3.2 ${instance.hostname} shutting down, try again later`;
  const stored = await deliver(instance, USER, [testMessage(USER, { prefix: 'kept-1' }), testMessage(USER, { prefix: 'kept-2' })]);

  const pop = await openMaildrop(instance, USER, PASSWORD, { localAddress: '127.0.11.1' });
  pop.assertOk(await pop.cmd('DELE 1'), 'DELE 1');
  pop.assertOk(await pop.cmd('DELE 2'), 'DELE 2');
  const idleSmtp = await SmtpClient.to(instance, { localAddress: '127.0.11.2' });
  await idleSmtp.ehlo('idle.remote.example');
  const idleSubmission = await loggedIn(instance, USER, PASSWORD, { localAddress: '127.0.11.3' });
  const inData = await SmtpClient.to(instance, { localAddress: '127.0.11.4' });
  await inData.ehlo('busy.remote.example');
  await inData.expectCmd('MAIL FROM:<sender@remote.example>', '250');
  await inData.expectCmd(`RCPT TO:<${USER}>`, '250');
  await inData.expectCmd('DATA', '354');
  const drained = message({ subject: 'sent across the shutdown', to: USER });
  const half = Math.floor(drained.length / 2);
  inData.sendRaw(drained.slice(0, half));

  try {
    const exited = instance.stop('SIGTERM', 20_000); // hang guard: the drain itself is bounded at 10 s
    await instance.waitForLog((entry) => entry.msg === 'stopping', 10_000); // hang guard

    // Idle sessions are told at once and closed.
    const popReply = await pop.reply(10_000); // hang guard
    assert.equal(popReply.line, '-ERR [SYS/TEMP] server shutting down, try again later', `the open POP3 session\n${pop.dialogue()}`);
    assert.ok(await pop.session.waitForClose(10_000), 'the POP3 session is closed'); // hang guard
    for (const [what, client] of [['the idle port-25 session', idleSmtp], ['the idle submission session (587, TLS, AUTH)', idleSubmission]] as const) {
      const reply = await client.reply(10_000); // hang guard
      assert.equal(reply.last, shutdownLine, `${what}\n${client.dialogue()}`);
      assert.ok(await client.session.waitForClose(10_000), `${what} is closed`); // hang guard
    }
    // No new session while draining.
    await assert.rejects(rawSession(instance.host, instance.ports.smtp, { timeoutMs: 5000 }), /ECONNREFUSED/, 'a new connection to port 25 after SIGTERM'); // hang guard

    // The session in DATA is not cut: its message is taken and acknowledged, then it is told.
    inData.sendRaw(`${drained.slice(half)}\r\n.\r\n`);
    inData.assertReply(await inData.reply(10_000), '250 2.0.0', 'the message whose DATA was under way at SIGTERM'); // hang guard
    assert.equal((await inData.reply(10_000)).last, shutdownLine, `after its 250, the draining session\n${inData.dialogue()}`); // hang guard
    assert.ok(await inData.session.waitForClose(10_000), 'the drained session is closed'); // hang guard

    assert.equal(await exited, 0, 'serve exits 0 after draining');
    assert.ok(instance.logEntries().some((entry) => entry.msg === 'stopped'), 'serve logged "stopped"');
  } finally {
    for (const client of [pop, idleSmtp, idleSubmission, inData]) client.close();
  }

  await instance.restart();
  const after = await openMaildrop(instance, USER, PASSWORD);
  try {
    const messages = await after.list();
    assert.equal(messages.length, 3, 'both messages marked in the POP3 session that never sent QUIT, and the drained one');
    for (const [i, sent] of stored.entries()) assert.ok((await after.retr(i + 1)).endsWith(`${sent.text}\r\n`), `message ${i + 1} is the one delivered before`);
    assert.ok((await after.retr(3)).endsWith(`${drained}\r\n`), 'message 3 is the one whose DATA crossed the shutdown');
    after.assertOk(await after.quit(), 'QUIT');
  } finally {
    await after.end();
  }
});
