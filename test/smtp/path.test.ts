import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isHeloArgument, parsePathArgument } from '../../src/smtp/path.ts';

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
  const double = parsePathArgument('TO:<user@remote.example@local.example>', 'TO');
  assert.ok(double.ok);
  assert.equal(double.ok && double.path?.local, 'user@remote.example');
  const percent = parsePathArgument('TO:<user%remote.example@local.example>', 'TO');
  assert.equal(percent.ok && percent.path?.local, 'user%remote.example');
});

test('bad syntax and bad parameters', () => {
  for (const bad of ['TO:user@example.com', 'TO:<user@example.com', 'TO:<user>', 'TO:<@example.com>', 'TO:<a..b@example.com>', 'TO:<a@-x.example>', 'TO:  <a@b.example>', `TO:<${'a'.repeat(65)}@b.example>`]) {
    const r = parsePathArgument(bad, 'TO');
    assert.equal(r.ok, false, bad);
  }
  const dup = parsePathArgument('FROM:<a@b.example> SIZE=1 SIZE=2', 'FROM');
  assert.deepEqual(dup, { ok: false, problem: 'parameter' });
  assert.deepEqual(parsePathArgument('FROM:<a@b.example> =x', 'FROM'), { ok: false, problem: 'parameter' });
});

test('UTF-8 addresses (RFC 6531) get A-label domains', () => {
  const r = parsePathArgument('TO:<jörg@bücher.example>', 'TO');
  assert.ok(r.ok);
  assert.equal(r.path?.domain, 'xn--bcher-kva.example');
  assert.equal(r.path?.local, 'jörg');
});

test('EHLO arguments', () => {
  assert.ok(isHeloArgument('client.example'));
  assert.ok(isHeloArgument('[192.0.2.1]'));
  assert.ok(isHeloArgument('[IPv6:2001:db8::1]'));
  assert.ok(!isHeloArgument(''));
  assert.ok(!isHeloArgument('bad host'));
  assert.ok(!isHeloArgument('a_b.example'));
  assert.ok(!isHeloArgument('<script>'));
});
