import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  parseCidr,
  parseDnsServer,
  parseHostName,
  parseIpAddress,
  parseListenAddress,
  parseNextHop,
} from '../../src/config/addresses.ts';

test('parseHostName lower-cases and converts internationalised names to punycode', () => {
  assert.equal(parseHostName('Mail.Example.COM'), 'mail.example.com');
  assert.equal(parseHostName('mail.bücher.example'), 'mail.xn--bcher-kva.example');
  assert.equal(parseHostName('localhost'), 'localhost');
  assert.equal(parseHostName('1mail.example'), '1mail.example');
});

test('parseHostName refuses what is not a host name', () => {
  const tooLong = `${'a'.repeat(63)}.`.repeat(4) + 'example';
  const label64 = `${'a'.repeat(64)}.example`;
  for (const text of ['', 'mail_server.example', '-mail.example', 'mail-.example', 'a..b', 'mail.example.com.', 'a b.example', '192.0.2.1', '0x7f.1', 'mail.123', '[::1]', label64, tooLong]) {
    assert.throws(() => parseHostName(text), { message: `expected a host name like "mail.example.com", got ${JSON.stringify(text)}` }, text);
  }
});

test('parseIpAddress writes IPv6 in its canonical short form', () => {
  assert.equal(parseIpAddress('192.0.2.1'), '192.0.2.1');
  assert.equal(parseIpAddress('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
  assert.equal(parseIpAddress('0::0'), '::');
  assert.equal(parseIpAddress('fe80::1%eth0'), 'fe80::1%eth0');
  assert.throws(() => parseIpAddress('192.0.2.256'), { message: 'expected an IP address, got "192.0.2.256"' });
  assert.throws(() => parseIpAddress('[::1]'), { message: 'expected an IP address, got "[::1]"' });
});

test('parseListenAddress takes IPv4 and bracketed IPv6 with a port', () => {
  assert.deepEqual(parseListenAddress('0.0.0.0:25'), { host: '0.0.0.0', port: 25 });
  assert.deepEqual(parseListenAddress('127.0.0.1:65535'), { host: '127.0.0.1', port: 65535 });
  assert.deepEqual(parseListenAddress('[::]:587'), { host: '::', port: 587 });
  assert.deepEqual(parseListenAddress('[2001:DB8::1]:1'), { host: '2001:db8::1', port: 1 });
});

test('parseListenAddress refuses names, missing ports and unbracketed IPv6', () => {
  for (const text of ['localhost:25', '0.0.0.0', '::1:25', '[::1]', '[::1]25', '[localhost]:25', ':25', '256.0.0.0:25']) {
    assert.throws(() => parseListenAddress(text), {
      message: `expected "address:port" with an IP address, got ${JSON.stringify(text)}`,
    }, text);
  }
  for (const text of ['0.0.0.0:', '0.0.0.0:0', '0.0.0.0:65536', '[::]:-1', '0.0.0.0:25x', '0.0.0.0:100000']) {
    assert.throws(() => parseListenAddress(text), { message: `port must be 1-65535, got ${JSON.stringify(text)}` }, text);
  }
});

test('parseDnsServer writes what dns.Resolver#setServers accepts, port 53 by default', () => {
  assert.equal(parseDnsServer('127.0.0.1'), '127.0.0.1:53');
  assert.equal(parseDnsServer('127.0.0.1:5353'), '127.0.0.1:5353');
  assert.equal(parseDnsServer('[::1]'), '[::1]:53');
  assert.equal(parseDnsServer('[0:0::1]:5353'), '[::1]:5353');
  for (const text of ['ns.example:53', '::1', '2001:db8::53:53', '']) {
    assert.throws(() => parseDnsServer(text), {
      message: `expected an IP address with an optional ":port", got ${JSON.stringify(text)}`,
    }, text);
  }
  assert.throws(() => parseDnsServer('127.0.0.1:0'), { message: 'port must be 1-65535, got "127.0.0.1:0"' });
});

test('parseNextHop takes a host name or IP address, port 25 when absent', () => {
  assert.deepEqual(parseNextHop('Relay.Example.NET:2525'), { host: 'relay.example.net', port: 2525 });
  assert.deepEqual(parseNextHop('relay.example.net'), { host: 'relay.example.net', port: 25 });
  assert.deepEqual(parseNextHop('10.0.0.5:25'), { host: '10.0.0.5', port: 25 });
  assert.deepEqual(parseNextHop('[2001:db8::7]:25'), { host: '2001:db8::7', port: 25 });
  for (const text of ['relay_host:25', '[relay.example]:25', '2001:db8::7:25', '']) {
    assert.throws(() => parseNextHop(text), {
      message: `expected "host:port" with a host name or IP address, got ${JSON.stringify(text)}`,
    }, text);
  }
  assert.throws(() => parseNextHop('relay.example.net:0'), { message: 'port must be 1-65535, got "relay.example.net:0"' });
});

test('parseCidr normalises networks; a bare address is a single host', () => {
  assert.equal(parseCidr('192.0.2.0/24'), '192.0.2.0/24');
  assert.equal(parseCidr('192.0.2.7'), '192.0.2.7/32');
  assert.equal(parseCidr('0.0.0.0/0'), '0.0.0.0/0');
  assert.equal(parseCidr('2001:DB8::/32'), '2001:db8::/32');
  assert.equal(parseCidr('::1'), '::1/128');
  assert.equal(parseCidr('::/0'), '::/0');
});

test('parseCidr refuses bad prefixes, host bits and non-addresses', () => {
  assert.throws(() => parseCidr('192.0.2.0/33'), { message: 'prefix length must be 0-32, got "192.0.2.0/33"' });
  assert.throws(() => parseCidr('2001:db8::/129'), { message: 'prefix length must be 0-128, got "2001:db8::/129"' });
  assert.throws(() => parseCidr('192.0.2.0/'), { message: 'prefix length must be 0-32, got "192.0.2.0/"' });
  assert.throws(() => parseCidr('192.0.2.0/x'), { message: 'prefix length must be 0-32, got "192.0.2.0/x"' });
  assert.throws(() => parseCidr('10.1.2.3/8'), { message: '"10.1.2.3/8" has host bits set: the network is "10.0.0.0/8"' });
  assert.throws(() => parseCidr('2001:db8::1/32'), { message: '"2001:db8::1/32" has host bits set: the network is "2001:db8::/32"' });
  for (const text of ['localhost', 'example.net/24', '[::1]/128', 'fe80::1%eth0/64', '']) {
    assert.throws(() => parseCidr(text), {
      message: `expected a network like "192.0.2.0/24" or "2001:db8::/32", got ${JSON.stringify(text)}`,
    }, text);
  }
});
