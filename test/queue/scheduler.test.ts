// The outbound queue end to end inside one process: real store, real SMTP sessions to
// small servers on loopback, [outbound.transport] or a fake resolver for the routes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createOutboundQueue, type OutboundQueueOptions } from '../../src/queue/scheduler.ts';
import type { HopResolver } from '../../src/queue/next-hop.ts';
import { startFakeSmtp, type FakeSmtp } from './fake-smtp.ts';
import { blobCount, enqueue, inbox, MESSAGE, queueFixture, testConfig, waitFor, type QueueFixture } from './helpers.ts';

const noDns: HopResolver = {
  resolveMx: async () => Promise.reject(Object.assign(new Error('no DNS in this test'), { code: 'ESERVFAIL' })),
  resolve4: async () => Promise.reject(Object.assign(new Error('no DNS in this test'), { code: 'ESERVFAIL' })),
  resolve6: async () => Promise.reject(Object.assign(new Error('no DNS in this test'), { code: 'ESERVFAIL' })),
};

function route(server: FakeSmtp): string {
  return `${server.host}:${server.port}`;
}

function queueOptions(fixture: QueueFixture, extra: Partial<OutboundQueueOptions> & Pick<OutboundQueueOptions, 'config'>): OutboundQueueOptions {
  return {
    queue: fixture.store.queue,
    notices: { accounts: fixture.store.accounts, intake: fixture.intake },
    logger: fixture.logger,
    resolver: noDns,
    greetingTimeoutMs: 2000,
    socketTimeoutMs: 5000,
    ...extra,
  };
}

test('delivered: one session per message and domain, every recipient; rows and the unshared file go', async (t) => {
  const f = await queueFixture(t);
  const net = await startFakeSmtp({ pipelining: true });
  const org = await startFakeSmtp();
  t.after(() => Promise.all([net.close(), org.close()]));
  const config = testConfig({ transport: { 'example.net': route(net), 'example.org': route(org) } });
  await enqueue(f.store, { queueId: 'q1', recipients: ['bob@example.net', 'carol@Example.NET', 'dave@example.org'] });
  const queue = createOutboundQueue(queueOptions(f, { config }));

  await queue.runOnce();
  assert.equal(net.connections(), 1);
  assert.deepEqual(net.messages.map((m) => m.to), [['bob@example.net', 'carol@Example.NET']]);
  assert.deepEqual(org.messages.map((m) => m.to), [['dave@example.org']]);
  assert.deepEqual(net.messages[0]!.data, MESSAGE);
  assert.equal(net.messages[0]!.helo, 'mail.example.test');
  assert.equal(net.messages[0]!.from, 'alice@example.test');
  assert.deepEqual((await f.store.queue.list()), []);
  assert.equal(await blobCount(f.dir), 0);
  const attempts = f.logs.filter((line) => line.msg === 'delivery attempt');
  assert.equal(attempts.length, 3);
  for (const line of attempts) {
    assert.equal(line.queueId, 'q1');
    assert.equal(line.result, 'delivered');
    assert.equal(line.tls, false);
    assert.match(String(line.hop), /^127\.0\.0\.1:\d+$/);
  }
  await queue.stop();
});

test('a file shared with a local copy stays after delivery', async (t) => {
  const f = await queueFixture(t);
  const net = await startFakeSmtp();
  t.after(() => net.close());
  const config = testConfig({ transport: { 'example.net': route(net) } });
  await enqueue(f.store, { queueId: 'q1', recipients: ['bob@example.net'], localUserIds: [f.aliceId] });
  await createOutboundQueue(queueOptions(f, { config })).runOnce();
  assert.equal(net.messages.length, 1);
  assert.equal(await blobCount(f.dir), 1);
  assert.equal((await inbox(f.store, f.aliceId)).length, 1);
});

test('4xx: retried with exponential backoff, then delivered', async (t) => {
  const f = await queueFixture(t);
  let refusals = 2;
  const net = await startFakeSmtp({ rcpt: () => (refusals-- > 0 ? '451 4.7.1 greylisted, try later' : '250 2.1.5 ok') });
  t.after(() => net.close());
  let clock = Date.now();
  const config = testConfig({ transport: { 'example.net': route(net) }, retry_initial: '10s', retry_max: '15s' });
  const queue = createOutboundQueue(queueOptions(f, { config, now: () => clock }));
  const rows = f.store.queue;
  await enqueue(f.store, { queueId: 'q1', recipients: ['bob@example.net'] });
  clock = (await rows.list())[0]!.createdAt;

  await queue.runOnce();
  let [row] = (await rows.list());
  assert.equal(row!.attempts, 1);
  assert.equal(row!.nextAttemptAt, clock + 10_000);
  assert.match(row!.lastError!, /^127\.0\.0\.1:\d+: 451 4\.7\.1 greylisted, try later$/);

  // Not due yet: nothing happens.
  clock += 9_999;
  await queue.runOnce();
  assert.equal(net.connections(), 1);

  clock += 1;
  await queue.runOnce();
  [row] = (await rows.list());
  assert.equal(row!.attempts, 2);
  assert.equal(row!.nextAttemptAt, clock + 15_000, 'doubled, capped at retry_max');

  clock += 15_000;
  await queue.runOnce();
  assert.deepEqual((await rows.list()), []);
  assert.equal(net.messages.length, 1);
  assert.deepEqual(await inbox(f.store, f.aliceId), [], 'no notice for a delivered message');
});

