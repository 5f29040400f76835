// The outbound SMTP client against a small SMTP server on loopback: results per
// recipient, opportunistic STARTTLS, the plaintext retry after a failed handshake.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { Readable } from 'node:stream';
import { deliverToHop, type HopAttempt } from '../../src/queue/client.ts';
import { createSelfSignedCertificate } from '../../src/tls/self-signed.ts';
import { startFakeSmtp } from './fake-smtp.ts';

const MESSAGE = Buffer.from('From: a@example.test\r\nTo: b@example.net\r\nSubject: hi\r\n\r\n.leading dot\r\nbody\r\n');
let certificate: { key: string; cert: string };

before(async () => {
  const made = await createSelfSignedCertificate('fake.example.net');
  certificate = { key: made.keyPem, cert: made.certPem };
});

function attempt(port: number, overrides: Partial<HopAttempt> = {}): HopAttempt {
  return {
    hop: { host: '127.0.0.1', port, exchange: 'mx.example.net', preference: 10 },
    heloName: 'mail.example.test',
    sourceIp: '',
    connectTimeoutMs: 2000,
    greetingTimeoutMs: 2000,
    socketTimeoutMs: 5000,
    mailFrom: 'a@example.test',
    recipients: ['b@example.net'],
    size: MESSAGE.length,
    openMessage: () => Readable.from([MESSAGE]),
    ...overrides,
  };
}

test('delivers over STARTTLS (any certificate), EHLO with our name, message intact', async (t) => {
  const server = await startFakeSmtp({ starttls: certificate, pipelining: true });
  t.after(() => server.close());
  const report = await deliverToHop(attempt(server.port, { sourceIp: '127.0.0.1' }));
  assert.equal(report.tls, true);
  assert.equal(report.tlsFallback, false);
  assert.equal(report.connected, true);
  assert.deepEqual(report.outcomes.map((o) => [o.recipient, o.result]), [['b@example.net', 'delivered']]);
  assert.equal(server.messages.length, 1);
  const received = server.messages[0]!;
  assert.equal(received.tls, true);
  assert.equal(received.helo, 'mail.example.test');
  assert.equal(received.from, 'a@example.test');
  assert.deepEqual(received.to, ['b@example.net']);
  assert.deepEqual(received.data, MESSAGE);
});

for (const pipelining of [false, true]) {
  test(`results per recipient (${pipelining ? 'pipelined' : 'one command at a time'}): 250 delivered, 550 permanent, 450 temporary`, async (t) => {
    const server = await startFakeSmtp({
      pipelining,
      rcpt: (to) => (to.startsWith('gone') ? '550 5.1.1 no such user' : to.startsWith('later') ? '450 4.2.1 mailbox busy' : '250 2.1.5 ok'),
    });
    t.after(() => server.close());
    const report = await deliverToHop(attempt(server.port, { recipients: ['ok@example.net', 'gone@example.net', 'later@example.net'] }));
    assert.equal(report.tls, false);
    assert.deepEqual(
      report.outcomes.map((o) => [o.recipient, o.result, o.status, o.reply]),
      [
        ['ok@example.net', 'delivered', '2.0.0', '250 2.0.0 ok: queued'],
        ['gone@example.net', 'permanent', '5.1.1', '550 5.1.1 no such user'],
        ['later@example.net', 'temporary', '4.2.1', '450 4.2.1 mailbox busy'],
      ],
    );
    assert.deepEqual(server.messages[0]!.to, ['ok@example.net']);
  });
}

test('every recipient refused; MAIL refused; final reply 5xx and 4xx', async (t) => {
  const allRefused = await startFakeSmtp({ rcpt: () => '550 5.7.1 relaying denied' });
  const mailRefused = await startFakeSmtp({ mail: () => '553 5.7.1 sender rejected' });
  const dataRefused = await startFakeSmtp({ data: () => '554 5.6.0 content rejected' });
  const dataDeferred = await startFakeSmtp({ data: () => '451 4.3.0 try again later' });
  t.after(() => Promise.all([allRefused, mailRefused, dataRefused, dataDeferred].map((s) => s.close())));
  const two = { recipients: ['x@example.net', 'y@example.net'] };
  const results = await Promise.all(
    [allRefused, mailRefused, dataRefused, dataDeferred].map((s) => deliverToHop(attempt(s.port, two))),
  );
  assert.deepEqual(results[0]!.outcomes.map((o) => [o.result, o.status]), [['permanent', '5.7.1'], ['permanent', '5.7.1']]);
  assert.deepEqual(results[1]!.outcomes.map((o) => [o.result, o.reply]), [
    ['permanent', '553 5.7.1 sender rejected'],
    ['permanent', '553 5.7.1 sender rejected'],
  ]);
  assert.deepEqual(results[2]!.outcomes.map((o) => [o.result, o.status]), [['permanent', '5.6.0'], ['permanent', '5.6.0']]);
  assert.deepEqual(results[3]!.outcomes.map((o) => [o.result, o.status]), [['temporary', '4.3.0'], ['temporary', '4.3.0']]);
});

