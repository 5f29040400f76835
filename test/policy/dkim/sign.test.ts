// Outbound DKIM signing: every signature is checked by two independent verifiers —
// mailauth's dkimVerify and Debian's dkimpy — against the DNS records exactly as
// `kakitome dns` prints them (zone-file text, long TXT values split).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dkimSign } from 'mailauth';
import { generateDkimKey, type DkimAlgorithm } from '../../../src/policy/dkim/keys.ts';
import { DkimSignError, signMessage, signedFieldNames, signingDomainFor, type SigningKey } from '../../../src/policy/dkim/sign.ts';
import { recordsToPublish, toZoneFile, txtStrings } from '../../../src/policy/records.ts';
import { parseZoneTxt, signatureTags, verifyWithDkimpy, verifyWithMailauth, type TxtZone } from './helpers.ts';

const DOMAIN = 'example.test';
const NOW = new Date('2026-03-01T12:00:00Z');

function key(algorithm: DkimAlgorithm, selector: string, retiredAt: number | null = null): SigningKey & { publicKey: string } {
  return { ...generateDkimKey(algorithm, selector), retiredAt };
}

const rsa = key('rsa-sha256', 'k20260301r');
const ed = key('ed25519-sha256', 'k20260301e');
const oldRsa = key('rsa-sha256', 'k20250101r', Date.parse('2026-02-01'));
const oldEd = key('ed25519-sha256', 'k20250101e', Date.parse('2026-02-01'));
const KEYS = [rsa, ed, oldRsa, oldEd];
const zoneText = toZoneFile(recordsToPublish(DOMAIN, `mail.${DOMAIN}`, KEYS));
const zone: TxtZone = parseZoneTxt(zoneText);

const crlf = (lines: string[]) => Buffer.from(lines.join('\r\n'), 'utf8');

const MESSAGE = crlf([
  'Received: from laptop (laptop [192.0.2.10]) by mail.example.test with ESMTPSA id 1; Sun, 1 Mar 2026 12:00:00 +0000',
  'From: Alice Example <alice@example.test>',
  'To: Bob <bob@example.net>',
  'Subject: Lunch',
  'Date: Sun, 1 Mar 2026 12:00:00 +0000',
  'Message-ID: <lunch.1@example.test>',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Shall we meet at noon?',
  '',
]);

async function signed(message: Buffer, keys: readonly SigningKey[] = KEYS): Promise<{ fields: string; message: Buffer }> {
  const fields = await signMessage(message, DOMAIN, keys, { now: NOW });
  return { fields, message: Buffer.concat([Buffer.from(fields, 'latin1'), message]) };
}

async function mailauthResults(message: Buffer): Promise<string[]> {
  return (await verifyWithMailauth(message, zone, NOW)).results.map((r) => `${r.selector}=${r.result}`);
}

test('two signatures, RSA then Ed25519, with the active keys only; both verify with mailauth', async () => {
  const { fields, message } = await signed(MESSAGE);
  const tags = signatureTags(fields);
  assert.deepEqual(tags.map((t) => [t.a, t.s]), [['rsa-sha256', rsa.selector], ['ed25519-sha256', ed.selector]]);
  for (const t of tags) {
    assert.equal(t.v, '1');
    assert.equal(t.c, 'relaxed/relaxed');
    assert.equal(t.d, DOMAIN);
    assert.equal(t.t, String(NOW.getTime() / 1000));
    assert.equal(t.l, undefined, 'no body length limit');
    assert.equal(t.x, undefined);
  }
  assert.deepEqual(await mailauthResults(message), [`${rsa.selector}=pass`, `${ed.selector}=pass`]);
});

test('the fields are folded lines with CRLF ends, at most 78 characters', async () => {
  const { fields } = await signed(MESSAGE);
  assert.ok(fields.endsWith('\r\n'));
  assert.doesNotMatch(fields.replaceAll('\r\n', ''), /[\r\n]/, 'no bare CR or LF');
  const lines = fields.slice(0, -2).split('\r\n');
  assert.equal(lines.filter((l) => l.startsWith('DKIM-Signature: ')).length, 2);
  for (const line of lines) {
    assert.ok(line.length <= 78, `${line.length}: ${line}`);
    assert.match(line, /^(DKIM-Signature: | \S)/);
  }
});

