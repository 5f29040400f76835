import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkPasswordPolicy,
  generatePassword,
  hashPassword,
  PasswordError,
  verifyAgainstDummy,
  verifyPassword,
} from '../../src/auth/password.ts';
import { checkApopSecret } from '../../src/auth/apop-secret.ts';

test('scrypt hashes are salted PHC strings that verify only the right password', async () => {
  const a = await hashPassword('correct horse battery');
  const b = await hashPassword('correct horse battery');
  assert.match(a, /^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  assert.notEqual(a, b, 'a fresh salt each time');
  assert.equal(await verifyPassword('correct horse battery', a), true);
  assert.equal(await verifyPassword('correct horse batterY', a), false);
  assert.equal(await verifyPassword('', a), false);
});

test('a hash with other parameters still verifies (parameters live in the string)', async () => {
  const cheap = await hashPassword('another password', 10);
  assert.match(cheap, /^\$scrypt\$ln=10,/);
  assert.equal(await verifyPassword('another password', cheap), true);
});

test('malformed stored hashes never verify', async () => {
  for (const bad of ['', 'plain', '$scrypt$ln=99,r=8,p=1$AAAA$AAAA', '$scrypt$ln=15,r=8,p=1$AAAA$', '$2y$10$abc']) {
    assert.equal(await verifyPassword('x', bad), false, bad);
  }
});

test('unknown users cost a verification too, and never succeed', async () => {
  assert.equal(await verifyAgainstDummy('whatever'), false);
});

test('password policy', () => {
  assert.throws(() => checkPasswordPolicy(''), PasswordError);
  assert.throws(() => checkPasswordPolicy('short'), /at least 10/);
  assert.throws(() => checkPasswordPolicy('long enough\tbut tab'), /control character/);
  assert.throws(() => checkPasswordPolicy('x'.repeat(1025)), /at most 1024/);
  checkPasswordPolicy('a perfectly fine one');
});

test('generated passwords are long and distinct', () => {
  const seen = new Set(Array.from({ length: 50 }, () => generatePassword()));
  assert.equal(seen.size, 50);
  for (const p of seen) assert.match(p, /^[a-zA-Z2-9]{24}$/);
});

test('the APOP secret must be printable and differ from the login password', async () => {
  const hash = await hashPassword('login password 1');
  await assert.rejects(checkApopSecret('login password 1', hash), /printable|differ/);
  await assert.rejects(checkApopSecret('loginpassword1', await hashPassword('loginpassword1')), /differ/);
  await assert.rejects(checkApopSecret('short', hash), /12 to 255/);
  await assert.rejects(checkApopSecret('has space inside', hash), /printable/);
  await checkApopSecret('tanstaaf-tanstaaf', hash);
});
