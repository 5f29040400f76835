// Sender authentication of inbound mail: DKIM signatures (src/policy/dkim/verify.ts),
// ARC chains (src/policy/arc/verify.ts) and the whole evaluation port 25 runs
// (src/policy/sender-auth.ts: SPF, DKIM, DMARC, ARC, Sender ID and the
// Authentication-Results field). The messages are the ARC validation suite's
// (../shared/testdata, read in place) and DKIM-signed ones; DNS answers come from the
// suite's records plus "X-Fuzz-TXT: name record" lines of the message itself, so the
// mutations reach the published records (SPF, DMARC, keys) as well.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { verifyDkim } from '../../src/policy/dkim/verify.ts';
import { verifyArc } from '../../src/policy/arc/verify.ts';
import { evaluateInbound } from '../../src/policy/sender-auth.ts';
import { signMessage } from '../../src/policy/dkim/sign.ts';
import { configSchema } from '../../src/config/schema.ts';
import { fakeResolver, type FakeZone } from '../../test/policy/auth/fake-dns.ts';
import { parseYamlDocuments } from '../../test/policy/auth/yaml.ts';
import { fuzzInputs } from '../lib/inputs.ts';
import { invariant, type FuzzTarget } from '../lib/target.ts';

const ARC_SUITE = new URL('../../../shared/testdata/arc-draft-validation-tests.yml', import.meta.url);
const AUTHSERV_ID = 'mx.kakitome.test';

// A fixed Ed25519 key (RFC 8463), so that a saved input verifies the same way later.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, Buffer.alloc(32, 7)]), format: 'der', type: 'pkcs8' });
const publicKey = createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');

const suite = parseYamlDocuments(readFileSync(ARC_SUITE, 'utf8')) as unknown as { tests: Record<string, { message: string }>; 'txt-records'?: Record<string, string> }[];

const ZONE: FakeZone = {
  'fuzz._domainkey.example.test': { TXT: [`v=DKIM1; k=ed25519; p=${publicKey}`] },
  'example.test': { TXT: ['v=spf1 ip4:192.0.2.1 -all'], MX: [{ exchange: 'mail.example.test', priority: 10 }], A: ['192.0.2.1'] },
  '_dmarc.example.test': { TXT: ['v=DMARC1; p=reject; adkim=s; aspf=s'] },
};
for (const document of suite) {
  for (const [name, record] of Object.entries(document['txt-records'] ?? {})) ZONE[name] = { TXT: [record] };
}

const plain = Buffer.from(
  'From: Alice <alice@example.test>\r\nTo: bob@example.org\r\nSubject: fuzz\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@example.test>\r\n' +
    'X-Fuzz-TXT: _dmarc.fuzz.test v=DMARC1; p=quarantine; pct=50; rua=mailto:a@fuzz.test\r\nX-Fuzz-TXT: fuzz.test v=spf1 include:example.test ~all\r\n\r\nHello.\r\n',
);
const signature = await signMessage(plain, 'example.test', [{ selector: 'fuzz', algorithm: 'ed25519-sha256', privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), retiredAt: null }], {
  now: new Date('2026-12-01T10:00:00Z'),
});
const SEEDS = [
  Buffer.concat([Buffer.from(signature), plain]),
  plain,
  ...suite.flatMap((document) => Object.values(document.tests).map((spec) => Buffer.from(spec.message.replace(/\r?\n/g, '\r\n')))),
];

const TOKENS = ['DKIM-Signature: ', 'ARC-Seal: ', 'ARC-Message-Signature: ', 'ARC-Authentication-Results: ', 'X-Fuzz-TXT: ', 'v=1; ', 'a=rsa-sha256; ', 'a=ed25519-sha256; ', 'c=relaxed/relaxed; ', 'd=example.test; ', 's=fuzz; ', 'h=from:to; ', 'bh=', 'b=', 'i=1; ', 'i=2; ', 'cv=pass; ', 'cv=none; ', 'l=0; ', 'l=99999999999999999999; ', 't=1; ', 'x=1; ', 'v=spf1 ', 'v=DMARC1; ', 'p=reject; ', 'include:', 'redirect=', 'exp=', '%{i}', '%{l1r-}', 'ip4:', 'ip6:', 'a:', 'mx:', ' -all', 'v=DKIM1; k=rsa; p=', '\r\n', '\r\n\t', '\r\n\r\n', ';', '=', ':', '.', '\0'];

const inputs = fuzzInputs({ seeds: SEEDS, dictionary: TOKENS, maxLength: 32_768 });

/** The suite's and our records, plus the message's own "X-Fuzz-TXT: name record" lines. */
function resolverFor(message: Buffer) {
  const zone: FakeZone = { ...ZONE };
  const header = message.subarray(0, Math.max(0, message.indexOf('\r\n\r\n'))).toString('utf8');
  for (const match of header.matchAll(/^X-Fuzz-TXT: ?(\S+) ?(.*)$/gim)) {
    const name = match[1]!.toLowerCase();
    zone[name] = { TXT: [...(zone[name]?.TXT ?? []), match[2]!] };
  }
  return fakeResolver(zone);
}

const NOW = new Date('2026-12-01T10:05:00Z');

const dkimVerify: FuzzTarget = {
  name: 'dkim-verify',
  about: 'DKIM-Signature fields, canonicalisation and key records of inbound mail',
  seeds: SEEDS,
  inputs,
  async check(input) {
    const verdict = await verifyDkim(input, resolverFor(input), { now: NOW });
    for (const signature of verdict.signatures) invariant(['pass', 'fail', 'neutral', 'policy', 'temperror', 'permerror', 'none'].includes(signature.result), `DKIM result ${signature.result}`);
  },
};

const arcVerify: FuzzTarget = {
  name: 'arc-verify',
  about: 'ARC sets (ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results) of inbound mail',
  seeds: SEEDS,
  inputs,
  async check(input) {
    const verdict = await verifyArc(input, resolverFor(input));
    invariant(['none', 'pass', 'fail'].includes(verdict.result), `ARC result ${verdict.result}`);
  },
};

const policy = { ...configSchema.parse({ hostname: 'mail.example.test' }).sender_auth, sender_id: true };

const senderAuth: FuzzTarget = {
  name: 'sender-auth',
  about: "port 25's sender authentication: SPF, DKIM, DMARC, ARC, Sender ID, and the Authentication-Results field it writes",
  seeds: SEEDS,
  inputs,
  async check(input) {
    let internal: unknown;
    const verdict = await evaluateInbound(
      { message: input, ip: '192.0.2.1', helo: 'mail.example.test', mailFrom: 'alice@example.test', authservId: AUTHSERV_ID, resolver: resolverFor(input) },
      policy,
      { onError: (error) => (internal = error) },
    );
    // evaluateInbound turns an internal error into temperror; for the fuzzer it is a defect.
    if (internal !== undefined) throw internal;
    const field = verdict.authenticationResults;
    invariant(field.startsWith(`Authentication-Results: ${AUTHSERV_ID};`) && field.endsWith('\r\n'), 'Authentication-Results is not one field of ours');
    // One field, folded: every line break is CRLF followed by white space, no other control characters.
    invariant(!/\r\n(?![ \t])[\s\S]/.test(field.slice(0, -2)) && !/\r(?!\n)|(?<!\r)\n|[\0-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(field), 'Authentication-Results can be split into other fields');
  },
};

export const SENDER_AUTH_TARGETS = [dkimVerify, arcVerify, senderAuth];
