// "250 after DATA means the message is on disk and will survive a crash" (SPEC):
// 20 concurrent senders deliver to port 25, the server is killed with SIGKILL in the
// middle of it, restarted, and every message that got its 250 is in the mailbox
// exactly once. Messages that were not acknowledged may or may not be there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startInstance, type Instance } from '../harness/instance.ts';
import { subjectOf } from './mailbox.ts';
import { storedMessagesOf as messagesOf, waitForStoredMessages as waitForMessages } from './store-files.ts';
import { message, PASSWORD, SmtpClient, tag, USER } from './smtp.ts';

const SENDERS = 20;
const MESSAGES_PER_SENDER = 40; // upper bound per sender and cycle
const KILL_AFTER_ACKS = 60; // kill once this many messages were acknowledged in the cycle…
const KILL_AFTER_MS = 4000; // …or after this long, whichever comes first
const LOAD_DEADLINE_MS = 8000; // no sender goes on longer than this
const BODY = `${'The quick brown fox jumps over the lazy dog. '.repeat(20)}\r\n`.repeat(8); // ~7 KB

interface LoadResult {
  acked: string[];
  attempted: number;
  refusedGreetings: number;
  otherReplies: string[];
  /** Connection or protocol errors while the server was still up (before the kill): each one is a failure. */
  liveErrors: string[];
}

/** One sender: a session, messages one after another, until its bound, the deadline, or the crash. */
async function sender(instance: Instance, id: string, stop: { now: boolean }, deadline: number, result: LoadResult, onAck: () => void): Promise<void> {
  let sent = 0;
  while (!stop.now && sent < MESSAGES_PER_SENDER && Date.now() < deadline) {
    let client: SmtpClient;
    try {
      client = await SmtpClient.to(instance, { timeoutMs: 3000 });
    } catch (error) {
      if (!stop.now) result.liveErrors.push(`${id}: connect: ${(error as Error).message}`);
      return; // after the kill: the server is gone, as intended
    }
    try {
      if (client.greeting!.code !== 220) {
        result.refusedGreetings++;
        client.close();
        await sleep(50);
        continue;
      }
      await client.cmd('EHLO load.test');
      while (!stop.now && sent < MESSAGES_PER_SENDER && Date.now() < deadline) {
        const subject = `${id}-${sent++}`;
        result.attempted++;
        const reply = await client.deliver('load@remote.example', [USER], message({ subject, body: BODY }));
        if (reply.code === 250 && reply.enhanced === '2.0.0') {
          result.acked.push(subject);
          onAck();
        } else {
          result.otherReplies.push(`${subject}: ${reply.last}`);
          break;
        }
      }
      client.close();
    } catch (error) {
      client.close();
      if (stop.now) return; // killed under our feet: expected
      result.liveErrors.push(`${id}: ${(error as Error).message.split('\n')[0]}`);
      return;
    }
  }
}

async function loadAndKill(instance: Instance, cycle: number): Promise<LoadResult> {
  const result: LoadResult = { acked: [], attempted: 0, refusedGreetings: 0, otherReplies: [], liveErrors: [] };
  const stop = { now: false };
  const deadline = Date.now() + LOAD_DEADLINE_MS;
  let killTrigger!: () => void;
  const enoughAcks = new Promise<void>((resolve) => (killTrigger = resolve));
  const onAck = () => {
    if (result.acked.length >= KILL_AFTER_ACKS) killTrigger();
  };
  const run = tag(`c${cycle}`);
  const senders = Array.from({ length: SENDERS }, (_, i) => sender(instance, `${run}-s${i}`, stop, deadline, result, onAck));
  await Promise.race([enoughAcks, sleep(KILL_AFTER_MS)]);
  stop.now = true;
  await instance.kill(); // SIGKILL while sessions are in the middle of MAIL/RCPT/DATA
  await Promise.all(senders);
  return result;
}

test('kill -9 during 20 concurrent deliveries: every acknowledged message is in the mailbox exactly once after restart', async (t) => {
  const instance: Instance = await startInstance({ t, users: [{ address: USER, password: PASSWORD }] });
  const allAcked: string[] = [];
  for (const cycle of [1, 2]) {
    const result = await loadAndKill(instance, cycle);
    t.diagnostic(
      `cycle ${cycle}: ${result.attempted} attempted, ${result.acked.length} acknowledged before the kill` +
        (result.refusedGreetings ? `, ${result.refusedGreetings} greetings refused` : ''),
    );
    assert.ok(result.acked.length > 0, `cycle ${cycle}: no message was acknowledged before the kill; other replies: ${result.otherReplies.slice(0, 5).join('; ')}`);
    assert.deepEqual(result.otherReplies, [], `cycle ${cycle}: deliveries refused by a live server`);
    assert.deepEqual(result.liveErrors, [], `cycle ${cycle}: sessions failed while the server was still running`);
    allAcked.push(...result.acked);

    await instance.restart();
    // Anything spooled but not yet in the mailbox is delivered on restart; give it a bounded while.
    const wanted = new Set(allAcked);
    const messages = await waitForMessages(
      instance,
      USER,
      (stored) => {
        const present = new Set(stored.map((m) => subjectOf(m)));
        return [...wanted].every((subject) => present.has(subject));
      },
      { timeoutMs: 15_000, what: `all ${wanted.size} acknowledged messages (cycle ${cycle})` },
    ).catch(async (error: Error) => {
      const present = new Set((await messagesOf(instance, USER)).map((m) => subjectOf(m)));
      const missing = allAcked.filter((subject) => !present.has(subject));
      throw new Error(`${error.message}\nacknowledged but missing (${missing.length}): ${missing.slice(0, 20).join(', ')}`);
    });

    const counts = new Map<string, number>();
    for (const m of messages) counts.set(subjectOf(m) ?? '(none)', (counts.get(subjectOf(m) ?? '(none)') ?? 0) + 1);
    const duplicated = allAcked.filter((subject) => (counts.get(subject) ?? 0) !== 1);
    assert.deepEqual(duplicated.map((s) => `${s} ×${counts.get(s)}`), [], `cycle ${cycle}: acknowledged messages stored more than once`);
    const unacked = messages.length - allAcked.length;
    t.diagnostic(`cycle ${cycle}: mailbox holds ${messages.length} messages, ${unacked} of them not acknowledged (allowed)`);
    // Content survived intact, not just the index row.
    for (const m of messages.filter((m) => wanted.has(subjectOf(m)!))) {
      assert.ok(m.content.includes(BODY), `message ${subjectOf(m)} is truncated or altered (size ${m.size})`);
      assert.equal(m.size, m.bytes.length, `message ${subjectOf(m)}: indexed size differs from the file`);
    }
  }

  // And the restarted server serves as before.
  const subject = tag('after-crash');
  const client = await SmtpClient.to(instance);
  await client.ehlo('client.test');
  await client.mustDeliver('sender@remote.example', [USER], message({ subject }));
  await client.quit();
  await waitForMessages(instance, USER, (stored) => stored.some((m) => subjectOf(m) === subject), { what: subject });
});
