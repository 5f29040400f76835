import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dnsblReply } from '../../../src/policy/dnsbl/index.ts';
import { formatReply, type Reply } from '../../../src/smtp/replies.ts';

test('the reply names the client, the zone and the listing text', () => {
  const reply: Reply = dnsblReply({ listed: true, zone: 'zen.example', codes: ['127.0.0.2'], text: 'see https://zen.example/' }, '192.0.2.1');
  assert.deepEqual(reply, { code: 554, enhanced: '5.7.1', text: 'Service unavailable; client [192.0.2.1] blocked using zen.example; see https://zen.example/' });
  assert.equal(formatReply(reply), '554 5.7.1 Service unavailable; client [192.0.2.1] blocked using zen.example; see https://zen.example/\r\n');
});

test('an IPv4-mapped client is shown as IPv4; IPv6 as it is', () => {
  const listing = { listed: true as const, zone: 'bl.test', codes: ['127.0.0.2'], text: 'listed in bl.test' };
  assert.equal(dnsblReply(listing, '::ffff:127.0.0.2').text, 'Service unavailable; client [127.0.0.2] blocked using bl.test; listed in bl.test');
  assert.equal(dnsblReply(listing, '2001:DB8::1').text, 'Service unavailable; client [2001:db8::1] blocked using bl.test; listed in bl.test');
});

test('the reply line never exceeds 512 octets (RFC 5321 §4.5.3.1.5)', () => {
  const zone = Array<string>(4).fill('z'.repeat(60)).join('.');
  const reply = dnsblReply({ listed: true, zone, codes: ['127.0.0.2'], text: 't'.repeat(400) }, '2001:db8:1111:2222:3333:4444:5555:6666');
  const line = formatReply(reply);
  assert.equal(Buffer.byteLength(line), 512);
  assert.ok(reply.text.endsWith('...'));
  assert.ok(reply.text.includes(zone));
});
