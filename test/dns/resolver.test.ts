// The configured resolver and next-hop selection against a real DNS server (dnsmasq).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDns } from '../harness/dns.ts';
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

test('an empty server list uses the system resolver; a dead server is a temporary failure, quickly', async () => {
  assert.ok(createResolver([]).getServers().length > 0);
  // Nothing answers on this loopback port: refused, or timed out (bounded by timeout × tries).
  const resolver = createResolver(['127.0.0.1:9'], { timeoutMs: 200, tries: 1 });
  const started = Date.now();
  const result = await resolveNextHops('example.net', { transport: Object.create(null), resolver, port: 25 });
  assert.equal(result.kind === 'fail' && result.permanent, false);
  assert.ok(Date.now() - started < 3000);
});
