// Next-hop selection (RFC 5321 §5.1, RFC 7505) with a fake resolver: policy logic only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type HopResolver, resolveNextHops, type NextHopOptions } from '../../src/queue/next-hop.ts';

type Zone = {
  mx?: Record<string, { exchange: string; priority: number }[] | string>;
  a?: Record<string, string[] | string>;
  aaaa?: Record<string, string[] | string>;
};

/** Records by name; a string value is the error code that lookup fails with. */
function fakeResolver(zone: Zone): HopResolver & { queries: string[] } {
  const queries: string[] = [];
  const lookup = async <T>(type: string, table: Record<string, T[] | string> | undefined, name: string): Promise<T[]> => {
    queries.push(`${type} ${name}`);
    const value = table && Object.hasOwn(table, name) ? table[name] : undefined;
    if (typeof value === 'string') throw Object.assign(new Error(`${type} ${name}: ${value}`), { code: value });
    if (value === undefined) {
      const exists = [zone.mx, zone.a, zone.aaaa].some((t) => t && Object.hasOwn(t, name));
      throw Object.assign(new Error('no'), { code: exists ? 'ENODATA' : 'ENOTFOUND' });
    }
    return value;
  };
  return {
    queries,
    resolveMx: (name) => lookup('MX', zone.mx, name),
    resolve4: (name) => lookup('A', zone.a, name),
    resolve6: (name) => lookup('AAAA', zone.aaaa, name),
  };
}

const options = (resolver: HopResolver, extra: Partial<NextHopOptions> = {}): NextHopOptions => ({
  transport: Object.create(null),
  resolver,
  port: 25,
  ...extra,
});

test('MX records in preference order, each exchange resolved to its IPv4 then IPv6 addresses', async () => {
  const resolver = fakeResolver({
    mx: { 'example.net': [{ exchange: 'mx2.example.net', priority: 20 }, { exchange: 'mx1.example.net', priority: 10 }] },
    a: { 'mx1.example.net': ['192.0.2.1'], 'mx2.example.net': ['192.0.2.2', '192.0.2.3'] },
    aaaa: { 'mx1.example.net': ['2001:db8::1'] },
  });
  const result = await resolveNextHops('Example.NET', options(resolver, { port: 2525 }));
  assert.deepEqual(result, {
    kind: 'hops',
    hops: [
      { host: '192.0.2.1', port: 2525, exchange: 'mx1.example.net', preference: 10 },
      { host: '2001:db8::1', port: 2525, exchange: 'mx1.example.net', preference: 10 },
      { host: '192.0.2.2', port: 2525, exchange: 'mx2.example.net', preference: 20 },
      { host: '192.0.2.3', port: 2525, exchange: 'mx2.example.net', preference: 20 },
    ],
  });
});

test('equal preferences are shuffled; lower preference always first', async () => {
  const resolver = fakeResolver({
    mx: {
      'example.net': [
        { exchange: 'a.example.net', priority: 10 },
        { exchange: 'b.example.net', priority: 10 },
        { exchange: 'c.example.net', priority: 10 },
        { exchange: 'backup.example.net', priority: 50 },
      ],
    },
    a: { 'a.example.net': ['192.0.2.1'], 'b.example.net': ['192.0.2.2'], 'c.example.net': ['192.0.2.3'], 'backup.example.net': ['192.0.2.9'] },
  });
  // Fixed "random" sequences give different orders of the three equal ones.
  const orders = new Set<string>();
  for (const seed of [0, 0.34, 0.67, 0.99]) {
    const result = await resolveNextHops('example.net', options(resolver, { random: () => seed }));
    assert.equal(result.kind, 'hops');
    const hops = result.kind === 'hops' ? result.hops : [];
    assert.equal(hops.at(-1)!.exchange, 'backup.example.net');
    orders.add(hops.slice(0, 3).map((h) => h.exchange[0]).join(''));
  }
  assert.ok(orders.size > 1, [...orders].join(' '));
  // With the real Math.random, every order of the three shows up over many runs.
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const result = await resolveNextHops('example.net', options(resolver));
    if (result.kind === 'hops') seen.add(result.hops.slice(0, 3).map((h) => h.exchange[0]).join(''));
  }
  assert.equal(seen.size, 6);
});

test('no MX: the implicit MX is the domain itself (A/AAAA)', async () => {
  const resolver = fakeResolver({ a: { 'example.net': ['192.0.2.7'] } });
  assert.deepEqual(await resolveNextHops('example.net', options(resolver)), {
    kind: 'hops',
    hops: [{ host: '192.0.2.7', port: 25, exchange: 'example.net', preference: 0 }],
  });
});

test('null MX (RFC 7505) fails permanently at once, without address lookups', async () => {
  for (const exchange of ['', '.']) {
    const resolver = fakeResolver({ mx: { 'example.net': [{ exchange, priority: 0 }] }, a: { 'example.net': ['192.0.2.7'] } });
    const result = await resolveNextHops('example.net', options(resolver));
    assert.deepEqual(result, { kind: 'fail', permanent: true, status: '5.1.10', reason: 'domain example.net does not accept mail (null MX, RFC 7505)' });
    assert.deepEqual(resolver.queries, ['MX example.net']);
  }
});