test('h=: From oversigned, the reader-facing fields, never Received', async () => {
  const [tags] = signatureTags((await signed(MESSAGE)).fields);
  const h = tags!.h!.split(':').map((n) => n.toLowerCase());
  const count = (name: string) => h.filter((n) => n === name).length;
  assert.equal(count('from'), 2, 'From once more than it occurs (RFC 6376 §8.15)');
  for (const name of ['to', 'subject', 'date', 'message-id', 'mime-version', 'content-type']) assert.ok(count(name) >= 1, name);
  assert.equal(count('reply-to'), 1, 'absent Reply-To listed: adding one breaks the signature');
  assert.equal(count('cc'), 1);
  assert.equal(count('received'), 0);
  assert.equal(count('dkim-signature'), 0);
  assert.equal(count('in-reply-to'), 0, 'absent threading fields are not listed');
});

test('h=: List-* fields, References and In-Reply-To when present; repeated fields each signed', () => {
  const names = signedFieldNames(
    ['From', 'To', 'To', 'Subject', 'In-Reply-To', 'References', 'List-Id', 'List-Unsubscribe', 'List-Unsubscribe-Post', 'X-Mailer', 'Received'].map((name) => ({ name })),
  );
  const count = (name: string) => names.filter((n) => n.toLowerCase() === name.toLowerCase()).length;
  assert.equal(count('To'), 3);
  assert.equal(count('In-Reply-To'), 2);
  assert.equal(count('References'), 2);
  assert.equal(count('List-Id'), 1);
  assert.equal(count('List-Unsubscribe'), 1);
  assert.equal(count('List-Unsubscribe-Post'), 1);
  assert.equal(count('X-Mailer'), 0);
  assert.equal(count('Received'), 0);
});

test('a Received field added on top after signing (the next hop) does not break the signatures', async () => {
  const { message } = await signed(MESSAGE);
  const relayed = Buffer.concat([Buffer.from('Received: from mail.example.test by mx.example.net; Sun, 1 Mar 2026 12:00:01 +0000\r\n'), message]);
  assert.deepEqual(await mailauthResults(relayed), [`${rsa.selector}=pass`, `${ed.selector}=pass`]);
});

for (const [what, tamper] of [
  ['a changed body', (m: string) => m.replace('noon', 'one')],
  ['a changed From', (m: string) => m.replace('alice@example.test', 'mallory@example.test')],
  ['an extra From added on top', (m: string) => m.replace(/^/, 'From: Mallory <ceo@example.test>\r\n')],
  ['an extra From added below the original', (m: string) => m.replace('To: Bob', 'From: Mallory <ceo@example.test>\r\nTo: Bob')],
  ['an extra Subject added on top', (m: string) => m.replace(/^/, 'Subject: Urgent: wire transfer\r\n')],
  ['a Reply-To added', (m: string) => m.replace('To: Bob', 'Reply-To: mallory@example.net\r\nTo: Bob')],
  ['a Cc added', (m: string) => m.replace('To: Bob', 'Cc: mallory@example.net\r\nTo: Bob')],
  ['a line appended to the body', (m: string) => `${m}Also, send the keys.\r\n`],
] as const) {
  test(`${what} makes both signatures fail (mailauth and dkimpy)`, async () => {
    const { message } = await signed(MESSAGE);
    const tampered = Buffer.from(tamper(message.toString('latin1')), 'latin1');
    assert.notDeepEqual(tampered, message);
    for (const result of await mailauthResults(tampered)) assert.match(result, /=(fail|neutral|policy)$/, result);
    const dkimpy = await verifyWithDkimpy(tampered, zone);
    assert.equal(dkimpy.length, 2);
    for (const r of dkimpy) assert.equal(r.ok, false, `${r.s} verified after tampering`);
  });
}

