import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkList } from '../../../src/policy/access/networks.ts';
import { DnsblChecker, DNSBL_DEFAULTS, sanitizeListingText, type DnsblOptions } from '../../../src/policy/dnsbl/index.ts';
import { clock, fakeResolver, type FakeZoneData } from './fake-resolver.ts';

const NOBODY = networkList([]);
const listed = (address = '127.0.0.2', ttl = 60) => [{ address, ttl }];

function checker(data: FakeZoneData, options: Partial<DnsblOptions> = {}) {
  const resolver = fakeResolver(data);
  const time = clock();
  const dnsbl = new DnsblChecker({ zones: ['one.test', 'two.test'], allow: NOBODY, resolver, now: time.now, ...options });
  return { dnsbl, resolver, time };
}

test('a listed address: the zone, the 127/8 codes and the TXT text', async () => {
  const { dnsbl, resolver } = checker({
    a: { '1.2.0.192.one.test': listed('127.0.0.2') },
    txt: { '1.2.0.192.one.test': [['Listed, see https://one.test/lookup?192.0.2.1']] },
  });
  assert.deepEqual(await dnsbl.check('192.0.2.1'), {
    listed: true,
    zone: 'one.test',
    codes: ['127.0.0.2'],
    text: 'Listed, see https://one.test/lookup?192.0.2.1',
  });
  assert.deepEqual(resolver.queries.map((q) => `${q.type} ${q.name}`).sort(), ['A 1.2.0.192.one.test', 'A 1.2.0.192.two.test', 'TXT 1.2.0.192.one.test']);
});

test('NXDOMAIN and NODATA: not listed, no TXT lookup, no note', async () => {
  const { dnsbl, resolver } = checker({ a: { '1.2.0.192.two.test': { error: 'ENODATA' } } });
  assert.deepEqual(await dnsbl.check('192.0.2.1'), { listed: false });
  assert.equal(resolver.count('A'), 2);
  assert.equal(resolver.count('TXT'), 0);
});

test('every zone is asked at once; the first listing in zone order wins', async () => {
  const { dnsbl, resolver } = checker(
    {
      a: {
        '1.2.0.192.one.test': { delayMs: 30, value: listed('127.0.0.10') },
        '1.2.0.192.two.test': listed('127.0.0.2'),
        '1.2.0.192.three.test': listed('127.0.0.3'),
        '2.2.0.192.two.test': listed('127.0.0.4'),
      },
    },
    { zones: ['one.test', 'two.test', 'three.test'] },
  );
  const started = resolver.queries.length;
  const result = dnsbl.check('192.0.2.1');
  assert.equal(resolver.count('A') - started, 3, 'all zones asked before any answer');
  assert.deepEqual(await result, { listed: true, zone: 'one.test', codes: ['127.0.0.10'], text: 'listed in one.test' });
  // Only the second zone lists 192.0.2.2.
  assert.deepEqual(await dnsbl.check('192.0.2.2'), { listed: true, zone: 'two.test', codes: ['127.0.0.4'], text: 'listed in two.test' });
});

test('a listing in a later zone stands when an earlier zone fails', async () => {
  const { dnsbl } = checker({ a: { '1.2.0.192.one.test': { error: 'ESERVFAIL' }, '1.2.0.192.two.test': listed() } });
  const result = await dnsbl.check('192.0.2.1');
  assert.equal(result.listed, true);
  assert.equal(result.listed && result.zone, 'two.test');
});

test('SERVFAIL, REFUSED, timeouts: not listed, with a temperror note per zone', async () => {
  const { dnsbl } = checker(
    { a: { '1.2.0.192.one.test': { error: 'ESERVFAIL' }, '1.2.0.192.two.test': { never: true }, '1.2.0.192.three.test': { error: 'EREFUSED' } } },
    { zones: ['one.test', 'two.test', 'three.test'], timeoutMs: 50 },
  );
  assert.deepEqual(await dnsbl.check('192.0.2.1'), {
    listed: false,
    temperror: ['one.test: DNS error ESERVFAIL', 'two.test: no answer within 50 ms', 'three.test: DNS error EREFUSED'],
  });
});

test('a resolver that throws instead of rejecting is a temperror too', async () => {
  const dnsbl = new DnsblChecker({
    zones: ['one.test'],
    allow: NOBODY,
    resolver: {
      resolve4: () => {
        throw new Error('boom');
      },
      resolveTxt: async () => [],
    },
  });
  assert.deepEqual(await dnsbl.check('192.0.2.1'), { listed: false, temperror: ['one.test: lookup failed: boom'] });
});

