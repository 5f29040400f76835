// `kakitome dkim list|rotate|remove` and `kakitome dns` through the real command line;
// signatures made with the store's keys verify against what `kakitome dns` prints.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runKakitome, type CliResult } from '../harness/instance.ts';
import { makeTempDir, removeDir } from '../harness/processes.ts';
import { openStore } from '../../src/store/store.ts';
import { signMessage } from '../../src/policy/dkim/sign.ts';
import { parseZoneTxt, signatureTags, verifyWithDkimpy, verifyWithMailauth } from '../policy/dkim/helpers.ts';

const DOMAIN = 'example.test';
let dir: string;
let config: string;
const kakitome = (args: string[]): Promise<CliResult> => runKakitome([...args, '--config', config]);

function assertOneLineError(r: CliResult, pattern: RegExp): void {
  assert.notEqual(r.code, 0, `expected failure, got: ${r.stdout}`);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(r.stderr.startsWith('kakitome: '), r.stderr);
}

interface ListedKey {
  selector: string;
  algorithm: string;
  created: string;
  state: string;
}

async function listKeys(): Promise<ListedKey[]> {
  const r = await kakitome(['dkim', 'list', DOMAIN]);
  assert.equal(r.code, 0, r.stderr);
  const [header, ...rows] = r.stdout.trimEnd().split('\n');
  assert.match(header!, /^SELECTOR\s+ALGORITHM\s+CREATED\s+STATE$/);
  return rows.map((row) => {
    const [selector, algorithm, created, ...state] = row.split(/\s+/);
    return { selector: selector!, algorithm: algorithm!, created: created!, state: state.join(' ') };
  });
}

async function signWithStoredKeys(message: Buffer): Promise<string> {
  const store = openStore(join(dir, 'data'));
  try {
    return await signMessage(message, DOMAIN, await store.keys.activeDkimKeys(DOMAIN));
  } finally {
    await store.close();
  }
}

const MESSAGE = Buffer.from(
  ['From: Alice <alice@example.test>', 'To: bob@example.net', 'Subject: after the rotation', 'Date: Sun, 1 Mar 2026 12:00:00 +0000', '', 'hello', ''].join('\r\n'),
);

before(async () => {
  dir = join(await makeTempDir('kakitome-dkim-cli'), 'inst');
  const r = await runKakitome(['init', '--dir', dir, '--domain', DOMAIN]);
  assert.equal(r.code, 0, r.stderr);
  config = join(dir, 'kakitome.toml');
});
after(() => removeDir(join(dir, '..')));

