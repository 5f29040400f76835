// README (Outbound queue): "One SMTP transaction per message and domain, at most 100
// recipients" (RFC 5321 §4.5.3.1.8: a server need take no more than 100 RCPTs). One
// message submitted on 587 for 150 recipients in one domain (the sender's
// smtp.max_recipients raised to 150 so the MSA takes them in one transaction):
//
// - at a loopback receiver that would take any number (test/queue/fake-smtp.ts,
//   through [outbound.transport]), each transaction has at most 100 RCPTs, there are
//   at least two, and together they name all 150 recipients once each;
// - at a real receiving kakitome (B, found through dnsmasq's MX) that keeps the RFC's
//   minimum of 100 per transaction, all 150 are delivered at the first attempt — a
//   101st RCPT would have got 452 4.5.3 and waited for a retry — and B's user, whom
//   every one of the 150 addresses (user+tag) reaches, gets one copy per transaction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeSmtp } from '../queue/fake-smtp.ts';
import { startInstance, type Instance } from '../harness/instance.ts';
import type { LogEntry } from '../harness/serve-process.ts';
import { subjectOf, waitForMessages } from './mailbox.ts';
import { PASSWORD, tag, USER } from './smtp.ts';
import { ALICE, BOB, loggedIn, queueIdOf, setToml, setTransport, startPair } from './two-instances.ts';

const COUNT = 150;
const LIMIT = 100;

/** A message whose To: names nobody (150 addresses would make an over-long header line). */
function bulkMessage(from: string, subject: string): string {
  return [
    `From: <${from}>`,
    'To: undisclosed-recipients:;',
    `Subject: ${subject}`,
    `Message-ID: <${subject}@client.test>`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    '',
    `one message for ${COUNT} recipients`,
  ].join('\r\n');
}

/** Submits one message from `user` for all `recipients` in one transaction on 587; returns its queue id and subject. */
async function submitToAll(instance: Instance, user: string, recipients: readonly string[]): Promise<{ id: string; subject: string }> {
  const subject = tag('bulk');
  const client = await loggedIn(instance, user, PASSWORD);
  try {
    const reply = await client.deliver(user, recipients, bulkMessage(user, subject));
    client.assertReply(reply, '250 2.0.0', `one submission for ${recipients.length} recipients`);
    return { id: queueIdOf(reply), subject };
  } finally {
    await client.quit();
  }
}

/** Waits until every recipient of queue id `id` has a delivered attempt in the log; returns all its attempts. */
async function deliveredAttempts(instance: Instance, id: string, count: number): Promise<LogEntry[]> {
  const isAttempt = (entry: LogEntry) => entry.msg === 'delivery attempt' && entry.queueId === id;
  const delivered = new Set<unknown>(); // fed entry by entry, past ones first
  await instance.waitForLog((entry) => {
    if (isAttempt(entry) && entry.result === 'delivered') delivered.add(entry.recipient);
    return delivered.size >= count;
  }, 60_000); // hang guard
  return instance.logEntries().filter(isAttempt);
}

const summary = (attempts: readonly LogEntry[]) =>
  JSON.stringify(Object.entries(Object.groupBy(attempts, (a) => `${a.result} attempt ${a.attempt}`)).map(([k, v]) => [k, v?.length]));

test(`a loopback receiver sees ${COUNT} recipients in transactions of at most ${LIMIT} RCPTs, each recipient once`, async (t) => {
  const fake = await startFakeSmtp({ pipelining: true });
  t.after(() => fake.close());
  const instance = await startInstance({
    t,
    users: [{ address: USER, password: PASSWORD }],
    editConfig: (toml) => setToml(setTransport(toml, 'peer.test', `${fake.host}:${fake.port}`), { 'smtp.max_recipients': COUNT }),
  });
  const recipients = Array.from({ length: COUNT }, (_, i) => `r${i + 1}@peer.test`);
  const { id, subject } = await submitToAll(instance, USER, recipients);
  const attempts = await deliveredAttempts(instance, id, COUNT);

  const transactions = fake.messages.map((m) => m.to.length);
  assert.ok(transactions.length >= 2, `${COUNT} recipients need at least two transactions; got ${JSON.stringify(transactions)}`);
  assert.ok(transactions.every((n) => n <= LIMIT), `a transaction had more than ${LIMIT} RCPTs: ${JSON.stringify(transactions)}`);
  const named = fake.messages.flatMap((m) => m.to);
  assert.equal(named.length, COUNT, `each recipient named once: ${JSON.stringify(transactions)}`);
  assert.deepEqual([...named].sort(), [...recipients].sort(), 'the transactions together name exactly the recipients');
  for (const m of fake.messages) assert.match(m.data.toString('utf8'), new RegExp(`^Subject: ${subject}\\r$`, 'm'), 'every transaction carries the message');
  assert.deepEqual(new Set(attempts.map((a) => a.result)), new Set(['delivered']), `every attempt delivered: ${summary(attempts)}`);
});

test(`a real kakitome keeping the RFC minimum of ${LIMIT} RCPTs gets all ${COUNT} at the first attempt, one copy per transaction`, async (t) => {
  const pair = await startPair({
    t,
    a: { users: [{ address: ALICE, password: PASSWORD }], config: { 'smtp.max_recipients': COUNT } },
    b: { users: [{ address: BOB, password: PASSWORD }], config: { 'smtp.max_recipients': LIMIT } },
  });
  const [local, domain] = BOB.split('@');
  const recipients = Array.from({ length: COUNT }, (_, i) => `${local}+r${i + 1}@${domain}`);
  const { id, subject } = await submitToAll(pair.a, ALICE, recipients);
  const attempts = await deliveredAttempts(pair.a, id, COUNT);

  assert.equal(attempts.length, COUNT, `one attempt per recipient, none refused or retried: ${summary(attempts)}`);
  assert.ok(attempts.every((a) => a.result === 'delivered' && a.attempt === 1), `all delivered at the first attempt: ${summary(attempts)}`);
  const copies = (await waitForMessages(pair.b, BOB, (messages) => messages.filter((m) => subjectOf(m) === subject).length >= 2, { what: 'two copies' }))
    .filter((m) => subjectOf(m) === subject);
  assert.equal(copies.length, Math.ceil(COUNT / LIMIT), `B's user gets one copy per transaction (${COUNT} recipients, ${LIMIT} per transaction)`);
});
