// Against a real DNS server: dnsmasq serving a DNSBL zone, asked through node:dns.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Resolver } from 'node:dns/promises';
import { startDns, startSilentDns } from '../../harness/dns.ts';
import { networkList } from '../../../src/policy/access/networks.ts';
import { createResolver } from '../../../src/dns/resolver.ts';
import { DnsblChecker, DNSBL_DEFAULTS, dnsblQueryName, dnsblReply, type DnsblResolver } from '../../../src/policy/dnsbl/index.ts';
import { formatReply } from '../../../src/smtp/replies.ts';
import { clock } from './fake-resolver.ts';

// The resolver kakitome really uses satisfies the checker's resolver type (checked by tsc).
const asDnsblResolver = (resolver: Resolver): DnsblResolver => resolver;

const V6_LISTED = '::1';

async function fixture(t: TestContext) {
  return startDns(
    {
      a: {
        '2.0.0.127.bl.test': '127.0.0.2',
        '4.0.0.127.bl.test': ['127.0.0.4', '127.0.0.10'],
        '5.0.0.127.bl.test': '127.255.255.254',
        [dnsblQueryName(V6_LISTED, 'bl.test')]: '127.0.0.2',
        '2.0.0.127.other.test': '127.0.0.3',
      },
      txt: { '2.0.0.127.bl.test': 'listed for testing', '2.0.0.127.other.test': 'other list' },
    },
    { t },
  );
}

test('dnsmasq: a listed address, its TXT text and the SMTP reply; an unlisted one', async (t) => {
  const dns = await fixture(t);
  const dnsbl = new DnsblChecker({ zones: ['bl.test'], allow: networkList([]), resolver: asDnsblResolver(dns.resolver()) });
  const result = await dnsbl.check('127.0.0.2');
  assert.deepEqual(result, { listed: true, zone: 'bl.test', codes: ['127.0.0.2'], text: 'listed for testing' });
  assert.ok(result.listed);
  assert.equal(formatReply(dnsblReply(result, '::ffff:127.0.0.2')), '554 5.7.1 Service unavailable; client [127.0.0.2] blocked using bl.test; listed for testing\r\n');
  assert.deepEqual(await dnsbl.check('127.0.0.3'), { listed: false }, 'NXDOMAIN');
  assert.deepEqual(await dnsbl.check('127.0.0.4'), { listed: true, zone: 'bl.test', codes: ['127.0.0.4', '127.0.0.10'], text: 'listed in bl.test' }, 'no TXT: default text');
  const refused = await dnsbl.check('127.0.0.5');
  assert.equal(refused.listed, false);
  assert.ok('temperror' in refused && /127\.255\.255\.254/.test(refused.temperror[0]!));
  assert.deepEqual(await dnsbl.check(V6_LISTED), { listed: true, zone: 'bl.test', codes: ['127.0.0.2'], text: 'listed in bl.test' }, 'IPv6 nibble name');
});

test('dnsmasq: several zones, first listing in zone order; allowed networks never asked', async (t) => {
  const dns = await fixture(t);
  const dnsbl = new DnsblChecker({ zones: ['other.test', 'bl.test'], allow: networkList(['127.0.0.64/26']), resolver: dns.resolver() });
  assert.deepEqual(await dnsbl.check('127.0.0.2'), { listed: true, zone: 'other.test', codes: ['127.0.0.3'], text: 'other list' });
  const before = dns.queries().length;
  assert.deepEqual(await dnsbl.check('127.0.0.66'), { listed: false });
  assert.equal(dns.queries().length, before);
});

test('dnsmasq answers with TTL 0; the checker keeps answers for minCacheSeconds anyway', async (t) => {
  const dns = await fixture(t);
  const ttls = await dns.resolver().resolve4('2.0.0.127.bl.test', { ttl: true });
  assert.deepEqual(ttls, [{ address: '127.0.0.2', ttl: 0 }], 'the harness says dnsmasq answers with TTL 0');
  const time = clock();
  const dnsbl = new DnsblChecker({ zones: ['bl.test'], allow: networkList([]), resolver: dns.resolver(), now: time.now });
  const aQueries = () => dns.queries().filter((q) => q.type === 'A' && q.name === '2.0.0.127.bl.test').length;
  const before = aQueries();
  await dnsbl.check('127.0.0.2');
  assert.equal(aQueries(), before + 1);
  time.advance(DNSBL_DEFAULTS.minCacheSeconds - 1);
  assert.equal((await dnsbl.check('127.0.0.2')).listed, true);
  assert.equal(aQueries(), before + 1, 'served from the cache');
  time.advance(1);
  assert.equal((await dnsbl.check('127.0.0.2')).listed, true);
  assert.equal(aQueries(), before + 2, 'asked again once the minimum time is over');
});

test('dnsmasq gone: not listed, with a temperror note', { timeout: 30_000 }, async (t) => {
  const dns = await fixture(t);
  const resolver = createResolver([dns.server], { timeoutMs: 300, tries: 1 });
  await dns.stop();
  const dnsbl = new DnsblChecker({ zones: ['bl.test'], allow: networkList([]), resolver, timeoutMs: 2000 });
  const result = await dnsbl.check('127.0.0.2');
  assert.equal(result.listed, false);
  assert.ok('temperror' in result, JSON.stringify(result));
  // The port is closed (refused) or the resolver's 300 ms try ran out; either way a DNS error, not a listing.
  assert.match(result.temperror[0]!, /^bl\.test: (DNS error E[A-Z]+|no answer within 2000 ms)$/);
  t.diagnostic(`dead server: ${result.temperror[0]}`);
});

test('a server that never answers: the checker gives up at its own timeout, not the resolver\'s', { timeout: 30_000 }, async (t) => {
  const silent = await startSilentDns(t);
  // The resolver would wait 5 s, then 10 s more; the checker's 300 ms decides.
  const resolver = createResolver([silent.server], { timeoutMs: 5000, tries: 2 });
  t.after(() => resolver.cancel());
  const dnsbl = new DnsblChecker({ zones: ['bl.test'], allow: networkList([]), resolver, timeoutMs: 300 });
  const result = await dnsbl.check('127.0.0.2');
  assert.deepEqual(result, { listed: false, temperror: ['bl.test: no answer within 300 ms'] });
});