test('init leaves one active RSA and one active Ed25519 key', async () => {
  const keys = await listKeys();
  assert.deepEqual(keys.map((k) => [k.algorithm, k.state]).sort(), [['ed25519-sha256', 'active'], ['rsa-sha256', 'active']]);
  for (const k of keys) assert.match(k.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
});

test('rotate: new keys sign, old ones retired but still published; remove only retired keys', async () => {
  const initial = await listKeys();

  const rotate = await kakitome(['dkim', 'rotate', DOMAIN]);
  assert.equal(rotate.code, 0, rotate.stderr);
  const keys = await listKeys();
  const active = keys.filter((k) => k.state === 'active');
  const retired = keys.filter((k) => k.state.startsWith('retired '));
  assert.equal(active.length, 2);
  assert.equal(retired.length, 2);
  assert.deepEqual(retired.map((k) => k.selector).sort(), initial.map((k) => k.selector).sort());
  assert.deepEqual(active.map((k) => k.algorithm).sort(), ['ed25519-sha256', 'rsa-sha256']);
  for (const k of active) assert.ok(!initial.some((i) => i.selector === k.selector), 'a new selector');
  // rotate prints the new records to publish (in zone-file syntax), not the retired ones.
  const printed = parseZoneTxt(rotate.stdout);
  assert.deepEqual([...printed.keys()].sort(), active.map((k) => `${k.selector}._domainkey.${DOMAIN}`).sort());

  // dns publishes all four keys, SPF and DMARC.
  const dns = await kakitome(['dns', DOMAIN]);
  assert.equal(dns.code, 0, dns.stderr);
  const zone = parseZoneTxt(dns.stdout);
  for (const k of keys) assert.ok(zone.has(`${k.selector}._domainkey.${DOMAIN}`), `${k.selector} published`);
  assert.match(dns.stdout, /retired: keep until mail signed with it has been delivered/);
  assert.deepEqual(zone.get(DOMAIN), ['v=spf1 mx -all']);
  assert.match(zone.get(`_dmarc.${DOMAIN}`)!.join(''), /^v=DMARC1; p=reject; rua=mailto:\S+@example\.test$/);

  // Signing uses only the new keys, and verifies against the printed records.
  const fields = await signWithStoredKeys(MESSAGE);
  assert.deepEqual(signatureTags(fields).map((t) => t.s).sort(), active.map((k) => k.selector).sort());
  const signed = Buffer.concat([Buffer.from(fields), MESSAGE]);
  const verified = await verifyWithMailauth(signed, zone);
  assert.deepEqual(verified.results.map((r) => r.result), ['pass', 'pass']);
  assert.deepEqual((await verifyWithDkimpy(signed, zone)).map((r) => r.ok), [true, true]);

  // An active key cannot be removed; a retired one can, and leaves dns.
  assertOneLineError(await kakitome(['dkim', 'remove', DOMAIN, active[0]!.selector]), /is active.*rotate/);
  const removed = retired[0]!.selector;
  const remove = await kakitome(['dkim', 'remove', DOMAIN, removed]);
  assert.equal(remove.code, 0, remove.stderr);
  assert.match(remove.stdout, new RegExp(`^removed DKIM key ${removed} of ${DOMAIN}`, 'm'));
  assert.match(remove.stdout, /^note: retired only/m, 'warns that queued mail may still carry its signature');
  assert.deepEqual((await listKeys()).map((k) => k.selector).sort(), keys.map((k) => k.selector).filter((s) => s !== removed).sort());
  assert.ok(!parseZoneTxt((await kakitome(['dns', DOMAIN])).stdout).has(`${removed}._domainkey.${DOMAIN}`));
  assertOneLineError(await kakitome(['dkim', 'remove', DOMAIN, removed]), /no DKIM key with selector/);
});

test('rotating twice on one day gives distinct selectors; only the newest pair signs', async () => {
  const before = await listKeys();
  const r = await kakitome(['dkim', 'rotate', DOMAIN]);
  assert.equal(r.code, 0, r.stderr);
  const keys = await listKeys();
  const active = keys.filter((k) => k.state === 'active');
  assert.equal(active.length, 2);
  assert.equal(new Set(keys.map((k) => k.selector)).size, keys.length);
  assert.equal(keys.length, before.length + 2);
  const fields = await signWithStoredKeys(MESSAGE);
  assert.deepEqual(signatureTags(fields).map((t) => t.s).sort(), active.map((k) => k.selector).sort());
});

test('unknown domains and selectors are one-line errors', async () => {
  assertOneLineError(await kakitome(['dkim', 'list', 'elsewhere.test']), /elsewhere\.test is not a local domain/);
  assertOneLineError(await kakitome(['dkim', 'rotate', 'elsewhere.test']), /elsewhere\.test is not a local domain/);
  assertOneLineError(await kakitome(['dkim', 'remove', 'elsewhere.test', 'k20260101r']), /elsewhere\.test is not a local domain/);
  assertOneLineError(await kakitome(['dkim', 'remove', DOMAIN, 'nosuch']), /no DKIM key with selector "nosuch" for example\.test/);
  assertOneLineError(await kakitome(['dkim', 'list', 'not a domain']), /invalid domain/);
});
