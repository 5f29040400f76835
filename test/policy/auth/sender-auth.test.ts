import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { evaluateInbound, type InboundInput, type SenderAuthPolicy } from '../../../src/policy/sender-auth.ts';
import { dnsError, type MailauthResolver } from '../../../src/policy/spf/resolver.ts';
import { fakeResolver, type FakeZone } from './fake-dns.ts';
import { RFC8463_KEY_RECORDS, RFC8463_SIGNED_MESSAGE } from './rfc8463.ts';

const HOST = 'mx.kakitome.test';
const GOOD_IP = '192.0.2.1';
const BAD_IP = '198.51.100.7';

/** The defaults of src/config/schema.ts. */
const DEFAULTS: SenderAuthPolicy = { dmarc_reject: true, dmarc_quarantine: true, spf_fail: 'accept', temperror: 'tempfail', sender_id: true };

const ZONE: FakeZone = {
  'reject.example': { TXT: [`v=spf1 ip4:${GOOD_IP} -all`] },
  '_dmarc.reject.example': { TXT: ['v=DMARC1; p=reject; rua=mailto:d@reject.example'] },
  'mail.reject.example': { TXT: [`v=spf1 ip4:${GOOD_IP} -all`], A: [GOOD_IP] },
  'quarantine.example': { TXT: [`v=spf1 ip4:${GOOD_IP} -all`] },
  '_dmarc.quarantine.example': { TXT: ['v=DMARC1; p=quarantine'] },
  'monitor.example': { TXT: [`v=spf1 ip4:${GOOD_IP} -all`] },
  '_dmarc.monitor.example': { TXT: ['v=DMARC1; p=none'] },
  'nodmarc.example': { TXT: [`v=spf1 ip4:${GOOD_IP} -all`] },
  // sp=quarantine for subdomains of a p=reject organisational domain
  'parent.example': { TXT: ['v=spf1 -all'] },
  '_dmarc.parent.example': { TXT: ['v=DMARC1; p=reject; sp=quarantine'] },
  'sub.parent.example': { TXT: [`v=spf1 ip4:${GOOD_IP} -all`], A: [GOOD_IP] },
  // t=y: the policy one step weaker (RFC 9989)
  'testing.example': { TXT: ['v=spf1 -all'] },
  '_dmarc.testing.example': { TXT: ['v=DMARC1; p=reject; t=y'] },
  // DNS down for the whole domain
  'down.example': { fail: 'ESERVFAIL' },
  '_dmarc.down.example': { fail: 'ETIMEOUT' },
  // only SPF's lookup fails; the policy is p=reject
  'flaky.example': { fail: { TXT: 'ESERVFAIL' } },
  '_dmarc.flaky.example': { TXT: ['v=DMARC1; p=reject'] },
  // the RFC 8463 signer, publishing p=reject
  ...Object.fromEntries(Object.entries(RFC8463_KEY_RECORDS).map(([name, strings]) => [name, { TXT: [[...strings]] }])),
  'football.example.com': { TXT: [`v=spf1 ip4:${GOOD_IP} -all`] },
  '_dmarc.football.example.com': { TXT: ['v=DMARC1; p=reject'] },
};

function message(from: string, extra = ''): Buffer {
  return Buffer.from(
    `${extra}From: ${from}\r\nTo: user@kakitome.test\r\nSubject: hello\r\nDate: Mon, 23 Nov 2026 01:00:00 +0000\r\nMessage-ID: <1@example>\r\n\r\nHi.\r\n`,
  );
}

function input(over: Partial<InboundInput> & { from?: string }): InboundInput {
  const { from = 'a@reject.example', ...rest } = over;
  return { message: message(from), ip: GOOD_IP, helo: 'mail.reject.example', mailFrom: from.replace(/.*<|>.*/g, ''), authservId: HOST, resolver: fakeResolver(ZONE), ...rest };
}