test('5xx: a notice (DSN) in the local sender\'s mailbox, rows and file removed', async (t) => {
  const f = await queueFixture(t);
  const net = await startFakeSmtp({ rcpt: (to) => (to.startsWith('bob') ? '550 5.1.1 <bob@example.net>: no such user' : '250 2.1.5 ok') });
  t.after(() => net.close());
  const config = testConfig({ transport: { 'example.net': route(net) } });
  await enqueue(f.store, { queueId: 'q5', recipients: ['bob@example.net', 'carol@example.net'] });
  await createOutboundQueue(queueOptions(f, { config })).runOnce();

  assert.deepEqual(net.messages.map((m) => m.to), [['carol@example.net']]);
  assert.deepEqual((await f.store.queue.list()), []);
  const [notice, ...more] = await inbox(f.store, f.aliceId);
  assert.equal(more.length, 0);
  assert.match(notice!, /^Return-Path: <>\r\n/);
  assert.match(notice!, /\r\nSubject: Undelivered Mail Returned to Sender\r\n/);
  assert.match(notice!, /\r\nTo: <alice@example\.test>\r\n/);
  assert.match(notice!, /Final-Recipient: rfc822; bob@example\.net\r\nAction: failed\r\nStatus: 5\.1\.1\r\n/);
  assert.match(notice!, /Diagnostic-Code: smtp; 550 5\.1\.1 <bob@example\.net>: no such user/);
  assert.doesNotMatch(notice!, /carol@example\.net>:/, 'the delivered recipient is not reported');
  assert.match(notice!, /Subject: outbound test/, 'the original header is returned');
  assert.doesNotMatch(notice!, /Hello Bob/, 'the body is not');
  // The original file went with its rows; only the notice's file remains.
  assert.equal(await blobCount(f.dir), 1);
  assert.ok(f.logs.some((line) => line.msg === 'delivery failed; notice sent to the sender' && line.queueId === 'q5'));
});

test('expiry: retries given up after max_age with a notice; the last try falls at max_age', async (t) => {
  const f = await queueFixture(t);
  const net = await startFakeSmtp({ rcpt: () => '421 4.3.2 system not accepting mail' });
  t.after(() => net.close());
  let clock = Date.now();
  const config = testConfig({ transport: { 'example.net': route(net) }, retry_initial: '40m', retry_max: '50m', max_age: '1h' });
  const queue = createOutboundQueue(queueOptions(f, { config, now: () => clock }));
  const rows = f.store.queue;
  await enqueue(f.store, { queueId: 'q7', recipients: ['bob@example.net'] });
  const createdAt = (await rows.list())[0]!.createdAt;

  clock = createdAt;
  await queue.runOnce();
  assert.equal((await rows.list())[0]!.nextAttemptAt, createdAt + 40 * 60_000);
  clock = createdAt + 40 * 60_000;
  await queue.runOnce();
  assert.equal((await rows.list())[0]!.nextAttemptAt, createdAt + 60 * 60_000, 'not later than created_at + max_age');
  assert.deepEqual(await inbox(f.store, f.aliceId), []);

  clock = createdAt + 60 * 60_000;
  await queue.runOnce();
  assert.equal(net.connections(), 3);
  assert.deepEqual((await rows.list()), []);
  const [notice] = await inbox(f.store, f.aliceId);
  assert.match(notice!, /Status: 4\.3\.2\r\n/);
  assert.match(notice!, /delivery given up after 3 attempts in 0\.\d days/);
  assert.match(notice!, /Diagnostic-Code: smtp; 421 4\.3\.2 system not accepting mail/);
});