test('null sender goes out as MAIL FROM:<>', async (t) => {
  const server = await startFakeSmtp();
  t.after(() => server.close());
  const report = await deliverToHop(attempt(server.port, { mailFrom: '' }));
  assert.equal(report.outcomes[0]!.result, 'delivered');
  assert.equal(server.messages[0]!.from, '');
});

test('a failed TLS handshake is not continued in clear; the hop is tried again without STARTTLS', async (t) => {
  const server = await startFakeSmtp({ starttls: 'broken' });
  t.after(() => server.close());
  const report = await deliverToHop(attempt(server.port));
  assert.equal(server.connections(), 2);
  assert.equal(report.tls, false);
  assert.equal(report.tlsFallback, true);
  assert.equal(report.outcomes[0]!.result, 'delivered');
  assert.equal(server.messages.length, 1);
});

test('connection failures are temporary: refused, silent server (greeting timeout), 554 greeting, dropped after data', { timeout: 30_000 }, async (t) => {
  // A port with nothing listening.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = (closed.address() as { port: number }).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  // A server that accepts and says nothing.
  const silent = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const refusing = await startFakeSmtp({ greeting: '554 5.7.1 no service for you' });
  const dropping = await startFakeSmtp({ dropAfterData: true });
  t.after(async () => {
    silent.close();
    await Promise.all([refusing.close(), dropping.close()]);
  });

  const [refused, timedOut, greeting554, dropped] = await Promise.all([
    deliverToHop(attempt(closedPort)),
    deliverToHop(attempt((silent.address() as { port: number }).port, { greetingTimeoutMs: 300 })),
    deliverToHop(attempt(refusing.port)),
    deliverToHop(attempt(dropping.port)),
  ]);
  for (const report of [refused, timedOut, greeting554]) {
    assert.equal(report.connected, false);
    assert.equal(report.outcomes[0]!.result, 'temporary', JSON.stringify(report));
    assert.match(report.outcomes[0]!.status, /^4\./);
  }
  assert.match(refused.outcomes[0]!.reply, /ECONNREFUSED/);
  assert.match(timedOut.outcomes[0]!.reply, /greeting never received.*ETIMEDOUT/i);
  assert.match(greeting554.outcomes[0]!.reply, /554 5\.7\.1 no service for you/);
  assert.equal(dropped.outcomes[0]!.result, 'temporary');
});

test('remote replies are cleaned: no control characters, bounded length', async (t) => {
  const server = await startFakeSmtp({ rcpt: () => `550 5.1.1 bad\x1b[31m ${'x'.repeat(2000)}` });
  t.after(() => server.close());
  const report = await deliverToHop(attempt(server.port));
  const reply = report.outcomes[0]!.reply;
  assert.doesNotMatch(reply, /[\x00-\x1f\x7f]/);
  assert.ok(reply.length <= 501, String(reply.length));
});

test('an abort closes the connection; the recipients are temporary', { timeout: 30_000 }, async (t) => {
  const controller = new AbortController();
  // A server that never greets; the abort comes once the connection is open and waiting.
  let closedByClient!: Promise<void>;
  const silent = createServer((socket) => {
    closedByClient = new Promise((resolve) => socket.once('close', () => resolve()));
    controller.abort();
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => silent.close());
  const report = await deliverToHop(attempt((silent.address() as { port: number }).port, { signal: controller.signal, greetingTimeoutMs: 60_000 }));
  assert.equal(report.outcomes[0]!.result, 'temporary');
  assert.match(report.outcomes[0]!.reply, /aborted/);
  await closedByClient;
});

