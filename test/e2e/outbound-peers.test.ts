// The outbound queue's routing and connection limits against a real receiving kakitome
// found through dnsmasq (two-instances.ts: A 127.0.0.2, B 127.0.0.3, all on loopback),
// the cases test/queue covers with its fake SMTP server and fake resolver (which stay
// for scripted 4xx/5xx replies and broken TLS):
//   - MX fallback: the preferred MX host does not answer, the next one (B) gets the mail;
//   - outbound.max_per_domain / outbound.max_connections = 1 against a B that serves two
//     connections per client address (smtp.max_connections_per_ip = 2): several messages
//     due at once all go through without a single refused connection. Two, not one: B
//     counts a session until it has seen its socket close, so A's next connection right
//     after a QUIT may meet the previous one still counted (seen once under load); a
//     queue that ignored its limit opens up to five at once and meets B's 421 4.7.0.
// Plain delivery A → B is in outbound.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LogEntry } from '../harness/serve-process.ts';
import { subjectOf, waitForMessages } from './mailbox.ts';
import { tag } from './smtp.ts';
import { ALICE, BOB, PASSWORD, startPair, submit, type Pair } from './two-instances.ts';

const DEAD_MX = 'mx1.b.test'; // preferred, at an address where nothing listens
const DEAD_ADDRESS = '127.0.0.9';

const users = (address: string) => [{ address, password: PASSWORD }];
const show = (entries: readonly LogEntry[]) => entries.map((entry) => JSON.stringify(entry)).join('\n');
const attemptsFor = (pair: Pair, ids: readonly string[]) =>
  pair.a.logEntries().filter((entry) => entry.msg === 'delivery attempt' && ids.includes(String(entry.queueId)));

test('MX fallback: the preferred MX host refuses the connection, the next one (a real kakitome) gets the mail in the same attempt', async (t) => {
  const pair = await startPair({
    t,
    a: { users: users(ALICE) },
    b: { users: users(BOB) },
    records: {
      mx: { 'b.test': [{ exchange: DEAD_MX, priority: 10 }, { exchange: 'mail.b.test', priority: 20 }] },
      a: { [DEAD_MX]: DEAD_ADDRESS },
    },
  });
  const subject = tag('mx-fallback');
  const { id } = await submit(pair.a, ALICE, BOB, subject);
  await waitForMessages(pair.b, BOB, (messages) => messages.some((m) => subjectOf(m) === subject), { what: subject });
  await pair.a.waitForLog((entry) => entry.msg === 'delivery attempt' && entry.queueId === id && entry.result === 'delivered'); // hang guard
  const attempts = attemptsFor(pair, [id]);
  const hops = attempts.map((entry) => [String(entry.hop), entry.result, entry.attempt]);
  assert.equal(hops.length, 2, `expected the dead MX tried, then B:\n${show(attempts)}`);
  assert.match(String(hops[0]![0]), new RegExp(`^${DEAD_MX.replace(/\./g, '\\.')}\\[${DEAD_ADDRESS.replace(/\./g, '\\.')}\\]`), `the preferred MX first:\n${show(attempts)}`);
  assert.equal(hops[0]![1], 'temporary', `a refused connection is temporary:\n${show(attempts)}`);
  assert.match(String(hops[1]![0]), /^mail\.b\.test\[127\.0\.0\.3\]/, `then the next MX, B:\n${show(attempts)}`);
  assert.equal(hops[1]![1], 'delivered');
  assert.deepEqual(hops.map((hop) => hop[2]), [1, 1], `both hops within the first attempt (no retry needed):\n${show(attempts)}`);
});

for (const limit of ['outbound.max_per_domain', 'outbound.max_connections'] as const) {
  test(`${limit} = 1: five messages due at once reach a receiver that serves two connections per client, none refused`, async (t) => {
    const pair = await startPair({
      t,
      // The hold makes the five messages due together, so the queue would open parallel connections if it could.
      a: { users: users(ALICE), config: { [limit]: 1, 'outbound.hold': '3s' } },
      b: { users: users(BOB), config: { 'smtp.max_connections_per_ip': 2 } },
    });
    const subjects = Array.from({ length: 5 }, (_, i) => tag(`limit${i}`));
    const ids: string[] = [];
    for (const subject of subjects) ids.push((await submit(pair.a, ALICE, BOB, subject)).id);
    await waitForMessages(pair.b, BOB, (messages) => subjects.every((s) => messages.some((m) => subjectOf(m) === s)), { what: 'all five messages', timeoutMs: 60_000 }); // hang guard
    const attempts = attemptsFor(pair, ids);
    // A third connection from A at the same time would have got B's 421 4.7.0: a temporary attempt.
    assert.deepEqual(
      attempts.map((entry) => entry.result),
      ids.map(() => 'delivered'),
      `every message delivered at its first attempt, no connection refused by B:\n${show(attempts)}`,
    );
  });
}
