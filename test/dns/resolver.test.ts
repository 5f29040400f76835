// The configured resolver and next-hop selection against a real DNS server (dnsmasq).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { startDns, startSilentDns } from '../harness/dns.ts';
import { createResolver } from '../../src/dns/resolver.ts';
import { resolveNextHops } from '../../src/queue/next-hop.ts';

test('createResolver asks the configured server; next hops from real MX, A and AAAA records', async (t) => {
  const dns = await startDns(
    {
      mx: {
        'example.net': [
          { exchange: 'mx1.example.net', priority: 10 },
          { exchange: 'mx2.example.net', priority: 20 },
        ],
      },
      a: { 'mx1.example.net': '127.0.0.2', 'mx2.example.net': '127.0.0.3', 'implicit.example': '127.0.0.4' },
      aaaa: { 'mx1.example.net': '::1' },
    },
    { t },
  );
  const resolver = createResolver([dns.server], { timeoutMs: 1000 });
  assert.deepEqual(resolver.getServers(), [dns.server]);
  assert.deepEqual(await resolver.resolve4('mx2.example.net'), ['127.0.0.3']);

  const transport = Object.create(null);
  assert.deepEqual(await resolveNextHops('example.net', { transport, resolver, port: 10025 }), {
    kind: 'hops',
    hops: [
      { host: '127.0.0.2', port: 10025, exchange: 'mx1.example.net', preference: 10 },
      { host: '::1', port: 10025, exchange: 'mx1.example.net', preference: 10 },
      { host: '127.0.0.3', port: 10025, exchange: 'mx2.example.net', preference: 20 },
    ],
  });
  // A name with an address but no MX: the implicit MX (dnsmasq answers NODATA for MX).
  assert.deepEqual(await resolveNextHops('implicit.example', { transport, resolver, port: 25 }), {
    kind: 'hops',
    hops: [{ host: '127.0.0.4', port: 25, exchange: 'implicit.example', preference: 0 }],
  });
  // Unknown names are NXDOMAIN: permanent.
  const missing = await resolveNextHops('nowhere.example', { transport, resolver, port: 25 });
  assert.equal(missing.kind, 'fail');
  assert.equal(missing.kind === 'fail' && missing.permanent, true);
  assert.ok(dns.queries().some((q) => q.type === 'MX' && q.name === 'example.net'));
});

test('an empty server list leaves the resolver on the system servers, whatever they are', () => {
  // Compared with a resolver Node made from the system configuration, so the test does
  // not depend on what this machine's /etc/resolv.conf lists (or whether it lists any).
  assert.deepEqual(createResolver([]).getServers(), new Resolver().getServers());
  assert.deepEqual(createResolver([], { timeoutMs: 200, tries: 1 }).getServers(), new Resolver().getServers());
});

test('a server that never answers: each configured try is sent, then a temporary failure (ETIMEOUT)', { timeout: 30_000 }, async (t) => {
  const silent = await startSilentDns(t);
  // Three tries (the default is two), so the count shows the option reaches c-ares.
  const resolver = createResolver([silent.server], { timeoutMs: 200, tries: 3 });
  const result = await resolveNextHops('example.net', { transport: Object.create(null), resolver, port: 25 });
  assert.deepEqual(result, { kind: 'fail', permanent: false, status: '4.4.3', reason: 'MX lookup for example.net failed: ETIMEOUT' });
  assert.equal(silent.queries(), 3, 'one datagram per try, and no more');

  const once = createResolver([silent.server], { timeoutMs: 200, tries: 1 });
  const before = silent.queries();
  assert.equal((await resolveNextHops('example.org', { transport: Object.create(null), resolver: once, port: 25 })).kind, 'fail');
  assert.equal(silent.queries() - before, 1);
});

test('a server whose port is closed: a temporary failure, not a permanent one', { timeout: 30_000 }, async (t) => {
  const silent = await startSilentDns(t);
  await silent.close(); // the port is now closed: ICMP port unreachable, or silence
  const resolver = createResolver([silent.server], { timeoutMs: 200, tries: 1 });
  const result = await resolveNextHops('example.net', { transport: Object.create(null), resolver, port: 25 });
  assert.equal(result.kind === 'fail' && result.permanent, false, JSON.stringify(result));
  assert.match(result.kind === 'fail' ? result.reason : '', /^MX lookup for example\.net failed: E[A-Z]+$/);
});
