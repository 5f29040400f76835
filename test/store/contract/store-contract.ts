// The store contract: what every store backend must do, through the role interfaces
// only (src/store/*.ts). sqlite runs it now (sqlite.test.ts); a PostgreSQL backend
// runs the same suite unchanged. Nothing here knows how a backend keeps its data.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Store } from '../../../src/store/store.ts';
import { AccountError } from '../../../src/store/accounts.ts';
import { UnknownMailboxError } from '../../../src/store/mailboxes.ts';
import type { DeliveryPart, MailboxCopy, QueuedRecipient } from '../../../src/store/deliveries.ts';
import type { DkimKeyPair } from '../../../src/mail/dkim-key.ts';

export interface ContractBackend {
  /** A new, empty store. */
  open(): Promise<Store>;
  /** Message files the backend holds now (to see that unreferenced ones go). */
  fileCount(): Promise<number>;
  /** Removes what open() made. */
  dispose(): Promise<void>;
}

const MESSAGE = (n: number) => Buffer.from(`Subject: contract ${n}\r\nMessage-ID: <${n}@contract.test>\r\n\r\nbody ${n}\r\n`);
const inbox = (userId: number, extra: Partial<MailboxCopy> = {}): MailboxCopy => ({ userId, folder: 'INBOX', flags: [], keywords: [], ...extra });
const queued = (queueId: string, recipient: string, extra: Partial<QueuedRecipient> = {}): QueuedRecipient => ({
  queueId,
  mailFrom: 'alice@contract.test',
  recipient,
  origin: 'msa',
  ...extra,
});
const KEY = (selector: string, algorithm: DkimKeyPair['algorithm'] = 'ed25519-sha256'): DkimKeyPair => ({
  selector,
  algorithm,
  privateKey: `-----BEGIN PRIVATE KEY-----\n${selector}\n-----END PRIVATE KEY-----\n`,
  publicKey: Buffer.from(selector).toString('base64'),
});

/** Writes one file and commits it as one part; resolves with the copies. */
async function deliver(store: Store, content: Buffer, copies: MailboxCopy[], queue: QueuedRecipient[] = []) {
  const file = store.deliveries.newMessageFile();
  const { size } = await store.deliveries.writeMessageFile(file, content);
  const [delivered] = await store.deliveries.commitDelivery([{ file, size, copies, queued: queue }]);
  return delivered!;
}

