import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apopDigest, apopTimestamp, verifyApop } from '../../src/auth/apop.ts';
import { decodeSaslPlain } from '../../src/auth/sasl-plain.ts';

test('RFC 1939 §7 example digest', () => {
  assert.equal(apopDigest('<1896.697170952@dbc.mtview.ca.us>', 'tanstaaf'), 'c4c9334bac560ecc979e58001b3e22fb');
  assert.ok(verifyApop('<1896.697170952@dbc.mtview.ca.us>', 'tanstaaf', 'c4c9334bac560ecc979e58001b3e22fb'));
  assert.ok(verifyApop('<1896.697170952@dbc.mtview.ca.us>', 'tanstaaf', 'C4C9334BAC560ECC979E58001B3E22FB'));
  assert.ok(!verifyApop('<1896.697170952@dbc.mtview.ca.us>', 'tanstaaF', 'c4c9334bac560ecc979e58001b3e22fb'));
  assert.ok(!verifyApop('<1896.697170952@dbc.mtview.ca.us>', 'tanstaaf', 'c4c9334bac560ecc979e58001b3e22f'));
  assert.ok(!verifyApop('<1896.697170952@dbc.mtview.ca.us>', 'tanstaaf', 'zzc9334bac560ecc979e58001b3e22fb'));
});

test('APOP timestamps are msg-ids naming the host, fresh each time', () => {
  const a = apopTimestamp('mail.example.test');
  assert.match(a, /^<[0-9a-f]{24}\.\d+@mail\.example\.test>$/);
  assert.notEqual(a, apopTimestamp('mail.example.test'));
});

test('SASL PLAIN (RFC 4616)', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  assert.deepEqual(decodeSaslPlain(b64('\0alice@example.test\0secret pass')), { authzid: '', username: 'alice@example.test', password: 'secret pass' });
  assert.deepEqual(decodeSaslPlain(b64('admin\0alice\0pw')), { authzid: 'admin', username: 'alice', password: 'pw' });
  assert.equal(decodeSaslPlain(b64('alice\0pw')), undefined);
  assert.equal(decodeSaslPlain(b64('\0\0pw')), undefined);
  assert.equal(decodeSaslPlain('not base64!'), undefined);
  assert.equal(decodeSaslPlain('*'), undefined);
});