test('null MX: failed at once with a notice, no connection, no retry', async (t) => {
  const f = await queueFixture(t);
  const resolver: HopResolver = {
    resolveMx: async (name) => (name === 'nullmx.example' ? [{ exchange: '', priority: 0 }] : []),
    resolve4: async () => ['127.0.0.1'],
    resolve6: async () => [],
  };
  const config = testConfig();
  await enqueue(f.store, { queueId: 'qn', recipients: ['bob@nullmx.example'] });
  await createOutboundQueue(queueOptions(f, { config, resolver })).runOnce();
  assert.deepEqual((await f.store.queue.list()), []);
  const [notice] = await inbox(f.store, f.aliceId);
  assert.match(notice!, /Status: 5\.1\.10\r\n/);
  assert.match(notice!, /does not accept mail \(null MX, RFC 7505\)/);
  const attempt = f.logs.find((line) => line.msg === 'delivery attempt');
  assert.equal(attempt?.hop, null);
  assert.equal(attempt?.result, 'permanent');
});

test('no backscatter: relayed mail (origin mta) and non-local senders are dropped without a notice', async (t) => {
  const f = await queueFixture(t);
  const net = await startFakeSmtp({ rcpt: () => '550 5.7.1 go away' });
  t.after(() => net.close());
  const config = testConfig({ transport: { 'example.net': route(net) } });
  // Even with a local sender address: relayed mail is never bounced.
  await enqueue(f.store, { queueId: 'qm1', origin: 'mta', mailFrom: 'alice@example.test', recipients: ['bob@example.net'] });
  await enqueue(f.store, { queueId: 'qm2', origin: 'mta', mailFrom: 'someone@example.org', recipients: ['bob@example.net'] });
  await enqueue(f.store, { queueId: 'qm3', origin: 'msa', mailFrom: 'stranger@example.org', recipients: ['bob@example.net'] });
  await enqueue(f.store, { queueId: 'qm4', origin: 'msa', mailFrom: '', recipients: ['bob@example.net'] });
  await createOutboundQueue(queueOptions(f, { config })).runOnce();
  assert.deepEqual((await f.store.queue.list()), []);
  assert.deepEqual(await inbox(f.store, f.aliceId), []);
  assert.equal(await blobCount(f.dir), 0);
  const dropped = f.logs.filter((line) => line.msg === 'delivery failed; no notice sent');
  assert.deepEqual(
    dropped.map((line) => [line.queueId, line.why]).sort(),
    [
      ['qm1', 'relayed mail (origin mta): no bounce'],
      ['qm2', 'relayed mail (origin mta): no bounce'],
      ['qm3', 'sender is not a local mailbox'],
      ['qm4', 'null sender'],
    ],
  );
});

test('hops in order: an unreachable MX host is skipped for the next one', async (t) => {
  const f = await queueFixture(t);
  const net = await startFakeSmtp();
  t.after(() => net.close());
  const resolver: HopResolver = {
    resolveMx: async () => [
      { exchange: 'mx2.example.net', priority: 20 },
      { exchange: 'mx1.example.net', priority: 10 },
    ],
    // Nothing listens on 127.0.0.9 at the fake server's port: refused.
    resolve4: async (name) => (name === 'mx1.example.net' ? ['127.0.0.9'] : ['127.0.0.1']),
    resolve6: async () => Promise.reject(Object.assign(new Error('none'), { code: 'ENODATA' })),
  };
  const config = testConfig({ smtp_port: net.port });
  await enqueue(f.store, { queueId: 'qh', recipients: ['bob@example.net'] });
  await createOutboundQueue(queueOptions(f, { config, resolver })).runOnce();
  assert.equal(net.messages.length, 1);
  const attempts = f.logs.filter((line) => line.msg === 'delivery attempt');
  assert.deepEqual(
    attempts.map((line) => [String(line.hop).replace(/:\d+$/, ''), line.result]),
    [
      ['mx1.example.net[127.0.0.9]', 'temporary'],
      ['mx2.example.net[127.0.0.1]', 'delivered'],
    ],
  );
});

test('connection limits: at most max_per_domain per domain and max_connections in all', async (t) => {
  const f = await queueFixture(t);
  const tracker = { open: 0, max: 0 };
  const net = await startFakeSmtp({ dataReplyDelayMs: 150, tracker });
  const org = await startFakeSmtp({ dataReplyDelayMs: 150, tracker });
  t.after(() => Promise.all([net.close(), org.close()]));
  const config = testConfig({
    transport: { 'example.net': route(net), 'example.org': route(org) },
    max_connections: 3,
    max_per_domain: 2,
  });
  for (let i = 0; i < 5; i++) {
    await enqueue(f.store, { queueId: `n${i}`, recipients: [`bob${i}@example.net`] });
    await enqueue(f.store, { queueId: `o${i}`, recipients: [`bob${i}@example.org`] });
  }
  const queue = createOutboundQueue(queueOptions(f, { config, pollIntervalMs: 50 }));
  queue.start();
  const rows = f.store.queue;
  await waitFor(async () => (await rows.list()).length === 0, 15_000, 'the queue to empty');
  await queue.stop();
  assert.equal(net.messages.length + org.messages.length, 10);
  assert.ok(net.maxConcurrent() <= 2, `example.net: ${net.maxConcurrent()}`);
  assert.ok(org.maxConcurrent() <= 2, `example.org: ${org.maxConcurrent()}`);
  assert.ok(tracker.max <= 3, `in all: ${tracker.max}`);
  assert.ok(tracker.max >= 2, `deliveries ran in parallel: ${tracker.max}`);
});