// Canonicalization corner cases (RFC 6376 §3.4.2, §3.4.4), each checked by both
// verifiers: they would disagree with the signer on any mistake.
const CASES: Record<string, Buffer> = {
  'the plain message': MESSAGE,
  'folded fields, tabs, white space after the colon, a repeated field': crlf([
    'From:   "Alice\tExample"\t<alice@example.test>   ',
    'To: bob@example.net,',
    '\tcarol@example.net,',
    '    dave@example.net',
    'Subject:  a   subject',
    '  folded  over\t\tlines  ',
    'subject: a second, lower-case Subject field',
    'Date: Sun, 1 Mar 2026 12:00:00 +0000',
    '',
    'body',
    '',
  ]),
  'white space at line ends, runs of white space, trailing empty lines': crlf([
    'From: alice@example.test',
    'Subject: spaces',
    '',
    'line with trailing spaces   ',
    'line\twith\t\ttabs \t and  runs',
    ' leading space',
    '',
    '   ',
    'after an empty line',
    '',
    '',
    ' \t ',
    '',
    '',
  ]),
  'an empty body': crlf(['From: alice@example.test', 'Subject: empty', '', '']),
  'no body at all': crlf(['From: alice@example.test', 'Subject: header only', '']),
  'a body without a final line end': Buffer.from('From: alice@example.test\r\nSubject: no CRLF\r\n\r\nlast line', 'utf8'),
  '8-bit UTF-8 header and body (SMTPUTF8, 8BITMIME)': crlf([
    'From: Zoë <zoe@example.test>',
    'To: 花子 <hanako@example.net>',
    'Subject: Grüße — 書留',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    'Käse und 書留 ',
    '',
  ]),
  'a mailing-list message with List-* fields and threading': crlf([
    'From: alice@example.test',
    'To: team@lists.example.test',
    'Subject: [team] minutes',
    'In-Reply-To: <m1@example.test>',
    'References: <m0@example.test> <m1@example.test>',
    'List-Id: Team <team.lists.example.test>',
    'List-Unsubscribe: <mailto:team-leave@lists.example.test>',
    'List-Post: <mailto:team@lists.example.test>',
    'X-Other: not signed',
    '',
    'minutes',
    '',
  ]),
  'bare LF line ends (never stored by us; read as line ends, as verifiers do)': Buffer.from(
    'From: alice@example.test\nSubject: LF\n folded\n\nbody  line \n\n\n',
  ),
  'a long MIME message': crlf([
    'From: alice@example.test',
    'To: bob@example.net',
    'Subject: report',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain',
    '',
    ...Array.from({ length: 2000 }, (_, i) => `line ${i} ${'x'.repeat(i % 120)}  `),
    '--b1--',
    '',
  ]),
};

for (const [name, message] of Object.entries(CASES)) {
  test(`both signatures verify with mailauth and dkimpy: ${name}`, async () => {
    const { message: signedMessage } = await signed(message);
    assert.deepEqual(await mailauthResults(signedMessage), [`${rsa.selector}=pass`, `${ed.selector}=pass`]);
    const dkimpy = await verifyWithDkimpy(signedMessage, zone);
    assert.deepEqual(
      dkimpy.map((r) => [r.s, r.a, r.ok]),
      [
        [rsa.selector, 'rsa-sha256', true],
        [ed.selector, 'ed25519-sha256', true],
      ],
      JSON.stringify(dkimpy),
    );
  });
}

test('white space before the colon (RFC 5322 §4.5.8 obsolete syntax) is canonicalized away', async () => {
  // dkimpy refuses to parse such a header ("Unexpected characters in RFC822 header"),
  // so only mailauth checks this one.
  const message = crlf(['From : alice@example.test', 'Subject\t: obsolete', 'To: bob@example.net', '', 'x', '']);
  assert.deepEqual(await mailauthResults((await signed(message)).message), [`${rsa.selector}=pass`, `${ed.selector}=pass`]);
});

test('the body hash agrees with mailauth and with the RFC 6376/8463 example (relaxed)', async () => {
  // RFC 8463 Appendix A.3 signs this message; its bh= (relaxed, SHA-256) is fixed.
  const rfcMessage = crlf([
    'From: Joe SixPack <joe@football.example.com>',
    'To: Suzie Q <suzie@shopping.example.net>',
    'Subject: Is dinner ready?',
    'Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)',
    'Message-ID: <20030712040037.46341.5F8J@football.example.com>',
    '',
    'Hi.',
    '',
    'We lost the game.  Are you hungry yet?',
    '',
    'Joe.',
    '',
  ]);
  const ours = signatureTags(await signMessage(rfcMessage, DOMAIN, [ed], { now: NOW }))[0]!.bh;
  assert.equal(ours, '2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=');
  for (const message of Object.values(CASES)) {
    const signer = { signingDomain: DOMAIN, selector: ed.selector, privateKey: ed.privateKey };
    const theirs = await dkimSign(message, { ...signer, canonicalization: 'relaxed/relaxed', signatureData: [signer] });
    const ourFields = await signMessage(message, DOMAIN, [ed], { now: NOW });
    assert.equal(signatureTags(ourFields)[0]!.bh, signatureTags(theirs.signatures)[0]!.bh);
  }
});

