// The zone-file reader of the sender-authentication end-to-end tests (zone.ts), on
// hand-written zone text and on what `kakitome dns` and `kakitome init` really print:
// every record parses, long TXT values come back whole, each character-string is at
// most 255 octets, the DKIM keys are real keys, and dnsmasq serves the parsed records
// so that a resolver reads back exactly the published values.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { startDns } from '../harness/dns.ts';
import { runKakitome } from '../harness/instance.ts';
import { makeTempDir, removeDir } from '../harness/processes.ts';
import { dkimKeys, mergeRecords, parseZone, tagList, txtValues } from './zone.ts';

const SAMPLE = [
  '; a comment line',
  '$ORIGIN example.test.',
  '$TTL 300',
  '@\t3600\tIN\tMX\t10 mail ; trailing comment',
  '@ IN 3600 TXT "v=spf1 mx -all"',
  '\tTXT "second; record" ; owner inherited from the line before',
  'sel._domainkey 3600 IN TXT ( "v=DKIM1; k=rsa; "',
  '\t\t\t\t"p=AAAA"  ; a comment inside the parentheses',
  '\t\t\t\t"BBBB" )',
  'mail.example.test. A 192.0.2.1',
  'mail AAAA 2001:db8::1',
  'quoted.example.test. TXT "say \\"hi\\" \\\\ \\059 end"',
  'alias CNAME mail',
  '_25._tcp.mail TLSA 3 1 1 abcdef',
  '',
].join('\n');