/** The unfolded field, split into its resinfos. */
function resinfos(field: string): string[] {
  assert.match(field, /^Authentication-Results: mx\.kakitome\.test;\r\n\t/);
  assert.ok(field.endsWith('\r\n'));
  return field
    .replace(/\r\n\t/g, ' ')
    .replace(/\r\n$/, '')
    .split(';')
    .slice(1)
    .map((s) => s.trim());
}

test('aligned SPF pass under p=reject: accepted, spf=pass and dmarc=pass reported', async () => {
  const verdict = await evaluateInbound(input({}), DEFAULTS);
  assert.deepEqual(verdict.decision, { action: 'accept', quarantine: false });
  assert.equal(verdict.results.spf.result, 'pass');
  assert.equal(verdict.results.dmarc.result, 'pass');
  assert.equal(verdict.results.dmarc.alignedSpf, 'reject.example');
  const infos = resinfos(verdict.authenticationResults);
  assert.match(infos[0]!, /^spf=pass .*smtp\.mailfrom=reject\.example$/);
  assert.equal(infos[1], 'dkim=none');
  assert.match(infos[2]!, /^dmarc=pass .*header\.from=reject\.example policy\.dmarc=reject$/);
  assert.equal(infos[3], `arc=none smtp.remote-ip=${GOOD_IP}`);
  assert.match(infos[4]!, /^sender-id=pass .*header\.from=a@reject\.example$/);
  assert.equal(infos.length, 5);
});

test('DMARC fail under p=reject: 550 5.7.1 naming the domain and why', async () => {
  const verdict = await evaluateInbound(input({ ip: BAD_IP }), DEFAULTS);
  assert.deepEqual(verdict.decision, {
    action: 'reject',
    code: 550,
    enhanced: '5.7.1',
    text: 'DMARC policy of reject.example rejects this message: SPF fail, DKIM none',
  });
  assert.match(resinfos(verdict.authenticationResults)[2]!, /^dmarc=fail .*header\.from=reject\.example policy\.dmarc=reject$/);
});

test('p=reject with dmarc_reject off is quarantined; with both off it is accepted', async () => {
  const quarantined = await evaluateInbound(input({ ip: BAD_IP }), { ...DEFAULTS, dmarc_reject: false });
  assert.equal(quarantined.decision.action, 'accept');
  assert.ok(quarantined.decision.action === 'accept' && quarantined.decision.quarantine);
  const accepted = await evaluateInbound(input({ ip: BAD_IP }), { ...DEFAULTS, dmarc_reject: false, dmarc_quarantine: false });
  assert.ok(accepted.decision.action === 'accept' && !accepted.decision.quarantine);
});

test('DMARC fail under p=quarantine: accepted and marked, unless dmarc_quarantine is off', async () => {
  const verdict = await evaluateInbound(input({ from: 'a@quarantine.example', ip: BAD_IP }), DEFAULTS);
  assert.deepEqual(verdict.decision, {
    action: 'accept',
    quarantine: true,
    reason: 'DMARC policy of quarantine.example is quarantine: SPF fail, DKIM none',
  });
  const off = await evaluateInbound(input({ from: 'a@quarantine.example', ip: BAD_IP }), { ...DEFAULTS, dmarc_quarantine: false });
  assert.ok(off.decision.action === 'accept' && !off.decision.quarantine);
});

test('sp= for a subdomain and t=y are applied as mailauth reports them', async () => {
  const sub = await evaluateInbound(input({ from: 'a@sub.parent.example', ip: BAD_IP, helo: 'x.example' }), DEFAULTS);
  assert.equal(sub.results.dmarc.policy, 'quarantine');
  assert.ok(sub.decision.action === 'accept' && sub.decision.quarantine);
  const testing = await evaluateInbound(input({ from: 'a@testing.example', ip: BAD_IP }), DEFAULTS);
  assert.equal(testing.results.dmarc.policy, 'quarantine');
  assert.ok(testing.decision.action === 'accept' && testing.decision.quarantine);
});

