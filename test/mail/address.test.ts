import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressError, normaliseDomain, parseMailAddress } from '../../src/mail/address.ts';

test('addresses are normalised: lower case, IDN domain to punycode', () => {
  assert.deepEqual(parseMailAddress('Alice.Smith@Example.COM'), {
    address: 'alice.smith@example.com',
    local: 'alice.smith',
    domain: 'example.com',
  });
  assert.equal(parseMailAddress('info@bücher.example').address, 'info@xn--bcher-kva.example');
  assert.equal(parseMailAddress('a+tag=x_y-z@sub.example.org').address, 'a+tag=x_y-z@sub.example.org');
});

const invalidAddresses: [string, RegExp][] = [
  ['../x@y.example', /local part/],
  ['a@b@c.example', /more than one @/],
  ['alice', /no @/],
  ['@example.com', /empty local part/],
  ['alice@', /invalid domain/],
  ['al\nice@example.com', /control character/],
  ['alice@exa\u0000mple.com', /control character/],
  ['al\u007fice@example.com', /control character/],
  ['.alice@example.com', /local part/],
  ['alice.@example.com', /local part/],
  ['al..ice@example.com', /local part/],
  ['a/b@example.com', /local part/],
  ['a%b@example.com', /local part/],
  ['a!b@example.com', /local part/],
  ['"a@b"@example.com', /more than one @/],
  ['"ab"@example.com', /local part/],
  ['a b@example.com', /local part/],
  ['alice@[127.0.0.1]', /invalid domain/],
  ['alice@127.0.0.1', /numeric/],
  ['alice@localhost', /two labels/],
  ['alice@exa_mple.com', /invalid domain/],
  ['alice@-example.com', /bad label/],
  ['alice@example..com', /invalid domain/],
  ['alice@ex/ample.com', /forbidden character/],
  [`${'a'.repeat(65)}@example.com`, /longer than 64/],
  [`alice@${'a'.repeat(64)}.com`, /invalid domain|bad label/],
  [`${'a'.repeat(60)}@${Array(8).fill('b'.repeat(60)).join('.')}.com`, /longer than/],
  ['ålice@example.com', /local part/],
];

for (const [input, reason] of invalidAddresses) {
  test(`rejects ${JSON.stringify(input).slice(0, 60)}`, () => {
    assert.throws(() => parseMailAddress(input), (err: unknown) => {
      assert.ok(err instanceof AddressError);
      assert.match(err.message, reason);
      assert.doesNotMatch(err.message, /\n/, 'one line');
      return true;
    });
  });
}

test('domains: two labels at least, no trailing garbage', () => {
  assert.equal(normaliseDomain('Example.Test'), 'example.test');
  assert.throws(() => normaliseDomain(''), AddressError);
  assert.throws(() => normaliseDomain('example.test '), AddressError);
  assert.throws(() => normaliseDomain('example.test:25'), AddressError);
  assert.throws(() => normaliseDomain('ex ample.test'), AddressError);
});
