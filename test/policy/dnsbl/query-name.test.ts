import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dnsblQueryName, normalizeZone } from '../../../src/policy/dnsbl/index.ts';

test('IPv4: octets reversed under the zone (RFC 5782 §2.1)', () => {
  assert.equal(dnsblQueryName('192.168.42.23', 'dnsxl.example.com'), '23.42.168.192.dnsxl.example.com');
  assert.equal(dnsblQueryName('192.0.2.1', 'zen.example'), '1.2.0.192.zen.example');
  assert.equal(dnsblQueryName('127.0.0.2', 'bl.test'), '2.0.0.127.bl.test');
});

test('IPv6: 32 nibbles reversed under the zone (RFC 5782 §2.4 example)', () => {
  assert.equal(
    dnsblQueryName('2001:db8:1:2:3:4:567:89ab', 'ugly.example.com'),
    'b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com',
  );
  assert.equal(dnsblQueryName('::1', 'v6.test'), `1${'.0'.repeat(31)}.v6.test`);
  assert.equal(dnsblQueryName('::', 'v6.test'), `0${'.0'.repeat(31)}.v6.test`);
  assert.equal(dnsblQueryName('2001:DB8::', 'v6.test'), `${'0.'.repeat(24)}8.b.d.0.1.0.0.2.v6.test`);
  assert.equal(dnsblQueryName('fe80::1%eth0', 'v6.test'), `1${'.0'.repeat(27)}.0.8.e.f.v6.test`, 'a zone index is not part of the address');
  // Embedded dotted quad in a non-mapped address (NAT64 well-known prefix, RFC 6052).
  assert.equal(dnsblQueryName('64:ff9b::192.0.2.1', 'v6.test'), `1.0.2.0.0.0.0.c${'.0'.repeat(16)}.b.9.f.f.4.6.0.0.v6.test`);
});

test('IPv4-mapped IPv6 is asked about as the IPv4 address (RFC 4291 §2.5.5.2)', () => {
  assert.equal(dnsblQueryName('::ffff:192.0.2.1', 'zen.example'), '1.2.0.192.zen.example');
  assert.equal(dnsblQueryName('::FFFF:192.0.2.1', 'zen.example'), '1.2.0.192.zen.example');
  assert.equal(dnsblQueryName('::ffff:c000:201', 'zen.example'), '1.2.0.192.zen.example');
  assert.equal(dnsblQueryName('0:0:0:0:0:ffff:7f00:2', 'bl.test'), '2.0.0.127.bl.test');
});

test('zones are normalised and checked; addresses must be addresses', () => {
  assert.equal(normalizeZone('Zen.Spamhaus.ORG.'), 'zen.spamhaus.org');
  assert.equal(dnsblQueryName('192.0.2.1', 'BL.Test.'), '1.2.0.192.bl.test');
  for (const zone of ['', '.', 'a..b', 'bad zone', 'x/y', `${'a'.repeat(64)}.test`, '-a.test']) {
    assert.throws(() => normalizeZone(zone), RangeError, zone);
  }
  for (const ip of ['', 'localhost', '192.0.2', '192.0.2.256', '1.2.3.4.5', ':::1', 'mail.example.com']) {
    assert.throws(() => dnsblQueryName(ip, 'bl.test'), TypeError, ip);
  }
  // 32 nibble labels (64 characters) + the zone must still be a DNS name (253 characters).
  const longZone = Array<string>(4).fill('a'.repeat(50)).join('.');
  assert.equal(dnsblQueryName('192.0.2.1', longZone).length, '1.2.0.192.'.length + longZone.length);
  assert.throws(() => dnsblQueryName('2001:db8::1', longZone), RangeError);
});
