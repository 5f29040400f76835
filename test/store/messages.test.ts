import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { text } from 'node:stream/consumers';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import { BatchCommitError } from '../../src/store/group-commit.ts';
import { UnknownMailboxError, UnknownMessageError } from '../../src/store/mailboxes.ts';
import { SqliteAccountStore } from '../../src/store/sqlite/accounts.ts';
import {
  contentExists,
  countBlobFiles,
  countContents,
  createUser,
  deterministicMessage,
  makeTempDir,
  type OpenedStore,
  openStore,
  removeTempDir,
} from './helpers.ts';

// Every test runs twice: with small messages in the database (the default) and with
// every message in a file (inlineMaxBytes: 0), the path that large messages take.
for (const { where, inlineMaxBytes } of [
  { where: 'in the database', inlineMaxBytes: undefined },
  { where: 'in files', inlineMaxBytes: 0 },
]) describe(`MessageStore, content ${where}`, () => {
  let dataDir: string;
  let store: OpenedStore;
  let alice: number;
  let bob: number;
  const inFiles = inlineMaxBytes === 0;

  beforeEach(async () => {
    dataDir = makeTempDir();
    store = openStore(dataDir, { inlineMaxBytes });
    alice = store.messages.ensureInbox(createUser(store.db, 'alice@example.test'));
    bob = store.messages.ensureInbox(createUser(store.db, 'bob@example.test'));
  });
  afterEach(async () => {
    await store.messages.idle();
    store.db.close();
    removeTempDir(dataDir);
  });

  const blobNameOf = (id: number) =>
    (store.db.prepare('SELECT blob FROM messages WHERE id = ?').get(id) as { blob: string }).blob;

  test('ensureInbox is idempotent and sets uid_validity to the current unix time', () => {
    const userId = createUser(store.db, 'carol@example.test');
    const before = Math.floor(Date.now() / 1000);
    const inbox = store.messages.ensureInbox(userId);
    assert.equal(store.messages.ensureInbox(userId), inbox);
    const row = store.db.prepare('SELECT name, uid_validity, next_uid FROM mailboxes WHERE id = ?').get(inbox);
    assert.equal(row!.name, 'INBOX');
    assert.ok(Math.abs((row!.uid_validity as number) - before) <= 1);
    assert.equal(row!.next_uid, 1);
  });

  test('delivers, lists in uid order and reads back the exact bytes', async () => {
    for (let i = 0; i < 5; i++) await store.messages.deliver(deterministicMessage(i), [alice]);
    const listed = (await store.messages.list(alice));
    assert.deepEqual(
      listed.map((message) => message.uid),
      [1, 2, 3, 4, 5],
    );
    for (const [i, message] of listed.entries()) {
      const expected = deterministicMessage(i);
      assert.equal(message.size, expected.byteLength);
      assert.equal(message.flags, 0);
      assert.deepEqual(await store.messages.readContent(message.id), expected);
      assert.equal(await text(await store.messages.openContent(message.id)), expected.toString());
      assert.deepEqual((await store.messages.get(message.id)), message);
    }
    assert.deepEqual((await store.messages.list(bob)), []);
  });

  test('accepts content as an async iterable', async () => {
    async function* chunks() {
      yield Buffer.from('Subject: streamed\r\n');
      yield Buffer.from('\r\nbody\r\n');
    }
    const [delivered] = await store.messages.deliver(chunks(), [alice]);
    assert.equal(delivered!.size, 'Subject: streamed\r\n\r\nbody\r\n'.length);
    assert.equal((await store.messages.readContent(delivered!.id)).toString(), 'Subject: streamed\r\n\r\nbody\r\n');
  });

  test('uidls are unique, printable, at most 70 characters and stable across a reopen', async () => {
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.messages.deliver(deterministicMessage(i), [alice, bob])));
    const before = [...(await store.messages.list(alice)), ...(await store.messages.list(bob))];
    const uidls = before.map((message) => message.uidl);
    assert.equal(new Set(uidls).size, 100);
    for (const uidl of uidls) assert.match(uidl, /^[\x21-\x7e]{1,70}$/);

    await store.messages.idle();
    store.db.close();
    store = openStore(dataDir);
    const afterReopen = [...(await store.messages.list(alice)), ...(await store.messages.list(bob))];
    assert.deepEqual(afterReopen, before);
    // next_uid survived too: the next message continues the sequence.
    const [next] = await store.messages.deliver(deterministicMessage(99), [alice]);
    assert.equal(next!.uid, 51);
  });

  test('a delivery to several mailboxes shares one content', async () => {
    const content = deterministicMessage(7);
    const delivered = await store.messages.deliver(content, [alice, bob]);
    assert.equal(delivered.length, 2);
    assert.deepEqual(
      delivered.map((message) => message.mailboxId),
      [alice, bob],
    );
    assert.notEqual(delivered[0]!.uidl, delivered[1]!.uidl);
    assert.equal(blobNameOf(delivered[0]!.id), blobNameOf(delivered[1]!.id));
    assert.equal(await countContents(store), 1);
    assert.equal(await countBlobFiles(store.blobs), inFiles ? 1 : 0);
    for (const message of delivered) assert.deepEqual(await store.messages.readContent(message.id), content);
  });

  test('expunge removes a content only once no row references it', async () => {
    const [toAlice, toBob] = await store.messages.deliver(deterministicMessage(1), [alice, bob]);
    const [aliceOnly] = await store.messages.deliver(deterministicMessage(2), [alice]);
    const shared = blobNameOf(toAlice!.id);
    const single = blobNameOf(aliceOnly!.id);
    assert.equal(existsSync(store.blobs.path(single)), inFiles);

    await store.messages.expunge(alice, [toAlice!.id, aliceOnly!.id]);
    assert.deepEqual((await store.messages.list(alice)), []);
    assert.equal(contentExists(store, single), false);
    assert.equal(contentExists(store, shared), true, 'still referenced by bob');
    assert.deepEqual(await store.messages.readContent(toBob!.id), deterministicMessage(1));

    await store.messages.expunge(bob, [toBob!.id]);
    assert.equal(contentExists(store, shared), false);
    assert.equal(await countContents(store), 0);
    await assert.rejects(store.messages.readContent(toBob!.id), UnknownMessageError);
  });

  test('expunge refuses to run inside an open transaction', async () => {
    const [message] = await store.messages.deliver(deterministicMessage(4), [alice]);
    store.db.exec('BEGIN');
    await assert.rejects(store.messages.expunge(alice, [message!.id]), /inside an open transaction/);
    store.db.exec('ROLLBACK');
    assert.deepEqual(await store.messages.readContent(message!.id), deterministicMessage(4));
  });

  test('expunge ignores ids that belong to another mailbox', async () => {
    const [bobs] = await store.messages.deliver(deterministicMessage(3), [bob]);
    await store.messages.expunge(alice, [bobs!.id]);
    assert.equal((await store.messages.list(bob)).length, 1);
    assert.deepEqual(await store.messages.readContent(bobs!.id), deterministicMessage(3));
  });

  test('removeMailboxesOfUser frees only blobs no other user references', async () => {
    await store.messages.deliver(deterministicMessage(1), [alice, bob]);
    const [aliceOnly] = await store.messages.deliver(deterministicMessage(2), [alice]);
    const aliceOnlyBlob = blobNameOf(aliceOnly!.id);
    const aliceUserId = (store.db.prepare('SELECT user_id FROM mailboxes WHERE id = ?').get(alice) as { user_id: number })
      .user_id;

    const freed = store.messages.removeMailboxesOfUser(aliceUserId);
    assert.deepEqual(freed, [aliceOnlyBlob]);
    assert.equal(store.db.prepare('SELECT count(*) AS n FROM mailboxes WHERE id = ?').get(alice)!.n, 0);
    await store.messages.removeBlobs(freed);
    assert.equal(await countContents(store), 1);
    assert.equal((await store.messages.list(bob)).length, 1);
  });

  test('removeUser deletes the user with its mailboxes in one transaction, then its files', async () => {
    await store.messages.deliver(deterministicMessage(1), [alice, bob]);
    await store.messages.deliver(deterministicMessage(2), [alice]);
    const accounts = new SqliteAccountStore(store.db, store.messages.store);
    assert.deepEqual(await accounts.removeUser('alice@example.test'), {
      aliasLinksRemoved: 0,
      blobsRemoved: 1,
    });
    assert.equal(store.db.prepare('SELECT count(*) AS n FROM users').get()!.n, 1);
    assert.equal(await countContents(store), 1);
    assert.deepEqual(await store.messages.readContent((await store.messages.list(bob))[0]!.id), deterministicMessage(1));
  });

  test('removeMailboxesOfUser joins the caller transaction, which may roll it back', () => {
    const aliceUserId = (store.db.prepare('SELECT user_id FROM mailboxes WHERE id = ?').get(alice) as { user_id: number })
      .user_id;
    store.db.exec('BEGIN IMMEDIATE');
    store.messages.removeMailboxesOfUser(aliceUserId);
    store.db.prepare('DELETE FROM users WHERE id = ?').run(aliceUserId);
    store.db.exec('ROLLBACK');
    assert.equal(store.db.prepare('SELECT count(*) AS n FROM mailboxes WHERE id = ?').get(alice)!.n, 1);
  });

  test('500 concurrent deliveries are all stored, in far fewer batches', async () => {
    const count = 500;
    const delivered = await Promise.all(
      Array.from({ length: count }, (_, i) => store.messages.deliver(deterministicMessage(i), [i % 2 ? alice : bob])),
    );
    const stats = store.messages.commitStats;
    assert.equal(stats.items, count);
    assert.ok(stats.batches < count / 5, `expected batching, got ${stats.batches} batches for ${count} deliveries`);
    const listed = [...(await store.messages.list(alice)), ...(await store.messages.list(bob))];
    assert.equal(listed.length, count);
    assert.deepEqual(
      (await store.messages.list(alice)).map((message) => message.uid),
      Array.from({ length: count / 2 }, (_, i) => i + 1),
    );
    for (const [i, [message]] of delivered.entries()) {
      assert.deepEqual(await store.messages.readContent(message!.id), deterministicMessage(i));
    }
    assert.equal(await countContents(store), count);
    assert.equal(await countBlobFiles(store.blobs), inFiles ? count : 0);
  });

  test('a delivery to an unknown mailbox fails alone and leaves no file', async () => {
    const results = await Promise.allSettled([
      store.messages.deliver(deterministicMessage(1), [alice]),
      store.messages.deliver(deterministicMessage(2), [alice, 424242]),
      store.messages.deliver(deterministicMessage(3), [bob]),
    ]);
    assert.equal(results[0]!.status, 'fulfilled');
    assert.equal(results[1]!.status, 'rejected');
    assert.ok((results[1] as PromiseRejectedResult).reason instanceof UnknownMailboxError);
    assert.equal(results[2]!.status, 'fulfilled');
    assert.equal((await store.messages.list(alice)).length, 1, 'the failed delivery left no row in alice');
    assert.equal(await countContents(store), 2);
    assert.equal(store.db.prepare('SELECT next_uid FROM mailboxes WHERE id = ?').get(alice)!.next_uid, 2);
  });

  test('a failing batch rejects all its callers, leaves no rows, and only orphan files', async () => {
    const realSyncDirs = store.blobs.syncDirs;
    store.blobs.syncDirs = async () => {
      throw new Error('EIO on directory fsync');
    };
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => store.messages.deliver(deterministicMessage(i), [alice, bob])),
    );
    store.blobs.syncDirs = realSyncDirs;
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      assert.ok(result.reason instanceof BatchCommitError);
    }
    assert.equal(store.db.prepare('SELECT count(*) AS n FROM messages').get()!.n, 0);
    assert.equal(store.db.prepare('SELECT next_uid FROM mailboxes WHERE id = ?').get(alice)!.next_uid, 1);
    assert.equal(store.messages.commitStats.failedBatches > 0, true);
    // Their files are orphans, removed by collection; content bound for the database was never written.
    assert.equal(await countContents(store), inFiles ? 20 : 0);
    assert.equal((await store.messages.collectOrphanBlobs({ minAgeMs: 0 })).length, inFiles ? 20 : 0);
    assert.equal(await countContents(store), 0);
  });

  test('collectOrphanBlobs removes unreferenced files but spares referenced, young and in-flight ones', async () => {
    const [kept] = await store.messages.deliver(deterministicMessage(1), [alice]);
    const { name: orphan } = await store.blobs.write(deterministicMessage(2));

    // Too young by default: a delivery in another process may still be about to commit it.
    assert.deepEqual(await store.messages.collectOrphanBlobs(), []);

    // A delivery whose file exists but whose row is not committed yet.
    let releaseContent!: () => void;
    const gate = new Promise<void>((resolve) => (releaseContent = resolve));
    async function* slowContent() {
      yield Buffer.from('Subject: slow\r\n\r\n');
      await gate;
      yield Buffer.from('body\r\n');
    }
    const inFlight = store.messages.deliver(slowContent(), [bob]);
    while ((await countContents(store)) < 3) await new Promise((resolve) => setTimeout(resolve, 5));

    assert.deepEqual(await store.messages.collectOrphanBlobs({ minAgeMs: 0 }), [orphan]);
    releaseContent();
    const [slow] = await inFlight;
    assert.equal((await store.messages.readContent(slow!.id)).toString(), 'Subject: slow\r\n\r\nbody\r\n');
    assert.deepEqual(await store.messages.readContent(kept!.id), deterministicMessage(1));
    assert.equal(await countContents(store), 2);
  });

  test('deliver() refuses an empty or repeated mailbox list', async () => {
    await assert.rejects(store.messages.deliver(deterministicMessage(1), []), RangeError);
    await assert.rejects(store.messages.deliver(deterministicMessage(1), [alice, alice]), RangeError);
    assert.equal(await countContents(store), 0);
  });
});

describe('MessageStore files on disk', () => {
  const dataDir = makeTempDir();
  after(() => removeTempDir(dataDir));

  test('a row never points outside the blob root, whatever the database says', async () => {
    const store = openStore(dataDir);
    const mailbox = store.messages.ensureInbox(createUser(store.db, 'eve@example.test'));
    const [message] = await store.messages.deliver(deterministicMessage(1), [mailbox]);
    store.db.prepare('UPDATE messages SET blob = ? WHERE id = ?').run('../../../etc/passwd', message!.id);
    await assert.rejects(store.messages.readContent(message!.id), /invalid blob name/);
    await assert.rejects(store.messages.openContent(message!.id), /invalid blob name/);
    store.db.close();
  });
});
