import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as turn } from 'node:timers/promises';
import { HashSlots } from '../../src/auth/hash-slots.ts';
import { hashPassword, SCRYPT_SLOTS, verifyPassword } from '../../src/auth/password.ts';

test('no more than the limit run at once; the rest run in the order they came', async () => {
  const slots = new HashSlots(2);
  let inFlight = 0;
  let most = 0;
  const started: number[] = [];
  const jobs = Array.from({ length: 7 }, (_, i) => slots.run(async () => {
    started.push(i);
    inFlight++;
    most = Math.max(most, inFlight);
    for (let k = 0; k < 3; k++) await turn();
    inFlight--;
    return i * 10;
  }));
  assert.equal(slots.busy, 2);
  assert.equal(slots.queued, 5);
  assert.deepEqual(await Promise.all(jobs), [0, 10, 20, 30, 40, 50, 60]);
  assert.equal(most, 2);
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6]);
  assert.equal(slots.busy, 0);
  assert.equal(slots.queued, 0);
});

test('a job that fails gives its slot back', async () => {
  const slots = new HashSlots(1);
  const failing = slots.run(async () => {
    await turn();
    throw new Error('boom');
  });
  const next = slots.run(async () => 'ran');
  await assert.rejects(failing, /boom/);
  assert.equal(await next, 'ran');
  assert.equal(slots.busy, 0);
});

test('a limit below one is refused', () => {
  assert.throws(() => new HashSlots(0), RangeError);
  assert.throws(() => new HashSlots(1.5), RangeError);
});

test('a burst of logins: every verification answers rightly, two scrypt at a time', async () => {
  const stored = await hashPassword('a burst of logins', 12);
  let most = 0;
  const watch = setInterval(() => { most = Math.max(most, SCRYPT_SLOTS.busy); }, 1);
  const answers = await Promise.all(Array.from({ length: 12 }, (_, i) =>
    verifyPassword(i % 3 === 0 ? 'a wrong guess here' : 'a burst of logins', stored)));
  clearInterval(watch);
  assert.deepEqual(answers, Array.from({ length: 12 }, (_, i) => i % 3 !== 0));
  assert.ok(most >= 1 && most <= SCRYPT_SLOTS.limit, `at most ${SCRYPT_SLOTS.limit} in flight, saw ${most}`);
  assert.equal(SCRYPT_SLOTS.limit, 2);
  assert.equal(SCRYPT_SLOTS.busy, 0);
});
