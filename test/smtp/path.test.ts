import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isHeloArgument, lacksSmtpUtf8, parsePathArgument } from '../../src/smtp/path.ts';

test('plain paths, the null reverse-path and postmaster', () => {
  const from = parsePathArgument('FROM:<Alice@Example.COM> SIZE=1000 BODY=8BITMIME', 'FROM');
  assert.ok(from.ok);
  assert.equal(from.path?.address, 'Alice@example.com');
  assert.deepEqual([...from.params], [['SIZE', '1000'], ['BODY', '8BITMIME']]);
  const bounce = parsePathArgument('FROM:<>', 'FROM');
  assert.ok(bounce.ok && bounce.path === null);
  assert.equal(parsePathArgument('TO:<>', 'TO').ok, false);
  const pm = parsePathArgument('TO:<Postmaster>', 'TO');
  assert.ok(pm.ok && pm.postmaster);
  assert.ok(parsePathArgument('from: <a@b.example>', 'FROM').ok, 'one space after the colon is tolerated');
});

test('routing syntaxes are parsed and flagged, not silently rewritten', () => {
  const routed = parsePathArgument('TO:<@relay.example,@other.example:user@remote.example>', 'TO');
  assert.ok(routed.ok && routed.path?.sourceRoute);
  assert.equal(routed.ok && routed.path?.domain, 'remote.example');
  const literal = parsePathArgument('TO:<user@[192.0.2.1]>', 'TO');
  assert.ok(literal.ok && literal.path?.domainLiteral);
  const quoted = parsePathArgument('TO:<"user@remote.example"@local.example>', 'TO');
  assert.ok(quoted.ok && quoted.path?.quoted);
  assert.equal(quoted.ok && quoted.path?.local, 'user@remote.example');
  const percent = parsePathArgument('TO:<user%remote.example@local.example>', 'TO');
  assert.equal(percent.ok && percent.path?.local, 'user%remote.example');
});

test('bad syntax and bad parameters', () => {
  for (const bad of ['TO:user@example.com', 'TO:<user@example.com', 'TO:<user>', 'TO:<@example.com>', 'TO:<a..b@example.com>', 'TO:<a@-x.example>', 'TO:  <a@b.example>', `TO:<${'a'.repeat(65)}@b.example>`]) {
    const r = parsePathArgument(bad, 'TO');
    assert.deepEqual(r, { ok: false, problem: 'mailbox' }, bad);
  }
  for (const bad of ['TO <a@b.example>', 'FROM:<a@b.example>', 'TO:<a@b.example>SIZE=1', '']) {
    assert.deepEqual(parsePathArgument(bad, 'TO'), { ok: false, problem: 'syntax' }, bad);
  }
  const dup = parsePathArgument('FROM:<a@b.example> SIZE=1 SIZE=2', 'FROM');
  assert.deepEqual(dup, { ok: false, problem: 'parameter' });
  assert.deepEqual(parsePathArgument('FROM:<a@b.example> =x', 'FROM'), { ok: false, problem: 'parameter' });
});

test('UTF-8 addresses (RFC 6531) get A-label domains and are marked as needing SMTPUTF8', () => {
  const r = parsePathArgument('TO:<jörg@bücher.example>', 'TO');
  assert.ok(r.ok);
  assert.equal(r.path?.domain, 'xn--bcher-kva.example');
  assert.equal(r.path?.local, 'jörg');
  assert.equal(r.path?.utf8, true);
  // RFC 6531 §3.4: only MAIL's SMTPUTF8 parameter allows non-ASCII anywhere in the path.
  const without = new Map();
  const withIt = new Map([['SMTPUTF8', true as const]]);
  assert.equal(lacksSmtpUtf8(r.path, without), true);
  assert.equal(lacksSmtpUtf8(r.path, withIt), false);
  for (const arg of ['FROM:<jürgen@remote.example>', 'FROM:<user@bücher.example>', 'FROM:<"jö rg"@remote.example>', 'FROM:<@bücher.example:user@remote.example>']) {
    const p = parsePathArgument(arg, 'FROM');
    assert.ok(p.ok, arg);
    assert.equal(lacksSmtpUtf8(p.path, without), true, arg);
  }
  const ascii = parsePathArgument('FROM:<user@xn--bcher-kva.example>', 'FROM');
  assert.ok(ascii.ok && ascii.path && !ascii.path.utf8, 'A-labels are ASCII');
  assert.equal(lacksSmtpUtf8(null, without), false, 'the null reverse-path');
});

