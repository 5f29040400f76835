import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authservIdOf, formatAuthenticationResults, removeOwnAuthResults } from '../../../src/policy/auth-results.ts';
import { mailauthResolver, type DnsLookups } from '../../../src/policy/spf/resolver.ts';
import { createResolver } from '../../../src/dns/resolver.ts';
import { startDns } from '../../harness/dns.ts';

test('one field, a resinfo per line, folded with CRLF + tab before column 78', () => {
  const field = formatAuthenticationResults('mx.kakitome.test', [
    { method: 'spf', result: 'pass', comment: 'domain of joe@example.com designates 192.0.2.1 as permitted sender', properties: [['smtp.mailfrom', 'example.com']] },
    { method: 'dkim', result: 'pass', properties: [['header.d', 'example.com'], ['header.s', 'sel'], ['header.a', 'ed25519-sha256'], ['header.b', '/gCrinpc']] },
    { method: 'dmarc', result: 'pass', properties: [['header.from', 'example.com']] },
  ]);
  assert.equal(
    field,
    'Authentication-Results: mx.kakitome.test;\r\n' +
      '\tspf=pass (domain of joe@example.com designates 192.0.2.1 as permitted sender)\r\n' +
      '\tsmtp.mailfrom=example.com;\r\n' +
      '\tdkim=pass header.d=example.com header.s=sel header.a=ed25519-sha256\r\n' +
      '\theader.b="/gCrinpc";\r\n' +
      '\tdmarc=pass header.from=example.com\r\n',
  );
  for (const line of field.split('\r\n')) assert.ok(line.length <= 78, line);
});

test('no results is "none"; values that are not tokens are quoted; comments escaped', () => {
  assert.equal(formatAuthenticationResults('mx.kakitome.test', []), 'Authentication-Results: mx.kakitome.test; none\r\n');
  const field = formatAuthenticationResults('mx.kakitome.test', [
    { method: 'sender-id', result: 'fail', comment: 'a (nested) \\ comment\r\nwith a line break', properties: [['header.from', '"a b"@example.com'], ['x.y', 'two words; "q"']] },
  ]);
  assert.equal(
    field,
    'Authentication-Results: mx.kakitome.test;\r\n' +
      '\tsender-id=fail (a \\(nested\\) \\\\ comment with a line break)\r\n' +
      '\theader.from="a b"@example.com x.y="two words; \\"q\\""\r\n',
  );
});

test('authserv-id of a field: token or quoted-string after comments', () => {
  assert.equal(authservIdOf(' mx.kakitome.test; spf=pass'), 'mx.kakitome.test');
  assert.equal(authservIdOf('(forged (nested)) MX.Kakitome.Test 1; none'), 'MX.Kakitome.Test');
  assert.equal(authservIdOf('"mx.kakitome.test"; none'), 'mx.kakitome.test');
  assert.equal(authservIdOf('mx.kakitome.test;dkim=pass'), 'mx.kakitome.test');
  assert.equal(authservIdOf(''), undefined);
});

test('removeOwnAuthResults removes every field claiming our authserv-id, and only those', () => {
  const message = Buffer.from(
    [
      'Authentication-Results: mx.kakitome.test; dkim=pass header.d=bank.example',
      'Received: from a by b',
      'Authentication-Results: (forged) MX.KAKITOME.TEST.;',
      '\tspf=pass smtp.mailfrom=bank.example',
      'authentication-results: "mx.kakitome.test"; dmarc=pass',
      'Authentication-Results: mx.kakitome.test.evil.example; spf=fail',
      'Authentication-Results: other.example; spf=pass',
      'ARC-Authentication-Results: i=1; mx.kakitome.test; spf=pass',
      'From: a@bank.example',
      '',
      'Authentication-Results: mx.kakitome.test; body text stays',
      '',
    ].join('\r\n'),
  );
  const cleaned = removeOwnAuthResults(message, 'mx.kakitome.test');
  assert.equal(
    cleaned.toString(),
    [
      'Received: from a by b',
      'Authentication-Results: mx.kakitome.test.evil.example; spf=fail',
      'Authentication-Results: other.example; spf=pass',
      'ARC-Authentication-Results: i=1; mx.kakitome.test; spf=pass',
      'From: a@bank.example',
      '',
      'Authentication-Results: mx.kakitome.test; body text stays',
      '',
    ].join('\r\n'),
  );
});

test('removeOwnAuthResults returns the same buffer when nothing is ours', () => {
  const message = Buffer.from('Authentication-Results: other.example; none\r\nFrom: a@example.com\r\n\r\nbody\r\n');
  assert.equal(removeOwnAuthResults(message, 'mx.kakitome.test'), message);
});

test('mailauthResolver maps each record type to the node:dns call, errors unchanged', async () => {
  const calls: string[] = [];
  const lookups: DnsLookups = {
    resolveTxt: async (n) => (calls.push(`txt ${n}`), [['v=spf1 ', '-all']]),
    resolveMx: async (n) => (calls.push(`mx ${n}`), [{ exchange: 'mx.example.com', priority: 10 }]),
    resolve4: async (n) => (calls.push(`a ${n}`), ['192.0.2.1']),
    resolve6: async (n) => (calls.push(`aaaa ${n}`), ['2001:db8::1']),
    resolvePtr: async (n) => (calls.push(`ptr ${n}`), ['host.example.com']),
    resolveCname: async () => {
      throw Object.assign(new Error('queryCname ENODATA'), { code: 'ENODATA' });
    },
  };
  const resolver = mailauthResolver(lookups);
  assert.deepEqual(await resolver('example.com', 'TXT'), [['v=spf1 ', '-all']]);
  assert.deepEqual(await resolver('example.com', 'MX'), [{ exchange: 'mx.example.com', priority: 10 }]);
  assert.deepEqual(await resolver('example.com', 'A'), ['192.0.2.1']);
  assert.deepEqual(await resolver('example.com', 'AAAA'), ['2001:db8::1']);
  assert.deepEqual(await resolver('1.2.0.192.in-addr.arpa', 'PTR'), ['host.example.com']);
  await assert.rejects(resolver('example.com', 'CNAME'), { code: 'ENODATA' });
  await assert.rejects(resolver('example.com', 'SRV'), { code: 'ENOTIMP' });
  assert.deepEqual(calls, ['txt example.com', 'mx example.com', 'a example.com', 'aaaa example.com', 'ptr 1.2.0.192.in-addr.arpa']);
});

test('mailauthResolver over the project resolver asks the configured server (dnsmasq)', async (t) => {
  const dns = await startDns({ txt: { 'example.com': 'v=spf1 ip4:192.0.2.1 -all' }, mx: { 'example.com': { exchange: 'mx.example.com', priority: 10 } } }, { t });
  const resolver = mailauthResolver(createResolver([dns.server]));
  assert.deepEqual(await resolver('example.com', 'TXT'), [['v=spf1 ip4:192.0.2.1 -all']]);
  const mx = (await resolver('example.com', 'MX')) as { exchange: string; priority: number }[];
  assert.deepEqual(mx.map(({ exchange, priority }) => ({ exchange, priority })), [{ exchange: 'mx.example.com', priority: 10 }]);
  await assert.rejects(resolver('nowhere.example.com', 'A'), { code: 'ENOTFOUND' });
  assert.deepEqual(dns.queries().map((q) => `${q.type} ${q.name}`), ['TXT example.com', 'MX example.com', 'A nowhere.example.com']);
});
