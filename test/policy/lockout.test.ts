import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthLockout } from '../../src/policy/access/lockout.ts';

function clock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

test('an address is locked after its failure limit, for the lockout time', () => {
  const c = clock();
  const lockout = new AuthLockout({ maxFailuresPerIp: 3, maxFailuresPerAccount: 100, lockoutMs: 60_000 }, c.now);
  for (const name of ['a', 'b']) lockout.recordFailure('192.0.2.1', name);
  assert.equal(lockout.isLocked('192.0.2.1', 'c'), false);
  lockout.recordFailure('::ffff:192.0.2.1', 'c');
  assert.equal(lockout.isLocked('192.0.2.1', 'anyone'), true, 'mapped IPv4 counts as the same address');
  assert.equal(lockout.isLocked('192.0.2.2', 'anyone'), false);
  c.advance(60_001);
  assert.equal(lockout.isLocked('192.0.2.1', 'anyone'), false);
});

test('an account name is locked from everywhere after its limit; success clears only the account', () => {
  const c = clock();
  const lockout = new AuthLockout({ maxFailuresPerIp: 100, maxFailuresPerAccount: 2, lockoutMs: 60_000 }, c.now);
  lockout.recordFailure('192.0.2.1', 'alice@example.test');
  lockout.recordSuccess('alice@example.test');
  lockout.recordFailure('192.0.2.2', 'alice@example.test');
  assert.equal(lockout.isLocked('192.0.2.9', 'alice@example.test'), false);
  lockout.recordFailure('192.0.2.3', 'alice@example.test');
  assert.equal(lockout.isLocked('192.0.2.9', 'alice@example.test'), true);
  lockout.recordFailure('192.0.2.3', 'nobody@example.test');
  lockout.recordFailure('192.0.2.4', 'nobody@example.test');
  assert.equal(lockout.isLocked('192.0.2.9', 'nobody@example.test'), true, 'unknown names lock the same way');
});

test('failures older than the window are forgotten', () => {
  const c = clock();
  const lockout = new AuthLockout({ maxFailuresPerIp: 2, maxFailuresPerAccount: 100, lockoutMs: 1000 }, c.now);
  lockout.recordFailure('192.0.2.1', 'x');
  c.advance(1001);
  lockout.recordFailure('192.0.2.1', 'x');
  assert.equal(lockout.isLocked('192.0.2.1', 'x'), false);
});