export function storeContract(name: string, backend: ContractBackend): void {
  describe(`store contract: ${name}`, () => {
    let store: Store;
    let alice: number;
    let bob: number;
    before(async () => {
      store = await backend.open();
      await store.accounts.addDomain('contract.test', [KEY('s1')]);
      alice = (await store.accounts.addUser('alice@contract.test', 'contract.test', 'hash-a')).id;
      bob = (await store.accounts.addUser('bob@contract.test', 'contract.test', 'hash-b')).id;
    });
    after(async () => {
      await store.close();
      await backend.dispose();
    });

    describe('accounts', () => {
      test('domains: added with their keys, counted, refused twice, removed only when empty', async () => {
        assert.equal(await store.accounts.isLocalDomain('contract.test'), true);
        assert.equal(await store.accounts.isLocalDomain('other.test'), false);
        assert.deepEqual((await store.keys.listDkimKeys('contract.test')).map((k) => k.selector), ['s1']);
        await assert.rejects(store.accounts.addDomain('contract.test', []), AccountError);
        await store.accounts.addDomain('empty.test', []);
        const listed = await store.accounts.listDomains();
        assert.deepEqual(listed.map((d) => [d.name, d.users]), [['contract.test', 2], ['empty.test', 0]]);
        await assert.rejects(store.accounts.removeDomain('contract.test'), AccountError);
        await store.accounts.removeDomain('empty.test');
        await assert.rejects(store.accounts.removeDomain('empty.test'), AccountError);
      });

      test('users: looked up by address and id, each with an INBOX, never twice, never in a foreign domain', async () => {
        const user = (await store.accounts.getUser('alice@contract.test'))!;
        assert.equal(user.passwordHash, 'hash-a');
        assert.deepEqual(await store.accounts.getUserById(user.id), user);
        assert.ok((await store.mailboxes.findMailbox(user.id)) !== undefined, 'a new user has an INBOX');
        await assert.rejects(store.accounts.addUser('alice@contract.test', 'contract.test', 'x'), AccountError);
        await assert.rejects(store.accounts.addUser('x@nowhere.test', 'nowhere.test', 'x'), AccountError);
        assert.deepEqual((await store.accounts.listUsers('contract.test')).map((u) => u.address), ['alice@contract.test', 'bob@contract.test']);
        assert.equal(await store.accounts.getUser('nobody@contract.test'), undefined);
      });

      test('password hash and APOP secret change; an unknown user is an error', async () => {
        await store.accounts.setPasswordHash('bob@contract.test', 'hash-b2');
        await store.accounts.setApopSecret('bob@contract.test', 'apop-secret');
        const bobNow = (await store.accounts.getUser('bob@contract.test'))!;
        assert.equal(bobNow.passwordHash, 'hash-b2');
        assert.equal(bobNow.apopSecret, 'apop-secret');
        await store.accounts.setApopSecret('bob@contract.test', null);
        assert.equal((await store.accounts.getUser('bob@contract.test'))!.apopSecret, null);
        await assert.rejects(store.accounts.setPasswordHash('nobody@contract.test', 'x'), AccountError);
      });

      test('aliases: local targets must exist, remote ones forward; never an alias and a user at once', async () => {
        await store.accounts.addAlias('team@contract.test', 'contract.test', [
          { address: 'alice@contract.test', domain: 'contract.test' },
          { address: 'partner@remote.test', domain: 'remote.test' },
        ]);
        assert.deepEqual((await store.accounts.getAlias('team@contract.test'))!.targets, ['alice@contract.test', 'partner@remote.test']);
        assert.deepEqual(await store.accounts.aliasesTargeting('alice@contract.test'), ['team@contract.test']);
        await assert.rejects(
          store.accounts.addAlias('bad@contract.test', 'contract.test', [{ address: 'ghost@contract.test', domain: 'contract.test' }]),
          AccountError,
        );
        await assert.rejects(store.accounts.addAlias('alice@contract.test', 'contract.test', [{ address: 'bob@contract.test', domain: 'contract.test' }]), AccountError);
        await assert.rejects(store.accounts.addUser('team@contract.test', 'contract.test', 'x'), AccountError);
        assert.equal((await store.accounts.listAliases('contract.test')).length, 1);
        await store.accounts.removeAlias('team@contract.test');
        await assert.rejects(store.accounts.removeAlias('team@contract.test'), AccountError);
      });

      test('role aliases (RFC 5321 §4.5.1, RFC 2142): pending until their user exists, never left reaching nobody', async () => {
        const boss = { address: 'boss@roles.test', domain: 'roles.test' };
        await store.accounts.addDomain('roles.test', [], undefined, boss);
        assert.equal(await store.accounts.primaryDomain(), 'contract.test', 'the first domain added');
        assert.deepEqual((await store.accounts.listPendingAliases('roles.test')).map((p) => [p.address, p.awaiting]), [
          ['abuse@roles.test', 'boss@roles.test'],
          ['postmaster@roles.test', 'boss@roles.test'],
        ]);
        assert.equal((await store.accounts.listDomains()).find((d) => d.name === 'roles.test')?.aliases, 2);
        await store.accounts.addUser(boss.address, boss.domain, 'x');
        assert.deepEqual((await store.accounts.getAlias('postmaster@roles.test'))?.targets, [boss.address]);
        assert.equal(await store.accounts.pendingAlias('postmaster@roles.test'), undefined);
        await assert.rejects(store.accounts.removeUser(boss.address), /last recipient of postmaster@roles\.test, abuse@roles\.test/);
        await store.accounts.removeAlias('postmaster@roles.test');
        assert.deepEqual(await store.accounts.pendingAlias('postmaster@roles.test'), { address: 'postmaster@roles.test', domain: 'roles.test', awaiting: null });
        await store.accounts.addAlias('abuse@roles.test', 'roles.test', [{ address: 'desk@remote.test', domain: 'remote.test' }]);
        await store.accounts.removeUser(boss.address);
        assert.deepEqual((await store.accounts.getAlias('abuse@roles.test'))?.targets, ['desk@remote.test']);
        await store.accounts.removeDomain('roles.test');
        assert.deepEqual(await store.accounts.listPendingAliases('roles.test'), []);
        assert.equal(await store.accounts.getAlias('abuse@roles.test'), undefined);
      });
    });

    describe('deliveries and mailboxes', () => {
      test('one file, a copy per mailbox, read back byte for byte, in uid order, with stable UIDLs', async () => {
        const first = await deliver(store, MESSAGE(1), [inbox(alice), inbox(bob)]);
        const second = await deliver(store, MESSAGE(2), [inbox(alice)]);
        assert.equal(first.length, 2);
        const aliceBox = (await store.mailboxes.findMailbox(alice))!;
        const listed = await store.mailboxes.listMessages(aliceBox);
        assert.deepEqual(listed.map((m) => m.id), [first[0]!.id, second[0]!.id]);
        assert.ok(listed[0]!.uid < listed[1]!.uid);
        for (const [i, message] of listed.entries()) {
          assert.match(message.uidl, /^[a-z2-7]{26}$/);
          assert.equal(message.size, MESSAGE(i + 1).length);
          assert.deepEqual(await store.mailboxes.readMessage(message.id), MESSAGE(i + 1));
          assert.deepEqual(await store.mailboxes.readListedMessage(message), MESSAGE(i + 1));
          const chunks: Buffer[] = [];
          for await (const chunk of await store.mailboxes.openMessage(message.id)) chunks.push(chunk as Buffer);
          assert.deepEqual(Buffer.concat(chunks), MESSAGE(i + 1));
          assert.deepEqual(await store.mailboxes.getMessage(message.id), message);
        }
        assert.equal(new Set([...first, ...second].map((c) => c.uidl)).size, 3, 'every copy has its own UIDL');
      });

      test('a folder is made by its first delivery; flags and keywords are kept', async () => {
        assert.equal(await store.mailboxes.findMailbox(bob, 'Junk'), undefined);
        const [copy] = await deliver(store, MESSAGE(3), [inbox(bob, { folder: 'Junk', flags: ['\\Seen', '\\Flagged'], keywords: ['spam'] })]);
        const junk = (await store.mailboxes.findMailbox(bob, 'Junk'))!;
        assert.equal(copy!.mailboxId, junk);
        const [stored] = await store.mailboxes.listMessages(junk);
        assert.equal(stored!.flags, 1 | 4);
        assert.deepEqual(stored!.keywords, ['spam']);
      });

      test('the parts of one delivery are committed together or not at all', async () => {
        const before = await backend.fileCount();
        const aliceBox = (await store.mailboxes.findMailbox(alice))!;
        const count = (await store.mailboxes.listMessages(aliceBox)).length;
        const parts: DeliveryPart[] = [];
        for (const [i, userId] of [alice, 987654].entries()) {
          const file = store.deliveries.newMessageFile();
          const { size } = await store.deliveries.writeMessageFile(file, MESSAGE(10 + i));
          parts.push({ file, size, copies: [inbox(userId)], queued: [] });
        }
        await assert.rejects(store.deliveries.commitDelivery(parts), UnknownMailboxError);
        for (const part of parts) await store.deliveries.abandonMessageFile(part.file);
        assert.equal((await store.mailboxes.listMessages(aliceBox)).length, count, 'no copy of the failed delivery');
        assert.equal(await backend.fileCount(), before, 'no file of the failed delivery');
      });

      test('a delivery needs somewhere to go, and each mailbox once', async () => {
        const file = store.deliveries.newMessageFile();
        const { size } = await store.deliveries.writeMessageFile(file, MESSAGE(20));
        await assert.rejects(store.deliveries.commitDelivery([{ file, size, copies: [], queued: [] }]), RangeError);
        await assert.rejects(store.deliveries.commitDelivery([{ file, size, copies: [inbox(alice), inbox(alice)], queued: [] }]), RangeError);
        await store.deliveries.abandonMessageFile(file);
      });

      test('expunge deletes copies of one mailbox; the file goes with the last reference', async () => {
        const before = await backend.fileCount();
        const [toAlice, toBob] = await deliver(store, MESSAGE(30), [inbox(alice), inbox(bob)]);
        const aliceBox = (await store.mailboxes.findMailbox(alice))!;
        const bobBox = (await store.mailboxes.findMailbox(bob))!;
        await store.mailboxes.expunge(aliceBox, [toAlice!.id, toBob!.id]);
        assert.equal(await store.mailboxes.getMessage(toAlice!.id), undefined);
        assert.ok(await store.mailboxes.getMessage(toBob!.id), 'an id of another mailbox is ignored');
        assert.equal(await backend.fileCount(), before + 1);
        await store.mailboxes.expunge(bobBox, [toBob!.id]);
        assert.equal(await backend.fileCount(), before);
      });

      test('a scratch file reads back by range, and goes when abandoned', async () => {
        const before = await backend.fileCount();
        const file = store.deliveries.newMessageFile();
        await store.deliveries.writeMessageFile(file, Buffer.from('0123456789'));
        const chunks: Buffer[] = [];
        for await (const chunk of store.deliveries.openMessageFile(file, { start: 2, end: 5 })) chunks.push(chunk as Buffer);
        assert.equal(Buffer.concat(chunks).toString(), '234');
        assert.deepEqual(await store.deliveries.collectOrphans({ minAgeMs: 0 }), [], 'a reserved file is never an orphan');
        await store.deliveries.abandonMessageFile(file);
        assert.equal(await backend.fileCount(), before);
      });
    });

    describe('queue', () => {
      test('queued with a delivery, due in order, held until notBefore, rescheduled, retried, removed', async () => {
        const before = await backend.fileCount();
        const now = Date.now();
        await deliver(store, MESSAGE(40), [], [queued('qa', 'x@remote.test'), queued('qa', 'y@remote.test')]);
        await deliver(store, MESSAGE(41), [inbox(alice)], [queued('qb', 'z@remote.test', { origin: 'mta', notBefore: now + 3_600_000 })]);
        const due = await store.queue.due(Date.now() + 1000);
        assert.deepEqual(due.map((r) => [r.queueId, r.recipient]), [['qa', 'x@remote.test'], ['qa', 'y@remote.test']]);
        assert.equal((await store.queue.byQueueId('qb'))[0]!.origin, 'mta');
        assert.ok((await store.queue.nextDueAt())! <= Date.now());
        assert.equal((await store.queue.list()).length, 3);

        const [x, y] = due;
        assert.equal(await store.queue.reschedule([{ id: x!.id, nextAttemptAt: now + 60_000, error: '451 later' }]), 1);
        const [rescheduled] = await store.queue.existing([x!.id]);
        assert.equal(rescheduled!.attempts, 1);
        assert.equal(rescheduled!.lastError, '451 later');
        assert.equal(await store.queue.retry(Date.now(), 'qb'), 1);
        assert.equal((await store.queue.due(Date.now() + 1000)).some((r) => r.queueId === 'qb'), true);

        assert.match((await store.queue.readStart(x!.blob, 1000)).toString(), /^Subject: contract 40\r\n/);
        const chunks: Buffer[] = [];
        for await (const chunk of store.queue.openContent(x!.blob)) chunks.push(chunk as Buffer);
        assert.deepEqual(Buffer.concat(chunks), MESSAGE(40));

        assert.deepEqual((await store.queue.remove([x!.id, y!.id])).map((r) => r.id), [x!.id, y!.id]);
        assert.equal((await store.queue.readStart(x!.blob, 1000)).length, 0, 'the unshared file went with its rows');
        const cancelled = await store.queue.removeMessage('qb');
        assert.equal(cancelled.length, 1);
        assert.equal(await backend.fileCount(), before + 1, 'the file of qb stays: alice has a copy');
        assert.deepEqual(await store.queue.list(), []);
        assert.equal(await store.queue.nextDueAt(), undefined);
      });
    });

    describe('keys', () => {
      test('DKIM keys: active first, rotated in one step, only retired ones removable', async () => {
        await store.keys.addDkimKeys('contract.test', [KEY('s2', 'rsa-sha256')]);
        assert.deepEqual((await store.keys.activeDkimKeys('contract.test')).map((k) => k.selector).sort(), ['s1', 's2']);
        const retired = await store.keys.rotateDkimKeys('contract.test', [KEY('s3')]);
        assert.deepEqual(retired.sort(), ['s1', 's2']);
        assert.deepEqual((await store.keys.activeDkimKeys('contract.test')).map((k) => k.selector), ['s3']);
        const listed = await store.keys.listDkimKeys('contract.test');
        assert.equal(listed[0]!.selector, 's3');
        assert.ok(listed.slice(1).every((k) => k.retiredAt !== null));
        assert.equal(await store.keys.removeDkimKey('contract.test', 's3'), false, 'an active key stays');
        assert.equal(await store.keys.removeDkimKey('contract.test', 's1'), true);
        assert.equal(await store.keys.removeDkimKey('contract.test', 's1'), false);
      });
    });

    describe('grants', () => {
      test('a POP3 login grants its address until it expires; a later one replaces it', async () => {
        const now = Date.now();
        await store.grants.recordPopLogin('192.0.2.7', alice, 60_000, now);
        assert.deepEqual(await store.grants.lookupPopLogin('192.0.2.7', now + 1), { userId: alice, loggedInAt: now, expiresAt: now + 60_000 });
        assert.equal((await store.grants.lookupPopLogin('::ffff:192.0.2.7', now + 1))?.userId, alice, 'an IPv4-mapped address is the same client');
        assert.equal(await store.grants.lookupPopLogin('192.0.2.7', now + 60_000), undefined, 'expired exactly at expiresAt');
        await store.grants.recordPopLogin('192.0.2.7', bob, 60_000, now + 10);
        assert.equal((await store.grants.lookupPopLogin('192.0.2.7', now + 11))?.userId, bob);
        await store.grants.recordPopLogin('192.0.2.8', bob, 5, now);
        assert.equal(await store.grants.pruneExpired(now + 100), 1);
      });
    });

    describe('removing a user', () => {
      test('takes their mailboxes, copies, grants and alias links, and the files only they had', async () => {
        const carol = (await store.accounts.addUser('carol@contract.test', 'contract.test', 'hash-c')).id;
        await store.accounts.addAlias('pair@contract.test', 'contract.test', [
          { address: 'carol@contract.test', domain: 'contract.test' },
          { address: 'bob@contract.test', domain: 'contract.test' },
        ]);
        await deliver(store, MESSAGE(50), [inbox(carol), inbox(bob)]);
        await deliver(store, MESSAGE(51), [inbox(carol), inbox(carol, { folder: 'Archive' })]);
        await store.grants.recordPopLogin('198.51.100.1', carol, 60_000);
        const files = await backend.fileCount();
        assert.deepEqual(await store.accounts.removeUser('carol@contract.test'), { aliasLinksRemoved: 1, blobsRemoved: 1 });
        assert.equal(await backend.fileCount(), files - 1);
        assert.equal(await store.accounts.getUser('carol@contract.test'), undefined);
        assert.equal(await store.mailboxes.findMailbox(carol), undefined);
        assert.equal(await store.grants.lookupPopLogin('198.51.100.1'), undefined);
        assert.deepEqual((await store.accounts.getAlias('pair@contract.test'))!.targets, ['bob@contract.test']);
        await assert.rejects(store.accounts.removeUser('carol@contract.test'), AccountError);
      });
    });
  });
}