test('retired keys never sign; no active key means no signature', async () => {
  assert.equal(await signMessage(MESSAGE, DOMAIN, [oldRsa, oldEd]), '');
  assert.equal(await signMessage(MESSAGE, DOMAIN, []), '');
  const { fields } = await signed(MESSAGE, [oldRsa, rsa]);
  assert.deepEqual(signatureTags(fields).map((t) => t.s), [rsa.selector]);
});

test('a message without From is refused, as is a domain that is no A-label name', async () => {
  await assert.rejects(signMessage(crlf(['To: bob@example.net', 'Subject: x', '', 'x', '']), DOMAIN, KEYS), DkimSignError);
  await assert.rejects(signMessage(MESSAGE, 'bad domain; x=y', KEYS), DkimSignError);
  await assert.rejects(signMessage(MESSAGE, 'bücher.example', KEYS), DkimSignError);
});

test('signingDomainFor: the header From domain when it is local', () => {
  const local = new Set(['example.test', 'xn--bcher-kva.example']);
  assert.equal(signingDomainFor('Alice <alice@example.test>', local), 'example.test');
  assert.equal(signingDomainFor('ALICE@EXAMPLE.TEST', local), 'example.test');
  assert.equal(signingDomainFor('"a, b" <a@example.test>, b@Example.Test', local), 'example.test');
  assert.equal(signingDomainFor('leser@bücher.example', local), 'xn--bcher-kva.example');
  assert.equal(signingDomainFor('alice@example.test', (d) => d === 'example.test'), 'example.test');
  assert.equal(signingDomainFor('bob@example.net', local), undefined);
  assert.equal(signingDomainFor('alice@example.test, bob@example.net', local), undefined, 'mixed domains');
  assert.equal(signingDomainFor('alice@sub.example.test', local), undefined, 'a subdomain is not the local domain');
  assert.equal(signingDomainFor('', local), undefined);
  assert.equal(signingDomainFor('undisclosed-recipients:;', local), undefined);
  assert.equal(signingDomainFor('no address here', local), undefined);
});

test('a 2048-bit RSA key record is split into character-strings of at most 255 octets that reassemble', () => {
  const record = recordsToPublish(DOMAIN, `mail.${DOMAIN}`, [rsa]).find((r) => r.name === `${rsa.selector}._domainkey.${DOMAIN}`)!;
  assert.ok(record.value.length > 255, `${record.value.length} octets`);
  const strings = txtStrings(record.value);
  assert.equal(strings.length, 2);
  for (const s of strings) assert.ok(Buffer.byteLength(s) - 2 <= 255);
  // What the zone file says, read back as a name server would, reassembles to the value.
  assert.equal(zone.get(`${rsa.selector}._domainkey.${DOMAIN}`)!.join(''), record.value);
  assert.equal(zone.get(`${ed.selector}._domainkey.${DOMAIN}`)!.length, 1);
  assert.match(zoneText, new RegExp(`^${rsa.selector}\\._domainkey\\.example\\.test\\.\\t3600\\tIN\\tTXT\\t\\( "v=DKIM1; k=rsa; h=sha256; p=[^"]+"\\n\\t+"[^"]+" \\)$`, 'm'));
  // Every key is published, active and retired; SPF and DMARC p=reject with rua.
  for (const k of KEYS) assert.ok(zone.has(`${k.selector}._domainkey.${DOMAIN}`), k.selector);
  assert.deepEqual(zone.get(DOMAIN), ['v=spf1 mx -all']);
  assert.match(zone.get(`_dmarc.${DOMAIN}`)!.join(''), /^v=DMARC1; p=reject; rua=mailto:[^@\s;]+@example\.test$/);
});