// RFC 5321 §4.1.2: Mailbox = Local-part "@" ( Domain / address-literal ), Local-part =
// Dot-string / Quoted-string. Examples from RFC 5321 (§4.1.1.3, Appendix D) and RFC 3696
// §3 (with its erratum 246: a backslash quotes only inside a Quoted-string).
test('RFC 5321 §4.1.2 mailboxes: the valid forms', () => {
  const valid: [string, { local: string; domain: string; quoted?: boolean; sourceRoute?: boolean; domainLiteral?: boolean }][] = [
    ['<Smith@bar.com>', { local: 'Smith', domain: 'bar.com' }],
    ['<@hosta.int,@jkl.org:userc@d.bar.org>', { local: 'userc', domain: 'd.bar.org', sourceRoute: true }],
    ['<"Abc@def"@example.com>', { local: 'Abc@def', domain: 'example.com', quoted: true }],
    ['<"Fred Bloggs"@example.com>', { local: 'Fred Bloggs', domain: 'example.com', quoted: true }],
    ['<"Joe\\\\Blow"@example.com>', { local: 'Joe\\Blow', domain: 'example.com', quoted: true }],
    ['<"Abc\\@def"@example.com>', { local: 'Abc@def', domain: 'example.com', quoted: true }],
    ['<"a>b<c"@example.com>', { local: 'a>b<c', domain: 'example.com', quoted: true }],
    ['<customer/department=shipping@example.com>', { local: 'customer/department=shipping', domain: 'example.com' }],
    ['<$A12345@example.com>', { local: '$A12345', domain: 'example.com' }],
    ['<!def!xyz%abc@example.com>', { local: '!def!xyz%abc', domain: 'example.com' }],
    ['<_somename@example.com>', { local: '_somename', domain: 'example.com' }],
    ['<user@[123.255.37.2]>', { local: 'user', domain: '123.255.37.2', domainLiteral: true }],
    ['<user@[IPv6:2001:db8::1]>', { local: 'user', domain: 'IPv6:2001:db8::1', domainLiteral: true }],
    ['<user@[IPv6:::ffff:192.0.2.1]>', { local: 'user', domain: 'IPv6:::ffff:192.0.2.1', domainLiteral: true }],
  ];
  for (const [path, expected] of valid) {
    const r = parsePathArgument(`TO:${path}`, 'TO');
    assert.ok(r.ok && r.path, `${path} is a valid path`);
    assert.equal(r.path.local, expected.local, path);
    assert.equal(r.path.domain, expected.domain, path);
    assert.equal(r.path.quoted, expected.quoted ?? false, path);
    assert.equal(r.path.sourceRoute, expected.sourceRoute ?? false, path);
    assert.equal(r.path.domainLiteral, expected.domainLiteral ?? false, path);
  }
});

test('RFC 5321 §4.1.2 mailboxes: one "@" outside quotes, and nothing else is a mailbox', () => {
  const invalid = [
    // the outside tester's paths: a second "@" outside quotes makes the domain invalid
    '<a@sender.test@example.test>',
    '<a@b@[127.0.0.1]>',
    '<user@remote.example@local.example>',
    '<a@@example.com>',
    // RFC 3696 §3's unquoted backslash forms (erratum 246)
    '<Abc\\@def@example.com>',
    '<Fred\\ Bloggs@example.com>',
    '<Joe.\\\\Blow@example.com>',
    // dots, quotes, labels
    '<.a@example.com>', '<a.@example.com>', '<a..b@example.com>',
    '<"unterminated@example.com>', '<"a"b@example.com>', '<a"b"@example.com>', '<"a"@>',
    '<a@example..com>', '<a@example.com.>', '<a@-example.com>', '<a@example-.com>', '<a@exa_mple.com>',
    `<a@${'l'.repeat(64)}.example>`,
    // address literals (RFC 5321 §4.1.3)
    '<a@[256.1.1.1]>', '<a@[1.2.3]>', '<a@[IPv6:1::2::3]>', '<a@[IPv6:fe80::1%eth0]>', '<a@[IPv6:1:2:3:4:5:6:7]>',
    '<a@[IPv6:1:2:3:4:5:6:7:8:9]>', '<a@[IPv6:1.2.3.4::]>', '<a@[]>', '<a@[x]>', '<a@[tag:]>',
    // source routes
    '<@:a@example.com>', '<@a,b:c@example.com>', '<@[1.2.3.4]:a@example.com>',
    // brackets
    '<a<b@example.com>', 'a@example.com', '<a@example.com',
  ];
  for (const path of invalid) {
    assert.deepEqual(parsePathArgument(`FROM:${path}`, 'FROM'), { ok: false, problem: 'mailbox' }, path);
  }
});

test('RFC 5321 §4.5.3.1: local part 64 octets, domain 255, path 256', () => {
  const label = 'l'.repeat(63);
  const domain = `${label}.${label}.${label}.${'l'.repeat(55)}.test`; // 252 octets
  assert.equal(domain.length, 252);
  assert.ok(parsePathArgument(`TO:<${'a'.repeat(64)}@example.com>`, 'TO').ok);
  assert.equal(parsePathArgument(`TO:<"${'a'.repeat(63)}"@example.com>`, 'TO').ok, false, 'the quotes count');
  assert.ok(parsePathArgument(`TO:<a@${domain}>`, 'TO').ok, '256 octets with the brackets');
  assert.equal(parsePathArgument(`TO:<ab@${domain}>`, 'TO').ok, false, '257 octets');
});

test('EHLO arguments', () => {
  assert.ok(isHeloArgument('client.example'));
  assert.ok(isHeloArgument('[192.0.2.1]'));
  assert.ok(isHeloArgument('[IPv6:2001:db8::1]'));
  assert.ok(!isHeloArgument(''));
  assert.ok(!isHeloArgument('bad host'));
  assert.ok(!isHeloArgument('a_b.example'));
  assert.ok(!isHeloArgument('<script>'));
  // RFC 5321 §4.1.3: an address literal is an IPv4 address, "IPv6:" and an IPv6 address, or tag ":" content.
  assert.ok(isHeloArgument('[IPv6:::1]'));
  assert.ok(isHeloArgument('[x-tag:content]'));
  assert.ok(!isHeloArgument('[300.0.0.1]'), 'an octet over 255');
  assert.ok(!isHeloArgument('[192.0.2]'), 'three octets');
  assert.ok(!isHeloArgument('[no-literal]'), 'no address and no tag');
  assert.ok(!isHeloArgument('[IPv6:1:2:3]'), 'too few IPv6 groups');
  assert.ok(!isHeloArgument('[192.0.2.1'), 'unclosed');
});