test('list error codes (127.255.255.0/24) and 127.0.0.1 are not listings: not listed, noted', async () => {
  const { dnsbl, resolver } = checker({
    a: {
      '1.2.0.192.one.test': listed('127.255.255.254'),
      '1.2.0.192.two.test': listed('127.255.255.255'),
      '2.2.0.192.one.test': listed('127.0.0.1'),
    },
  });
  const refused = await dnsbl.check('192.0.2.1');
  assert.equal(refused.listed, false);
  assert.ok('temperror' in refused);
  assert.equal(refused.temperror.length, 2);
  assert.match(refused.temperror[0]!, /^one\.test: answered 127\.255\.255\.254, the list refused the query/);
  assert.match(refused.temperror[1]!, /^two\.test: answered 127\.255\.255\.255/);
  const reserved = await dnsbl.check('192.0.2.2');
  assert.ok('temperror' in reserved);
  assert.match(reserved.temperror[0]!, /127\.0\.0\.1, which is never a listing \(RFC 5782 §5\)/);
  assert.equal(resolver.count('TXT'), 0);
});

test('answers outside 127.0.0.0/8 are ignored (misconfigured list); 127/8 codes among them still count', async () => {
  const { dnsbl } = checker({
    a: {
      '1.2.0.192.one.test': listed('198.51.100.7'),
      '2.2.0.192.one.test': [
        { address: '10.0.0.1', ttl: 60 },
        { address: '127.0.0.4', ttl: 60 },
        { address: '127.0.0.11', ttl: 60 },
      ],
    },
  });
  const ignored = await dnsbl.check('192.0.2.1');
  assert.equal(ignored.listed, false);
  assert.ok('temperror' in ignored);
  assert.match(ignored.temperror[0]!, /^one\.test: answered 198\.51\.100\.7, outside 127\.0\.0\.0\/8, ignored/);
  assert.deepEqual(await dnsbl.check('192.0.2.2'), { listed: true, zone: 'one.test', codes: ['127.0.0.4', '127.0.0.11'], text: 'listed in one.test' });
});

test('TXT text: chunks joined, records joined, control characters and non-ASCII removed, length capped', async () => {
  const long = 'x'.repeat(500);
  const { dnsbl } = checker({
    a: {
      '1.2.0.192.one.test': listed(),
      '2.2.0.192.one.test': listed(),
      '3.2.0.192.one.test': listed(),
      '4.2.0.192.one.test': listed(),
      '5.2.0.192.one.test': listed(),
    },
    txt: {
      '1.2.0.192.one.test': [['Listed by one', ', see https://one.test/'], ['policy block']],
      '2.2.0.192.one.test': [['spam\r\n250 2.0.0 ok\r\nQUIT\0\x1b[31m caf\u00e9  \t end']],
      '3.2.0.192.one.test': [[long]],
      '4.2.0.192.one.test': [['\r\n\t ']],
      '5.2.0.192.one.test': { error: 'ETIMEOUT' },
    },
  });
  const text = async (ip: string) => {
    const result = await dnsbl.check(ip);
    assert.equal(result.listed, true);
    return result.listed ? result.text : '';
  };
  assert.equal(await text('192.0.2.1'), 'Listed by one, see https://one.test/; policy block');
  const injected = await text('192.0.2.2');
  assert.doesNotMatch(injected, /[\r\n\0\x1b]/);
  assert.equal(injected, 'spam 250 2.0.0 ok QUIT [31m caf? end');
  const capped = await text('192.0.2.3');
  assert.equal(capped.length, DNSBL_DEFAULTS.maxTextLength);
  assert.ok(capped.endsWith('...'));
  assert.equal(await text('192.0.2.4'), 'listed in one.test', 'a blank TXT gives the default text');
  assert.equal(await text('192.0.2.5'), 'listed in one.test', 'a failed TXT lookup gives the default text');
});

test('a missing TXT record gives "listed in ZONE"', async () => {
  const { dnsbl } = checker({ a: { '1.2.0.192.one.test': listed() } });
  assert.deepEqual(await dnsbl.check('192.0.2.1'), { listed: true, zone: 'one.test', codes: ['127.0.0.2'], text: 'listed in one.test' });
});

