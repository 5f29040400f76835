import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyDkim } from '../../../src/policy/dkim/verify.ts';
import { fakeResolver, type FakeZone } from './fake-dns.ts';
import { RFC8463_KEY_RECORDS, RFC8463_SIGNED_MESSAGE } from './rfc8463.ts';

const rfcZone = (): FakeZone =>
  Object.fromEntries(Object.entries(RFC8463_KEY_RECORDS).map(([name, strings]) => [name, { TXT: [[...strings]] }]));

test('RFC 8463 Appendix A: the Ed25519 and the RSA signature both verify', async () => {
  const resolver = fakeResolver(rfcZone());
  const { signatures, headerFrom, fromFields } = await verifyDkim(Buffer.from(RFC8463_SIGNED_MESSAGE), resolver);
  assert.deepEqual(
    signatures.map((s) => [s.result, s.algorithm, s.domain, s.selector]),
    [
      ['pass', 'ed25519-sha256', 'football.example.com', 'brisbane'],
      ['pass', 'rsa-sha256', 'football.example.com', 'test'],
    ],
  );
  assert.deepEqual(headerFrom, ['joe@football.example.com']);
  assert.equal(fromFields, 1);
  assert.deepEqual(resolver.queries.sort(), ['TXT brisbane._domainkey.football.example.com', 'TXT test._domainkey.football.example.com']);
});

test('a changed body or signed header field fails both signatures', async () => {
  for (const tampered of [
    RFC8463_SIGNED_MESSAGE.replace('Are you hungry yet?', 'Are you hungry now?'),
    RFC8463_SIGNED_MESSAGE.replace('Subject: Is dinner ready?', 'Subject: Is dinner ready!'),
  ]) {
    const { signatures } = await verifyDkim(Buffer.from(tampered), fakeResolver(rfcZone()));
    assert.deepEqual(signatures.map((s) => s.result), ['fail', 'fail']);
  }
});

test('a missing key is neutral, a DNS failure temperror, a revoked key neutral', async () => {
  const message = Buffer.from(RFC8463_SIGNED_MESSAGE);
  const missing = await verifyDkim(message, fakeResolver({}));
  assert.deepEqual(missing.signatures.map((s) => [s.result, s.comment]), [
    ['neutral', 'no key'],
    ['neutral', 'no key'],
  ]);
  const failing = await verifyDkim(message, fakeResolver({ 'brisbane._domainkey.football.example.com': { fail: 'ESERVFAIL' }, 'test._domainkey.football.example.com': { fail: 'ETIMEOUT' } }));
  assert.deepEqual(failing.signatures.map((s) => s.result), ['temperror', 'temperror']);
  const revoked = await verifyDkim(message, fakeResolver({ 'brisbane._domainkey.football.example.com': { TXT: ['v=DKIM1; k=ed25519; p='] }, 'test._domainkey.football.example.com': { TXT: ['v=DKIM1; k=rsa; p='] } }));
  assert.deepEqual(revoked.signatures.map((s) => s.result), ['neutral', 'neutral']);
});

test('an unsigned message has no signatures', async () => {
  const { signatures } = await verifyDkim(Buffer.from('From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n'), fakeResolver({}));
  assert.deepEqual(signatures, []);
});