test('SPF fail without a DMARC record: accepted by default, 550 5.7.23 with spf_fail = "reject"', async () => {
  const accepted = await evaluateInbound(input({ from: 'a@nodmarc.example', ip: BAD_IP }), DEFAULTS);
  assert.deepEqual(accepted.decision, { action: 'accept', quarantine: false });
  assert.equal(accepted.results.dmarc.result, 'none');
  assert.match(resinfos(accepted.authenticationResults)[0]!, /^spf=fail /);
  const rejected = await evaluateInbound(input({ from: 'a@nodmarc.example', ip: BAD_IP }), { ...DEFAULTS, spf_fail: 'reject' });
  assert.deepEqual(rejected.decision, {
    action: 'reject',
    code: 550,
    enhanced: '5.7.23',
    text: `SPF of nodmarc.example does not permit ${BAD_IP} to send mail for a@nodmarc.example`,
  });
});

test('a DMARC record settles SPF: p=none with SPF fail is accepted even with spf_fail = "reject"', async () => {
  const verdict = await evaluateInbound(input({ from: 'a@monitor.example', ip: BAD_IP }), { ...DEFAULTS, spf_fail: 'reject' });
  assert.equal(verdict.results.dmarc.result, 'fail');
  assert.equal(verdict.decision.action, 'accept');
  assert.ok(verdict.decision.action === 'accept' && !verdict.decision.quarantine);
});

test('DNS down (SERVFAIL, timeout): 451 4.7.0 for DMARC, or accepted with temperror = "accept"', async () => {
  const verdict = await evaluateInbound(input({ from: 'a@down.example' }), DEFAULTS);
  assert.equal(verdict.results.spf.result, 'temperror');
  assert.equal(verdict.results.dmarc.result, 'temperror');
  assert.deepEqual(verdict.decision, { action: 'tempfail', code: 451, enhanced: '4.7.0', text: 'DMARC policy of down.example could not be retrieved (DNS error); try again later' });
  assert.match(resinfos(verdict.authenticationResults)[0]!, /^spf=temperror /);
  assert.match(resinfos(verdict.authenticationResults)[2]!, /^dmarc=temperror /);
  const accepted = await evaluateInbound(input({ from: 'a@down.example' }), { ...DEFAULTS, temperror: 'accept' });
  assert.equal(accepted.decision.action, 'accept');
});

test('an SPF temperror that decides a DMARC reject: 451 4.7.24, never 550', async () => {
  const verdict = await evaluateInbound(input({ from: 'a@flaky.example', ip: BAD_IP }), DEFAULTS);
  assert.equal(verdict.results.spf.result, 'temperror');
  assert.equal(verdict.results.dmarc.result, 'fail');
  assert.deepEqual(verdict.decision, {
    action: 'tempfail',
    code: 451,
    enhanced: '4.7.24',
    text: 'SPF of flaky.example could not be checked (DNS error) and DMARC of flaky.example depends on it; try again later',
  });
  const accepted = await evaluateInbound(input({ from: 'a@flaky.example', ip: BAD_IP }), { ...DEFAULTS, temperror: 'accept' });
  assert.ok(accepted.decision.action === 'accept' && accepted.decision.quarantine, 'accepted but marked');
});

test('an SPF temperror without a DMARC record: 451 4.7.24 only when SPF decides (spf_fail = "reject")', async () => {
  const zone: FakeZone = { 'plain.example': { fail: { TXT: 'ETIMEOUT' } } };
  const base = { from: 'a@plain.example', resolver: fakeResolver(zone) };
  const accepted = await evaluateInbound(input(base), DEFAULTS);
  assert.deepEqual(accepted.decision, { action: 'accept', quarantine: false });
  const deferred = await evaluateInbound(input({ ...base, resolver: fakeResolver(zone) }), { ...DEFAULTS, spf_fail: 'reject' });
  assert.ok(deferred.decision.action === 'tempfail' && deferred.decision.code === 451 && deferred.decision.enhanced === '4.7.24');
});

