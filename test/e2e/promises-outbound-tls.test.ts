// SPEC: "TLS 1.2+ only; opportunistic TLS outbound". README (Outbound queue): STARTTLS
// whenever offered, TLS 1.2 or later; a failed handshake is never continued in clear,
// the hop is tried once more on a new connection without STARTTLS.
//
// So a receiver that offers STARTTLS but speaks only TLS 1.0/1.1 never gets the message
// over TLS 1.1: the handshake fails (the receiver sees it refused for its version),
// and the message arrives on a second connection in clear, logged `tls: false,
// tlsFallback: true`. The same receiver allowed TLS 1.2 gets it over TLS 1.2 on one
// connection — so the fallback above is the version's doing, not the receiver's.
//
// The sender is a real kakitome (submission on 587); the receiver is the queue tests'
// SMTP server on 127.0.0.1 (test/queue/fake-smtp.ts) with Node's TLS limited to the old
// versions, reached through `[outbound.transport]`.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { SecureVersion } from 'node:tls';
import { createSelfSignedCertificate } from '../../src/tls/self-signed.ts';
import { startFakeSmtp, type FakeSmtp } from '../queue/fake-smtp.ts';
import { startInstance, type Instance } from '../harness/instance.ts';
import type { LogEntry } from '../harness/serve-process.ts';
import { PASSWORD, tag, USER } from './smtp.ts';
import { setTransport, submit } from './two-instances.ts';

const RECIPIENT = 'someone@peer.test';

/** A receiver offering STARTTLS with TLS versions `min`…`max` only (SECLEVEL=0: OpenSSL 3 needs it for 1.0/1.1). */
async function receiver(t: TestContext, min: SecureVersion, max: SecureVersion): Promise<FakeSmtp> {
  const certificate = await createSelfSignedCertificate('mx.peer.test');
  const fake = await startFakeSmtp({
    starttls: { key: certificate.keyPem, cert: certificate.certPem, minVersion: min, maxVersion: max, ciphers: 'DEFAULT@SECLEVEL=0' },
  });
  t.after(() => fake.close());
  return fake;
}

/** A kakitome whose mail for peer.test goes to `fake`. */
function sender(t: TestContext, fake: FakeSmtp): Promise<Instance> {
  return startInstance({
    t,
    users: [{ address: USER, password: PASSWORD }],
    editConfig: (toml) => setTransport(toml, 'peer.test', `${fake.host}:${fake.port}`),
  });
}

/** Submits one message for RECIPIENT and waits for its delivered attempt; returns every attempt logged for it. */
async function sendAndWait(instance: Instance): Promise<{ subject: string; attempts: LogEntry[] }> {
  const subject = tag('outbound-tls');
  const { id } = await submit(instance, USER, RECIPIENT, subject);
  await instance.waitForLog((entry) => entry.msg === 'delivery attempt' && entry.queueId === id && entry.result === 'delivered', 30_000); // hang guard
  return { subject, attempts: instance.logEntries().filter((entry) => entry.msg === 'delivery attempt' && entry.queueId === id) };
}

const show = (fake: FakeSmtp, attempts: readonly LogEntry[]) =>
  `receiver handshakes: ${JSON.stringify(fake.handshakes)}\nreceiver connections: ${fake.connections()}\n` +
  `messages: ${JSON.stringify(fake.messages.map((m) => ({ to: m.to, tls: m.tls })))}\nattempts:\n${attempts.map((a) => JSON.stringify(a)).join('\n')}`;

test('a receiver that offers STARTTLS with TLS 1.0/1.1 only: the handshake fails for its version, the message arrives in clear on a new connection, never over TLS 1.1', async (t) => {
  const fake = await receiver(t, 'TLSv1', 'TLSv1.1');
  const instance = await sender(t, fake);
  const { subject, attempts } = await sendAndWait(instance);
  const why = show(fake, attempts);

  assert.equal(fake.handshakes.length, 1, `one STARTTLS handshake was tried:\n${why}`);
  assert.equal(fake.handshakes[0]!.protocol, null, `no TLS session was established:\n${why}`);
  assert.match(fake.handshakes[0]!.error ?? '', /unsupported protocol|version/i, `the receiver saw the handshake refused for its version:\n${why}`);
  assert.equal(fake.connections(), 2, `the hop was tried again on a new connection:\n${why}`);
  assert.equal(fake.messages.length, 1, `the message arrived once:\n${why}`);
  const arrived = fake.messages[0]!;
  assert.equal(arrived.tls, false, `it came on the connection without STARTTLS:\n${why}`);
  assert.deepEqual(arrived.to, [RECIPIENT]);
  assert.match(arrived.data.toString('utf8'), new RegExp(`^Subject: ${subject}\\r$`, 'm'), 'the message is the one submitted');
  assert.deepEqual(
    attempts.map((a) => [a.result, a.tls, a.tlsFallback]),
    [['delivered', false, true]],
    `logged as delivered without TLS, after the fallback:\n${why}`,
  );
});

test('the same receiver allowed TLS 1.2: the message arrives over TLS 1.2 on one connection', async (t) => {
  const fake = await receiver(t, 'TLSv1', 'TLSv1.2');
  const instance = await sender(t, fake);
  const { attempts } = await sendAndWait(instance);
  const why = show(fake, attempts);
  assert.deepEqual(fake.handshakes, [{ protocol: 'TLSv1.2' }], `one handshake, TLS 1.2:\n${why}`);
  assert.equal(fake.connections(), 1, `one connection:\n${why}`);
  assert.deepEqual(fake.messages.map((m) => [m.to, m.tls]), [[[RECIPIENT], true]], `delivered over TLS:\n${why}`);
  assert.deepEqual(attempts.map((a) => [a.result, a.tls, a.tlsFallback]), [['delivered', true, undefined]], `logged as delivered over TLS:\n${why}`);
});
