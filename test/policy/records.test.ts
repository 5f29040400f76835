import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recordsToPublish, toZoneFile, txtStrings } from '../../src/policy/records.ts';
import { generateDkimKey } from '../../src/policy/dkim/keys.ts';

test('TXT values are split into character-strings of at most 255 octets', () => {
  const value = 'v=DKIM1; k=rsa; p=' + 'A'.repeat(600);
  const strings = txtStrings(value);
  assert.equal(strings.length, 3);
  for (const s of strings) assert.ok(s.length - 2 <= 255);
  assert.equal(strings.map((s) => s.slice(1, -1)).join(''), value);
  assert.deepEqual(txtStrings('say "hi"'), ['"say \\"hi\\""']);
});

test('records for a domain: MX, SPF, both DKIM keys and DMARC with rua', () => {
  const rsa = generateDkimKey('rsa-sha256', 'k20261123r');
  const ed = generateDkimKey('ed25519-sha256', 'k20261123e');
  const zone = toZoneFile(
    recordsToPublish('example.test', 'mail.example.test', [
      { ...rsa, retiredAt: null },
      { ...ed, retiredAt: null },
    ]),
  );
  assert.match(zone, /^example\.test\.\t3600\tIN\tMX\t10 mail\.example\.test\.$/m);
  assert.match(zone, /^example\.test\.\t3600\tIN\tTXT\t"v=spf1 mx -all"$/m);
  assert.match(zone, /^k20261123r\._domainkey\.example\.test\.\t3600\tIN\tTXT\t\( "v=DKIM1; k=rsa; h=sha256; p=MIIBIjAN/m);
  assert.match(zone, new RegExp(`^k20261123e\\._domainkey\\.example\\.test\\.\\t3600\\tIN\\tTXT\\t"v=DKIM1; k=ed25519; p=${ed.publicKey.replace(/[+/]/g, '\\$&')}"$`, 'm'));
  assert.match(zone, /^_dmarc\.example\.test\.\t3600\tIN\tTXT\t"v=DMARC1; p=reject; rua=mailto:postmaster@example\.test"$/m);
  assert.equal(Buffer.from(ed.publicKey, 'base64').length, 32, 'RFC 8463: the bare 32-byte key');
});
