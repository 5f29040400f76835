import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cachingLookups, DNS_CACHE } from '../../src/dns/cache.ts';

function fakeDns() {
  const calls: string[] = [];
  const fail = (code: string) => Object.assign(new Error(code), { code });
  const dns = {
    resolveTxt: async (name: string) => {
      calls.push(`TXT ${name}`);
      if (name === 'missing.test') throw fail('ENOTFOUND');
      if (name === 'broken.test') throw fail('ESERVFAIL');
      return [['v=spf1 -all']];
    },
    resolveMx: async () => [{ exchange: 'mx.test', priority: 10 }],
    resolve4: async () => ['192.0.2.1'],
    resolve6: async () => ['2001:db8::1'],
    resolvePtr: async () => ['host.test'],
    resolveCname: async () => ['alias.test'],
  };
  return { dns, calls };
}

test('answers are reused until they expire; each caller gets its own copy', async () => {
  let now = 0;
  const { dns, calls } = fakeDns();
  const cached = cachingLookups(dns, () => now);
  const first = await cached.resolveTxt('example.test');
  first[0]!.push('changed by a caller');
  assert.deepEqual(await cached.resolveTxt('EXAMPLE.test'), [['v=spf1 -all']]);
  assert.equal(calls.length, 1);
  now += DNS_CACHE.positiveMs + 1;
  await cached.resolveTxt('example.test');
  assert.equal(calls.length, 2);
});

test('"no such record" is reused for a shorter time; other failures never', async () => {
  let now = 0;
  const { dns, calls } = fakeDns();
  const cached = cachingLookups(dns, () => now);
  await assert.rejects(cached.resolveTxt('missing.test'), { code: 'ENOTFOUND' });
  await assert.rejects(cached.resolveTxt('missing.test'), { code: 'ENOTFOUND' });
  assert.equal(calls.length, 1);
  now += DNS_CACHE.negativeMs + 1;
  await assert.rejects(cached.resolveTxt('missing.test'));
  assert.equal(calls.length, 2);
  await assert.rejects(cached.resolveTxt('broken.test'), { code: 'ESERVFAIL' });
  await new Promise((resolve) => setImmediate(resolve));
  await assert.rejects(cached.resolveTxt('broken.test'), { code: 'ESERVFAIL' });
  assert.equal(calls.filter((c) => c === 'TXT broken.test').length, 2);
});