test('a DKIM key lookup failure that decides a DMARC reject: 451 4.7.5', async () => {
  const zone: FakeZone = {
    ...ZONE,
    'brisbane._domainkey.football.example.com': { fail: 'ESERVFAIL' },
    'test._domainkey.football.example.com': { fail: 'ESERVFAIL' },
  };
  const verdict = await evaluateInbound(
    input({ message: Buffer.from(RFC8463_SIGNED_MESSAGE), ip: BAD_IP, mailFrom: 'joe@football.example.com', resolver: fakeResolver(zone) }),
    DEFAULTS,
  );
  assert.deepEqual(verdict.results.dkim.map((s) => s.result), ['temperror', 'temperror']);
  assert.ok(verdict.decision.action === 'tempfail' && verdict.decision.code === 451 && verdict.decision.enhanced === '4.7.5');
});

test('the RFC 8463 message: both signatures pass and align, so DMARC passes although SPF fails', async () => {
  const verdict = await evaluateInbound(input({ message: Buffer.from(RFC8463_SIGNED_MESSAGE), ip: BAD_IP, mailFrom: 'joe@football.example.com' }), DEFAULTS);
  assert.deepEqual(verdict.decision, { action: 'accept', quarantine: false });
  assert.deepEqual(
    verdict.results.dkim.map((s) => [s.result, s.algorithm, s.aligned]),
    [
      ['pass', 'ed25519-sha256', true],
      ['pass', 'rsa-sha256', true],
    ],
  );
  const infos = resinfos(verdict.authenticationResults);
  assert.match(infos[0]!, /^spf=fail /);
  assert.equal(infos[1], 'dkim=pass header.d=football.example.com header.s=brisbane header.a=ed25519-sha256 header.b="/gCrinpc"');
  assert.equal(infos[2], 'dkim=pass header.d=football.example.com header.s=test header.a=rsa-sha256 header.b=F45dVWDf');
  assert.match(infos[3]!, /^dmarc=pass .*header\.from=football\.example\.com policy\.dmarc=reject$/);
});

test('a temperror that cannot change the outcome does not delay mail', async () => {
  // DKIM passes aligned, so the failed SPF lookup does not matter to DMARC.
  const zone: FakeZone = { ...ZONE, 'football.example.com': { fail: { TXT: 'ESERVFAIL' } } };
  const verdict = await evaluateInbound(
    input({ message: Buffer.from(RFC8463_SIGNED_MESSAGE), mailFrom: 'joe@football.example.com', resolver: fakeResolver(zone) }),
    { ...DEFAULTS, spf_fail: 'reject' },
  );
  assert.equal(verdict.results.spf.result, 'temperror');
  assert.equal(verdict.results.dmarc.result, 'pass');
  assert.deepEqual(verdict.decision, { action: 'accept', quarantine: false });
});

test('an IPv4-mapped client address is the IPv4 client', async () => {
  const verdict = await evaluateInbound(input({ ip: `::ffff:${GOOD_IP}` }), DEFAULTS);
  assert.equal(verdict.results.spf.result, 'pass');
  assert.match(verdict.authenticationResults, new RegExp(`arc=none smtp\\.remote-ip=${GOOD_IP.replace(/\./g, '\\.')};`));
});

test('a second author domain in From does not switch off p=reject (RFC 7489 §6.6.1)', async () => {
  for (const from of ['a@reject.example, b@attacker.example', 'b@attacker.example, a@reject.example']) {
    const verdict = await evaluateInbound(input({ from, ip: BAD_IP, mailFrom: 'b@attacker.example' }), DEFAULTS);
    assert.ok(verdict.decision.action === 'reject' && verdict.decision.text.startsWith('DMARC policy of reject.example rejects'), from);
    assert.deepEqual(verdict.results.dmarcByAuthorDomain.map((d) => [d.domain, d.result]).sort(), [
      ['attacker.example', 'none'],
      ['reject.example', 'fail'],
    ]);
  }
  // Two From fields, the same defence.
  const twoFields = await evaluateInbound(
    input({ message: message('b@attacker.example', 'From: a@reject.example\r\n'), ip: BAD_IP, mailFrom: 'b@attacker.example' }),
    DEFAULTS,
  );
  assert.equal(twoFields.decision.action, 'reject');
});