test('NXDOMAIN is permanent; SERVFAIL and timeouts are temporary', async () => {
  const nx = await resolveNextHops('nowhere.example', options(fakeResolver({})));
  assert.equal(nx.kind === 'fail' && nx.permanent, true);
  assert.equal(nx.kind === 'fail' && nx.status, '5.1.2');
  for (const code of ['ESERVFAIL', 'ETIMEOUT', 'ECONNREFUSED']) {
    const result = await resolveNextHops('example.net', options(fakeResolver({ mx: { 'example.net': code } })));
    assert.equal(result.kind, 'fail');
    assert.equal(result.kind === 'fail' && result.permanent, false, code);
    assert.equal(result.kind === 'fail' && result.status, '4.4.3');
  }
});

test('no address for any MX host: permanent when DNS said so, temporary when it failed', async () => {
  const none = await resolveNextHops(
    'example.net',
    options(fakeResolver({ mx: { 'example.net': [{ exchange: 'mx.example.net', priority: 10 }] } })),
  );
  assert.equal(none.kind === 'fail' && none.permanent, true);
  const broken = await resolveNextHops(
    'example.net',
    options(fakeResolver({ mx: { 'example.net': [{ exchange: 'mx.example.net', priority: 10 }] }, a: { 'mx.example.net': 'ETIMEOUT' } })),
  );
  assert.equal(broken.kind === 'fail' && broken.permanent, false);
  // One MX host without an address is skipped; the others are used.
  const partial = await resolveNextHops(
    'example.net',
    options(
      fakeResolver({
        mx: { 'example.net': [{ exchange: 'dead.example.net', priority: 5 }, { exchange: 'mx.example.net', priority: 10 }] },
        a: { 'mx.example.net': ['192.0.2.5'] },
      }),
    ),
  );
  assert.deepEqual(partial.kind === 'hops' && partial.hops.map((h) => h.host), ['192.0.2.5']);
  // Domain exists without MX and without addresses.
  const bare = await resolveNextHops('example.net', options(fakeResolver({ mx: { 'example.net': [] } })));
  assert.equal(bare.kind === 'fail' && bare.permanent, true);
});

test('[outbound.transport] wins over MX: an IP as is, a name resolved; exact domain only', async () => {
  const resolver = fakeResolver({
    mx: { 'example.net': [{ exchange: 'mx.example.net', priority: 10 }], 'sub.example.net': [{ exchange: 'mx.example.net', priority: 10 }] },
    a: { 'mx.example.net': ['192.0.2.1'], 'relay.example.org': ['198.51.100.5'] },
  });
  const transport = Object.assign(Object.create(null), {
    'example.net': { host: '10.0.0.5', port: 2525 },
    'example.com': { host: 'relay.example.org', port: 25 },
  });
  assert.deepEqual(await resolveNextHops('example.net', options(resolver, { transport })), {
    kind: 'hops',
    hops: [{ host: '10.0.0.5', port: 2525, exchange: '10.0.0.5', preference: 0 }],
  });
  assert.deepEqual(await resolveNextHops('example.com', options(resolver, { transport })), {
    kind: 'hops',
    hops: [{ host: '198.51.100.5', port: 25, exchange: 'relay.example.org', preference: 0 }],
  });
  const sub = await resolveNextHops('sub.example.net', options(resolver, { transport }));
  assert.deepEqual(sub.kind === 'hops' && sub.hops.map((h) => h.host), ['192.0.2.1']);
  // A domain named like an Object.prototype member is not a transport entry.
  const proto = await resolveNextHops('constructor', options(resolver, { transport: {} }));
  assert.equal(proto.kind, 'fail');
});

test('our own host among the MX hosts: only more preferred ones are used (RFC 5321 §5.1)', async () => {
  const resolver = fakeResolver({
    mx: {
      'example.net': [
        { exchange: 'primary.example.net', priority: 10 },
        { exchange: 'mail.example.test', priority: 20 },
        { exchange: 'other.example.net', priority: 30 },
      ],
      'example.org': [{ exchange: 'mail.example.test', priority: 10 }],
    },
    a: { 'primary.example.net': ['192.0.2.1'], 'other.example.net': ['192.0.2.3'], 'mail.example.test': ['192.0.2.2'] },
  });
  const result = await resolveNextHops('example.net', options(resolver, { localHostname: 'mail.example.test' }));
  assert.deepEqual(result.kind === 'hops' && result.hops.map((h) => h.exchange), ['primary.example.net']);
  const loop = await resolveNextHops('example.org', options(resolver, { localHostname: 'mail.example.test' }));
  assert.equal(loop.kind === 'fail' && loop.status, '5.4.6');
});

test('a source address limits the hops to its family; the number of hops is bounded', async () => {
  const many = Array.from({ length: 30 }, (_, i) => `192.0.2.${i + 1}`);
  const resolver = fakeResolver({
    mx: { 'example.net': [{ exchange: 'mx.example.net', priority: 10 }] },
    a: { 'mx.example.net': many },
    aaaa: { 'mx.example.net': ['2001:db8::1'] },
  });
  const v6 = await resolveNextHops('example.net', options(resolver, { family: 6 }));
  assert.deepEqual(v6.kind === 'hops' && v6.hops.map((h) => h.host), ['2001:db8::1']);
  const v4 = await resolveNextHops('example.net', options(resolver, { family: 4 }));
  assert.equal(v4.kind === 'hops' && v4.hops.length, 10);
});
