// The RCPT stage against a real (temporary) store: routing tricks, local users,
// aliases, subaddresses, relay.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../src/store/store.ts';
import { checkRecipient } from '../../src/mta/rcpt.ts';
import { parsePathArgument } from '../../src/smtp/path.ts';
import { networkList } from '../../src/policy/access/networks.ts';

let dir: string;
let store: Store;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kakitome-rcpt-'));
  store = openStore(join(dir, 'data'), { create: true });
  await store.accounts.addDomain('example.test', []);
  await store.accounts.addUser('alice@example.test', 'example.test', 'x');
  await store.accounts.addUser('bob@example.test', 'example.test', 'x');
  await store.accounts.addAlias('team@example.test', 'example.test', [
    { address: 'alice@example.test', domain: 'example.test' },
    { address: 'bob@example.test', domain: 'example.test' },
    { address: 'partner@remote.example', domain: 'remote.example' },
  ]);
  await store.accounts.addAlias('all@example.test', 'example.test', [
    { address: 'team@example.test', domain: 'example.test' },
    { address: 'alice@example.test', domain: 'example.test' },
  ]);
  await store.accounts.addAlias('postmaster@example.test', 'example.test', [{ address: 'alice@example.test', domain: 'example.test' }]);
});
after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function rcpt(arg: string, remoteAddress = '127.0.0.1', trusted: string[] = []) {
  const parsed = parsePathArgument(`TO:${arg}`, 'TO');
  assert.ok(parsed.ok, `parses: ${arg}`);
  return checkRecipient(parsed.path, parsed.postmaster, parsed.params, {
    accounts: store.accounts,
    mayRelay: networkList(trusted).includes(remoteAddress),
  });
}

const code = (v: Awaited<ReturnType<typeof rcpt>>) => (v.action === 'accept' ? 250 : `${v.reply.code} ${v.reply.enhanced}`);

test('local users, case-insensitively, and subaddresses', async () => {
  const v = await rcpt('<Alice@EXAMPLE.test>');
  assert.ok(v.action === 'accept' && v.value.kind === 'local');
  assert.equal(code(await rcpt('<alice+lists@example.test>')), 250);
  assert.equal(code(await rcpt('<"alice"@example.test>')), 250);
  assert.equal(code(await rcpt('<carol@example.test>')), '550 5.1.1');
  assert.equal(code(await rcpt('<carol+x@example.test>')), '550 5.1.1');
});

test('aliases expand to each user once, remote targets kept for the queue', async () => {
  const v = await rcpt('<all@example.test>');
  assert.ok(v.action === 'accept' && v.value.kind === 'local');
  assert.equal(v.value.local.userIds.length, 2);
  assert.deepEqual(v.value.local.remote, ['partner@remote.example']);
});

test('RCPT TO:<Postmaster> reaches the postmaster alias', async () => {
  const v = await rcpt('<Postmaster>');
  assert.ok(v.action === 'accept' && v.value.kind === 'local');
});

test('routing tricks are refused outright, even toward local users', async () => {
  for (const trick of [
    '<alice%remote.example@example.test>',
    '<remote.example!alice@example.test>',
    '<@example.test:alice@example.test>',
    '<@example.test:user@remote.example>',
    '<"user@remote.example"@example.test>',
    '<"user%remote.example"@example.test>',
    '<"remote!user"@example.test>',
    '<alice@[127.0.0.1]>',
    '<alice@[IPv6:::1]>',
  ]) {
    assert.equal(code(await rcpt(trick)), '554 5.7.1', trick);
  }
});

test('other domains: relay only for trusted networks; loopback is not trusted by default', async () => {
  assert.equal(code(await rcpt('<user@remote.example>')), '554 5.7.1');
  assert.equal(code(await rcpt('<user@remote.example>', '127.0.0.1', ['10.0.0.0/8'])), '554 5.7.1');
  const trusted = await rcpt('<user@remote.example>', '::ffff:127.0.0.1', ['127.0.0.1/32']);
  assert.ok(trusted.action === 'accept' && trusted.value.kind === 'remote');
});

test('DSN parameters are not accepted on port 25 (not advertised)', async () => {
  const parsed = parsePathArgument('TO:<alice@example.test> NOTIFY=NEVER', 'TO');
  assert.ok(parsed.ok);
  const v = await checkRecipient(parsed.path, false, parsed.params, { accounts: store.accounts, mayRelay: false });
  assert.equal(code(v), '555 5.5.4');
});