test('sanitizeListingText on its own', () => {
  assert.equal(sanitizeListingText('  a\u0085b\u2028c\x7fd  '), 'a?b?c d');
  assert.equal(sanitizeListingText('abcdefghij', 8), 'abcde...');
  assert.equal(sanitizeListingText(''), '');
});

test('a listing is cached for its A record TTL', async () => {
  const { dnsbl, resolver, time } = checker({ a: { '1.2.0.192.one.test': listed('127.0.0.2', 60) }, txt: { '1.2.0.192.one.test': [['why']] } }, { zones: ['one.test'] });
  await dnsbl.check('192.0.2.1');
  time.advance(59);
  assert.deepEqual(await dnsbl.check('::ffff:192.0.2.1'), { listed: true, zone: 'one.test', codes: ['127.0.0.2'], text: 'why' });
  assert.equal(resolver.count('A'), 1, 'the mapped form shares the cache entry');
  assert.equal(resolver.count('TXT'), 1);
  time.advance(1);
  await dnsbl.check('192.0.2.1');
  assert.equal(resolver.count('A'), 2);
  assert.equal(resolver.count('TXT'), 2);
});

test('the shortest TTL of several A records counts; TTL 0 is kept the minimum time, a huge TTL the maximum', async () => {
  const { dnsbl, resolver, time } = checker(
    {
      a: {
        '1.2.0.192.one.test': [
          { address: '127.0.0.2', ttl: 900 },
          { address: '127.0.0.3', ttl: 120 },
        ],
        '2.2.0.192.one.test': listed('127.0.0.2', 0),
        '3.2.0.192.one.test': listed('127.0.0.2', 2_000_000),
      },
    },
    { zones: ['one.test'] },
  );
  const queriesAfter = async (seconds: number, ip: string) => {
    await dnsbl.check(ip);
    const before = resolver.count('A', resolver.queries.at(-1)?.name);
    time.advance(seconds);
    await dnsbl.check(ip);
    return resolver.count('A', resolver.queries.at(-1)?.name) - before;
  };
  dnsbl.clearCache();
  assert.equal(await queriesAfter(119, '192.0.2.1'), 0);
  dnsbl.clearCache();
  assert.equal(await queriesAfter(120, '192.0.2.1'), 1);
  dnsbl.clearCache();
  assert.equal(await queriesAfter(DNSBL_DEFAULTS.minCacheSeconds - 1, '192.0.2.2'), 0, 'TTL 0 still cached for minCacheSeconds');
  dnsbl.clearCache();
  assert.equal(await queriesAfter(DNSBL_DEFAULTS.minCacheSeconds, '192.0.2.2'), 1);
  dnsbl.clearCache();
  assert.equal(await queriesAfter(DNSBL_DEFAULTS.maxCacheSeconds, '192.0.2.3'), 1, 'capped at maxCacheSeconds');
});

test('"not listed" is cached for the negative-cache time, DNS failures for the temperror time', async () => {
  const { dnsbl, resolver, time } = checker(
    { a: { '2.2.0.192.one.test': { error: 'ESERVFAIL' } } },
    { zones: ['one.test'], negativeCacheSeconds: 300, temperrorCacheSeconds: 30 },
  );
  await dnsbl.check('192.0.2.1');
  await dnsbl.check('192.0.2.2');
  time.advance(29);
  await dnsbl.check('192.0.2.1');
  assert.deepEqual(await dnsbl.check('192.0.2.2'), { listed: false, temperror: ['one.test: DNS error ESERVFAIL'] }, 'cached failure keeps its note');
  assert.equal(resolver.count('A'), 2);
  time.advance(1);
  await dnsbl.check('192.0.2.2');
  assert.equal(resolver.count('A', '2.2.0.192.one.test'), 2);
  time.advance(269);
  await dnsbl.check('192.0.2.1');
  assert.equal(resolver.count('A', '1.2.0.192.one.test'), 1);
  time.advance(1);
  await dnsbl.check('192.0.2.1');
  assert.equal(resolver.count('A', '1.2.0.192.one.test'), 2);
});

