// Unit tests of the MSA's sender and header rules, on a real temporary store.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../src/store/store.ts';
import { isOwned, ownedAddresses } from '../../src/msa/senders.ts';
import { checkSubmittedHeader } from '../../src/intake/steps/submission-header.ts';
import { SendRateLimiter } from '../../src/msa/rate-limit.ts';

let dir: string;
let store: Store;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kakitome-msa-'));
  store = openStore(join(dir, 'data'), { create: true });
  await store.accounts.addDomain('example.test', []);
  await store.accounts.addUser('alice@example.test', 'example.test', 'x');
  await store.accounts.addUser('bob@example.test', 'example.test', 'x');
  const local = (address: string) => ({ address, domain: 'example.test' });
  await store.accounts.addAlias('sales@example.test', 'example.test', [local('alice@example.test'), local('bob@example.test')]);
  await store.accounts.addAlias('info@example.test', 'example.test', [local('sales@example.test')]);
  await store.accounts.addAlias('bobby@example.test', 'example.test', [local('bob@example.test')]);
});
after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test("a user owns their address, aliases reaching them (through aliases too), and +tags of those", async () => {
  const owned = await ownedAddresses(store.accounts, (await store.accounts.getUser('alice@example.test'))!);
  assert.deepEqual([...owned].sort(), ['alice@example.test', 'info@example.test', 'sales@example.test']);
  assert.ok(isOwned(owned, 'Alice@Example.TEST'));
  assert.ok(isOwned(owned, 'alice+lists@example.test'));
  assert.ok(isOwned(owned, 'info@example.test'));
  assert.ok(!isOwned(owned, 'bob@example.test'));
  assert.ok(!isOwned(owned, 'bobby@example.test'));
  assert.ok(!isOwned(owned, 'alice@example.test.evil.example'));
  assert.ok(!isOwned(owned, 'not an address'));
});

const owned = new Set(['alice@example.test']);
const received = '';

/** The step's verdict as the message it leaves: accepted or refused, the fields added, the bytes. */
function submitted(message: Buffer, now?: Date) {
  const verdict = checkSubmittedHeader(message, owned, 'mail.example.test', now);
  if (verdict.action === 'reject' || verdict.action === 'tempfail') return { action: verdict.action, reply: verdict.reply } as const;
  const prepend = verdict.action === 'modify' ? (verdict.prepend ?? '') : '';
  const added = verdict.action === 'modify' ? ((verdict.notes?.added as string[] | undefined) ?? []) : [];
  return { action: 'accept', value: { added, message: Buffer.concat([Buffer.from(prepend), message]) } } as const;
}

test('header From must be owned; a missing From is refused', () => {
  const ok = submitted(Buffer.from(`${received}From: Alice <alice@example.test>\r\nDate: x\r\nMessage-ID: <a@b>\r\n\r\nhi\r\n`));
  assert.equal(ok.action, 'accept');
  assert.ok(ok.action === 'accept' && ok.value.added.length === 0);
  const spoof = submitted(Buffer.from(`${received}From: "Alice" <ceo@example.test>\r\n\r\nhi\r\n`));
  assert.ok(spoof.action !== 'accept' && spoof.reply.code === 550 && spoof.reply.enhanced === '5.7.1');
  const two = submitted(Buffer.from(`${received}From: alice@example.test, ceo@example.test\r\n\r\nhi\r\n`));
  assert.ok(two.action !== 'accept');
  const none = submitted(Buffer.from(`${received}Subject: x\r\n\r\nhi\r\n`));
  assert.ok(none.action !== 'accept' && none.reply.enhanced === '5.6.0');
  const folded = submitted(Buffer.from(`${received}From: Alice\r\n <alice@example.test>\r\nDate: x\r\nMessage-ID: <a@b>\r\n\r\n`));
  assert.equal(folded.action, 'accept');
});

test('Date and Message-ID are added on top of the header when missing (RFC 6409 §8)', () => {
  const result = submitted(Buffer.from(`${received}From: alice@example.test\r\nSubject: s\r\n\r\nbody\r\n`), new Date(Date.UTC(2026, 10, 23, 1, 2, 3)));
  assert.ok(result.action === 'accept');
  assert.deepEqual(result.value.added, ['Date', 'Message-ID']);
  const text = result.value.message.toString();
  assert.ok(text.startsWith(received + 'Date: Mon, 23 Nov 2026 01:02:03 +0000\r\nMessage-ID: <'));
  assert.match(text, /^Message-ID: <[0-9a-f]{24}\.\d+@mail\.example\.test>\r\nFrom: alice@example\.test\r\n/m);
  assert.ok(text.endsWith('\r\n\r\nbody\r\n'));
});

test('fields only this host writes are removed: X-Kakitome-Quarantine, Authentication-Results naming us', () => {
  const fields = [
    'From: alice@example.test\r\n',
    'X-Kakitome-Quarantine: forged by the user\r\n',
    'Date: x\r\nMessage-ID: <a@b>\r\n',
    'Authentication-Results: mail.example.test; dkim=pass header.d=bank.example\r\n',
    'Authentication-Results: other.example; spf=pass\r\n',
    'x-kakitome-quarantine: folded\r\n\tover two lines\r\n',
  ];
  const header = Buffer.from(`${fields.join('')}\r\n`);
  const verdict = checkSubmittedHeader(header, owned, 'mail.example.test');
  assert.equal(verdict.action, 'modify');
  const edits = verdict.action === 'modify' ? [...(verdict.edits ?? [])].sort((a, b) => b.start - a.start) : [];
  let text = header;
  for (const { start, end } of edits) text = Buffer.concat([text.subarray(0, start), text.subarray(end)]);
  assert.equal(text.toString(), `${fields[0]}${fields[2]}${fields[4]}\r\n`);
});

test('the hourly send limit', () => {
  let now = 0;
  const limiter = new SendRateLimiter(2, () => now);
  assert.ok(limiter.allows(1));
  limiter.record(1);
  limiter.record(1);
  assert.ok(!limiter.allows(1));
  assert.ok(limiter.allows(2), 'per user');
  now += 3_600_001;
  assert.ok(limiter.allows(1), 'a sliding hour');
  assert.ok(new SendRateLimiter(0).allows(1), '0 = no limit');
});