test('the null sender is checked by its HELO (RFC 7208 §2.4) and reported as smtp.helo', async () => {
  const verdict = await evaluateInbound(input({ mailFrom: '', from: 'a@reject.example' }), DEFAULTS);
  assert.equal(verdict.results.spf.identity, 'helo');
  assert.equal(verdict.results.spf.result, 'pass');
  assert.match(resinfos(verdict.authenticationResults)[0]!, /^spf=pass .*smtp\.helo=mail\.reject\.example$/);
  // HELO domain mail.reject.example aligns (relaxed) with reject.example
  assert.equal(verdict.results.dmarc.result, 'pass');
});

test('sender_id off: no Sender ID check and no sender-id result', async () => {
  const verdict = await evaluateInbound(input({}), { ...DEFAULTS, sender_id: false });
  assert.equal(verdict.results.senderId, undefined);
  assert.ok(!verdict.authenticationResults.includes('sender-id='));
});

test('checks that do not finish in time: 451 4.7.0, everything temperror', async () => {
  // Each answer takes longer than the whole evaluation may (and fails in the end, so the
  // abandoned checks finish soon after the test).
  const slow: MailauthResolver = (name, type) => new Promise((_, reject) => setTimeout(() => reject(dnsError('ETIMEOUT', name, type)), 200));
  const verdict = await evaluateInbound(input({ resolver: slow }), DEFAULTS, { timeoutMs: 50 });
  assert.deepEqual(verdict.decision, { action: 'tempfail', code: 451, enhanced: '4.7.0', text: 'sender authentication not finished in 0 s; try again later' });
  assert.match(verdict.authenticationResults, /spf=temperror/);
  const accepted = await evaluateInbound(input({ resolver: slow }), { ...DEFAULTS, temperror: 'accept' }, { timeoutMs: 50 });
  assert.equal(accepted.decision.action, 'accept');
});

test('each DNS question is asked once per message, and key lookups are bounded', async () => {
  const resolver = fakeResolver(ZONE);
  await evaluateInbound(input({ resolver }), DEFAULTS);
  assert.equal(resolver.queries.filter((q) => q === 'TXT reject.example').length, 1, 'SPF and Sender ID share the lookup');

  // 30 well-formed signatures of the author domain, each with its own selector: 5 keys
  // are looked up (none exists), the other 25 are refused. The refusals are temperror
  // but not DNS failures, so they do not turn the DMARC reject into a 451.
  const bodyHash = createHash('sha256').update('Hi.\r\n').digest('base64');
  const signatures = Array.from(
    { length: 30 },
    (_, i) => `DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=reject.example; s=s${i}; h=from; bh=${bodyHash}; b=AAAA\r\n`,
  ).join('');
  const many = fakeResolver(ZONE);
  const verdict = await evaluateInbound(input({ message: message('a@reject.example', signatures), ip: BAD_IP, resolver: many }), DEFAULTS, { maxKeyLookups: 5 });
  assert.equal(many.queries.filter((q) => q.includes('._domainkey.')).length, 5);
  assert.equal(verdict.results.dkim.length, 30);
  assert.equal(verdict.results.dkim.filter((s) => s.result === 'temperror').length, 25);
  assert.equal(verdict.decision.action, 'reject');
});

test('sender-supplied text cannot break the field or the reply', async () => {
  const from = '"x; dmarc=pass (\\"y\\")" <evil@reject.example>';
  const verdict = await evaluateInbound(input({ from, ip: BAD_IP, mailFrom: 'evil@reject.example' }), DEFAULTS);
  assert.equal(verdict.decision.action, 'reject');
  assert.ok(!/[\r\n]/.test(verdict.decision.action === 'reject' ? verdict.decision.text : ''));
  // Exactly five resinfos: nothing the sender wrote became a result of its own.
  const unfolded = verdict.authenticationResults.replace(/\r\n\t/g, ' ');
  assert.equal(unfolded.match(/;/g)?.length, 5);
  assert.equal(unfolded.match(/(^|\s)dmarc=/g)?.length, 1);
});