describe('zone-file reader', () => {
  test('comments, parentheses, $ORIGIN, inherited owners, TTL/class order, escapes', () => {
    const zone = parseZone(SAMPLE);
    assert.deepEqual(zone.records.mx, { 'example.test': { exchange: 'mail.example.test', priority: 10 } });
    assert.deepEqual(txtValues(zone.records, 'example.test'), ['v=spf1 mx -all', 'second; record']);
    assert.deepEqual(txtValues(zone.records, 'sel._domainkey.example.test.'), ['v=DKIM1; k=rsa; p=AAAABBBB']);
    assert.deepEqual(zone.entries.find((e) => e.name === 'sel._domainkey.example.test')?.strings, ['v=DKIM1; k=rsa; ', 'p=AAAA', 'BBBB']);
    assert.deepEqual(txtValues(zone.records, 'quoted.example.test'), ['say "hi" \\ ; end']);
    assert.deepEqual(zone.records.a, { 'mail.example.test': '192.0.2.1' });
    assert.deepEqual(zone.records.aaaa, { 'mail.example.test': '2001:db8::1' });
    assert.deepEqual(zone.records.cname, { 'alias.example.test': 'mail.example.test' });
    assert.deepEqual(zone.unsupported.map((e) => `${e.name} ${e.type} ${e.data}`), ['_25._tcp.mail.example.test TLSA 3 1 1 abcdef']);
    assert.equal(zone.entries.find((e) => e.type === 'MX')?.ttl, 3600);
  });

  test('strict mode refuses prose; lenient mode sets it aside', () => {
    const text = `created /tmp/x/kakitome.toml\npublish these DNS records for a.test:\n\na.test.\t3600\tIN\tTXT\t"v=spf1 mx -all"\n\nnext: kakitome user add postmaster@a.test\n`;
    assert.throws(() => parseZone(text), /zone line 1: not zone-file syntax/);
    const zone = parseZone(text, { strict: false });
    assert.deepEqual(zone.prose, ['created /tmp/x/kakitome.toml', 'publish these DNS records for a.test:', 'next: kakitome user add postmaster@a.test']);
    assert.deepEqual(zone.records.txt, { 'a.test': 'v=spf1 mx -all' });
  });

  test('malformed zone text is an error with its line', () => {
    assert.throws(() => parseZone('a.test. TXT ( "open'), /unterminated quoted string/);
    assert.throws(() => parseZone('a.test. TXT ( "open"\n'), /unclosed "\("/);
    assert.throws(() => parseZone('a.test. TXT "x" )'), /unbalanced/);
    assert.throws(() => parseZone('relative TXT "x"'), /relative name/);
    assert.throws(() => parseZone('a.test. MX mail.a.test.'), /MX needs/);
  });

  test('mergeRecords adds records of the same name together, duplicates once', () => {
    const merged = mergeRecords(
      { txt: { 'a.test': 'v=spf1 mx -all' }, mx: { 'a.test': { exchange: 'mail.a.test', priority: 10 } } },
      { txt: { 'a.test': ['other', 'v=spf1 mx -all'] }, a: { 'mail.a.test': '127.0.0.2' } },
    );
    assert.deepEqual(merged.txt, { 'a.test': ['v=spf1 mx -all', 'other'] });
    assert.deepEqual(merged.mx, { 'a.test': { exchange: 'mail.a.test', priority: 10 } });
    assert.deepEqual(merged.a, { 'mail.a.test': '127.0.0.2' });
  });

  test('what `kakitome dns` and `kakitome init` print: MX, SPF, two DKIM keys, DMARC; served back whole by dnsmasq', async (t) => {
    const dir = await makeTempDir('kakitome-zone');
    t.after(() => removeDir(dir));
    const instanceDir = join(dir, 'a');
    const init = await runKakitome(['init', '--dir', instanceDir, '--domain', 'a.test', '--hostname', 'mail.a.test', '--port-offset', '30000', '--listen', '127.0.0.2']);
    assert.equal(init.code, 0, `kakitome init failed:\n${init.stdout}\n${init.stderr}`);
    const dns = await runKakitome(['dns', 'a.test', '--config', join(instanceDir, 'kakitome.toml')]);
    assert.equal(dns.code, 0, `kakitome dns failed:\n${dns.stdout}\n${dns.stderr}`);

    const zone = parseZone(dns.stdout); // strict: `kakitome dns` prints zone syntax only
    const fromInit = parseZone(init.stdout, { strict: false });
    assert.deepEqual(fromInit.records, zone.records, 'init prints the same records as `kakitome dns`');

    // RFC 1035 §3.3: a character-string is at most 255 octets.
    for (const entry of zone.entries.filter((e) => e.type === 'TXT')) {
      for (const s of entry.strings!) assert.ok(Buffer.byteLength(s, 'latin1') <= 255, `a character-string of ${entry.name} has ${s.length} octets:\n${dns.stdout}`);
    }

    assert.deepEqual(zone.records.mx, { 'a.test': { exchange: 'mail.a.test', priority: 10 } }, dns.stdout);
    const spf = txtValues(zone.records, 'a.test').filter((v) => /^v=spf1\b/i.test(v));
    assert.deepEqual(spf, ['v=spf1 mx -all'], dns.stdout);
    const dmarc = txtValues(zone.records, '_dmarc.a.test');
    assert.equal(dmarc.length, 1, dns.stdout);
    assert.equal(tagList(dmarc[0]!).get('v'), 'DMARC1');
    assert.equal(tagList(dmarc[0]!).get('p'), 'reject');
    assert.match(tagList(dmarc[0]!).get('rua') ?? '', /^mailto:[^@]+@a\.test$/);

    const keys = dkimKeys(zone.records, 'a.test');
    const byType = new Map([...keys].map(([selector, value]) => [tagList(value).get('k') ?? 'rsa', { selector, tags: tagList(value) }]));
    assert.deepEqual([...byType.keys()].sort(), ['ed25519', 'rsa'], `one RSA and one Ed25519 key:\n${dns.stdout}`);
    const rsa = byType.get('rsa')!;
    assert.equal(rsa.tags.get('v'), 'DKIM1');
    const rsaKey = createPublicKey({ key: Buffer.from(rsa.tags.get('p')!, 'base64'), format: 'der', type: 'spki' });
    assert.equal(rsaKey.asymmetricKeyType, 'rsa');
    assert.ok((rsaKey.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048, 'RSA key of at least 2048 bits');
    assert.ok(zone.entries.find((e) => e.name === `${rsa.selector}._domainkey.a.test`)!.strings!.length >= 2, 'the RSA record needs several strings');
    // RFC 8463 §4.2: p= is the raw 32-octet Ed25519 public key.
    assert.equal(Buffer.from(byType.get('ed25519')!.tags.get('p')!, 'base64').length, 32);
    assert.notEqual(rsa.selector, byType.get('ed25519')!.selector);

    // dnsmasq serves the parsed records; a resolver joins the strings back to the same value.
    const fixture = await startDns(zone.records, { t });
    const resolver = fixture.resolver();
    for (const [selector, value] of keys) {
      const answer = await resolver.resolveTxt(`${selector}._domainkey.a.test`);
      assert.deepEqual(answer.map((chunks) => chunks.join('')), [value]);
    }
    assert.deepEqual((await resolver.resolveMx('a.test')).map(({ exchange, priority }) => ({ exchange, priority })), [{ exchange: 'mail.a.test', priority: 10 }]);
  });
});