test('rows removed by another process during a delivery: no notice, nothing re-added', async (t) => {
  const f = await queueFixture(t);
  const other = f.store.queue;
  const net = await startFakeSmtp({
    rcpt: () => '550 5.1.1 no such user',
    mail: () => {
      // `kakitome queue cancel` runs while the session is under way.
      void other.removeMessage('qc');
      return '250 2.1.0 ok';
    },
  });
  t.after(() => net.close());
  const config = testConfig({ transport: { 'example.net': route(net) } });
  await enqueue(f.store, { queueId: 'qc', recipients: ['bob@example.net'] });
  await createOutboundQueue(queueOptions(f, { config })).runOnce();
  assert.deepEqual((await other.list()), []);
  assert.deepEqual(await inbox(f.store, f.aliceId), []);
});

test('retry from another process makes held rows due; a held row is not attempted before', async (t) => {
  const f = await queueFixture(t);
  const net = await startFakeSmtp();
  t.after(() => net.close());
  const config = testConfig({ transport: { 'example.net': route(net) } });
  await enqueue(f.store, { queueId: 'qr', recipients: ['bob@example.net'] });
  const rows = f.store.queue;
  // Held for an hour, as the MSA's hold window would.
  f.db.prepare('UPDATE queue SET next_attempt_at = ?').run(Date.now() + 3_600_000);
  const queue = createOutboundQueue(queueOptions(f, { config }));
  await queue.runOnce();
  assert.equal(net.connections(), 0);
  assert.equal(await rows.retry(Date.now(), 'qr'), 1);
  await queue.runOnce();
  assert.equal(net.messages.length, 1);
});

test('stop(): waits for deliveries in flight, aborts them after its timeout; interrupted rows stay due', { timeout: 30_000 }, async (t) => {
  const f = await queueFixture(t);
  const { createServer } = await import('node:net');
  // A server that accepts and never greets; it tells when the session is open and when the client closed it.
  let connections = 0;
  let opened!: () => void;
  const sessionOpen = new Promise<void>((resolve) => (opened = resolve));
  let closedByClient!: Promise<void>;
  const silent = createServer((socket) => {
    connections++;
    closedByClient = new Promise((resolve) => socket.once('close', () => resolve()));
    opened();
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => silent.close());
  const port = (silent.address() as { port: number }).port;
  const config = testConfig({ transport: { 'example.net': `127.0.0.1:${port}` } });
  await enqueue(f.store, { queueId: 'qs', recipients: ['bob@example.net'] });
  // Every pass reads the due rows first: counting the reads shows whether a pass ran.
  let reads = 0;
  const rows = f.store.queue;
  const counted = new Proxy(rows, {
    get(target, name, receiver) {
      if (name === 'due') reads++;
      const value = Reflect.get(target, name, receiver) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const queue = createOutboundQueue(queueOptions(f, { config, queue: counted, stopTimeoutMs: 200, greetingTimeoutMs: 60_000 }));
  queue.start();
  await sessionOpen;
  // Without the abort, stop() would wait for the 60 s greeting timeout (past the test's timeout).
  await queue.stop();
  await closedByClient;
  assert.ok(f.logs.some((line) => line.msg === 'aborting deliveries still in flight'), 'stop() says it aborted the delivery');
  const [row] = await rows.list();
  assert.equal(row!.attempts, 0, 'an interrupted attempt is not counted');
  assert.ok(row!.nextAttemptAt <= Date.now(), 'the row is due for the next start');

  // After stop, kick() and start() start no pass: the row is due, yet it is not even read.
  const readsAtStop = reads;
  queue.kick();
  queue.start();
  // kick() passes on the next turn of the event loop; runOnce() passes after it, in order.
  await new Promise((resolve) => setImmediate(resolve));
  await queue.runOnce();
  assert.equal(reads, readsAtStop, 'no pass read the queue after stop()');
  assert.equal(connections, 1, 'no new session was opened');
});