test('the cache is bounded; the least recently used answer goes first', async () => {
  const { dnsbl, resolver } = checker({}, { zones: ['one.test'], maxCacheEntries: 2 });
  await dnsbl.check('192.0.2.1');
  await dnsbl.check('192.0.2.2');
  await dnsbl.check('192.0.2.1'); // used again: 192.0.2.2 is now the oldest
  await dnsbl.check('192.0.2.3');
  assert.equal(dnsbl.cacheSize, 2);
  assert.equal(resolver.count('A'), 3);
  await dnsbl.check('192.0.2.1');
  assert.equal(resolver.count('A', '1.2.0.192.one.test'), 1, 'still cached');
  await dnsbl.check('192.0.2.2');
  assert.equal(resolver.count('A', '2.2.0.192.one.test'), 2, 'evicted, asked again');
  const many = checker({}, { zones: ['one.test', 'two.test'], maxCacheEntries: 100 });
  for (let i = 0; i < 300; i++) await many.dnsbl.check(`198.51.100.${i % 256}`);
  assert.equal(many.dnsbl.cacheSize, 100);
});

test('simultaneous checks of one address share the lookups', async () => {
  const { dnsbl, resolver } = checker({ a: { '1.2.0.192.one.test': { delayMs: 20, value: listed() } } });
  const results = await Promise.all([dnsbl.check('192.0.2.1'), dnsbl.check('192.0.2.1'), dnsbl.check('::ffff:192.0.2.1')]);
  assert.ok(results.every((r) => r.listed));
  assert.equal(resolver.count('A'), 2);
  assert.equal(resolver.count('TXT'), 1);
});

test('IPv6 clients are looked up by nibble name', async () => {
  const name = 'b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.one.test';
  const { dnsbl, resolver } = checker({ a: { [name]: listed('127.0.0.3') }, txt: { [name]: [['v6 listed']] } });
  assert.deepEqual(await dnsbl.check('2001:db8:1:2:3:4:567:89ab'), { listed: true, zone: 'one.test', codes: ['127.0.0.3'], text: 'v6 listed' });
  assert.equal(resolver.count('A', name), 1);
});

test('loopback is not special: a listed loopback address is listed', async () => {
  const { dnsbl } = checker({ a: { '2.0.0.127.one.test': listed() } });
  assert.equal((await dnsbl.check('127.0.0.2')).listed, true);
});

test('allowed networks are never looked up (mapped IPv4 included); an empty allow list skips nobody', async () => {
  const { dnsbl, resolver } = checker({ a: { '1.2.0.192.one.test': listed() } }, { allow: networkList(['192.0.2.0/24', '2001:db8::/32']) });
  assert.deepEqual(await dnsbl.check('192.0.2.1'), { listed: false });
  assert.deepEqual(await dnsbl.check('::ffff:192.0.2.1'), { listed: false });
  assert.deepEqual(await dnsbl.check('2001:db8::1'), { listed: false });
  assert.equal(resolver.queries.length, 0);
  await dnsbl.check('198.51.100.1');
  assert.equal(resolver.count('A'), 2);
});

test('no zones: nothing asked; not an address: not listed, noted, nothing asked', async () => {
  const none = checker({}, { zones: [] });
  assert.deepEqual(await none.dnsbl.check('192.0.2.1'), { listed: false });
  assert.equal(none.resolver.queries.length, 0);
  const { dnsbl, resolver } = checker({});
  assert.deepEqual(await dnsbl.check('unknown'), { listed: false, temperror: ['not an IP address: "unknown"'] });
  assert.equal(resolver.queries.length, 0);
});

test('zones are validated and normalised when the checker is built', () => {
  assert.throws(() => new DnsblChecker({ zones: ['ok.test', 'not a zone'], allow: NOBODY, resolver: fakeResolver({}) }), RangeError);
  assert.deepEqual(new DnsblChecker({ zones: ['Zen.Example.'], allow: NOBODY, resolver: fakeResolver({}) }).zones, ['zen.example']);
  assert.throws(() => new DnsblChecker({ zones: [], allow: NOBODY, resolver: fakeResolver({}), maxCacheEntries: 0 }), RangeError);
});

test('results are copies: changing one does not change the cache', async () => {
  const { dnsbl } = checker({ a: { '1.2.0.192.one.test': listed() } });
  const first = await dnsbl.check('192.0.2.1');
  assert.ok(first.listed);
  first.codes.push('127.0.0.99');
  const second = await dnsbl.check('192.0.2.1');
  assert.deepEqual(second.listed && second.codes, ['127.0.0.2']);
});
