import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { INLINE_MAX_BYTES } from '../../src/store/sqlite/contents.ts';
import { contentExists, countBlobFiles, createUser, makeTempDir, type OpenedStore, openStore, removeTempDir } from './helpers.ts';

/** A message of exactly `size` octets. */
function messageOfSize(size: number): Buffer {
  const header = Buffer.from('Subject: sized\r\n\r\n');
  return Buffer.concat([header, Buffer.alloc(size - header.length, 'x')]);
}

describe('message contents: the database or a file', () => {
  let dataDir: string;
  let store: OpenedStore;
  let inbox: number;

  beforeEach(() => {
    dataDir = makeTempDir();
    store = openStore(dataDir);
    inbox = store.messages.ensureInbox(createUser(store.db, 'carol@example.test'));
  });
  afterEach(async () => {
    await store.messages.idle();
    store.db.close();
    removeTempDir(dataDir);
  });

  const nameOf = (id: number) => (store.db.prepare('SELECT blob FROM messages WHERE id = ?').get(id) as { blob: string }).blob;
  const inDatabase = (name: string) => store.db.prepare('SELECT 1 FROM message_contents WHERE name = ?').get(name) !== undefined;

  test(`up to ${INLINE_MAX_BYTES} octets in the database, one more in a file; both read back whole and in ranges`, async () => {
    const small = messageOfSize(INLINE_MAX_BYTES);
    const large = messageOfSize(INLINE_MAX_BYTES + 1);
    const [smallCopy] = await store.messages.deliver(small, [inbox]);
    const [largeCopy] = await store.messages.deliver(large, [inbox]);
    assert.equal(inDatabase(nameOf(smallCopy!.id)), true);
    assert.equal(existsSync(store.blobs.path(nameOf(smallCopy!.id))), false);
    assert.equal(inDatabase(nameOf(largeCopy!.id)), false);
    assert.equal(existsSync(store.blobs.path(nameOf(largeCopy!.id))), true);
    assert.equal(await countBlobFiles(store.blobs), 1);
    for (const [copy, content] of [[smallCopy!, small], [largeCopy!, large]] as const) {
      assert.deepEqual(await store.messages.readContent(copy.id), content);
      assert.equal(await text(await store.messages.openContent(copy.id)), content.toString());
      const listed = (await store.messages.list(inbox)).find((message) => message.id === copy.id)!;
      assert.equal(listed.size, content.length);
      assert.deepEqual(await store.messages.store.readListedMessage(listed), content);
      const part = store.messages.store.openMessageFile(nameOf(copy.id), { start: 9, end: 14 });
      assert.equal(await text(part), 'sized');
    }
  });

  test('a size that does not match the index is an error, not a short message', async () => {
    const [copy] = await store.messages.deliver(messageOfSize(500), [inbox]);
    await assert.rejects(store.messages.store.readListedMessage({ id: copy!.id, size: 499 }), /has 500 octets, the index says 499/);
  });

  test('content in the database goes with its last row, in the same transaction', async () => {
    const [first, second] = await store.messages.deliver(messageOfSize(300), [inbox, store.messages.ensureInbox(createUser(store.db, 'dan@example.test'))]);
    const name = nameOf(first!.id);
    await store.messages.expunge(inbox, [first!.id]);
    assert.equal(inDatabase(name), true, 'dan still has it');
    await store.messages.expunge(second!.mailboxId, [second!.id]);
    assert.equal(contentExists(store, name), false);
  });

  test('orphan collection also deletes database content that no row references', async () => {
    await store.messages.deliver(messageOfSize(300), [inbox]);
    // Only a defect could leave such a row; collection is the safety net.
    store.db.prepare('INSERT INTO message_contents (name, content) VALUES (?, ?)').run(store.blobs.newName(), Buffer.from('stray'));
    await store.messages.collectOrphanBlobs({ minAgeMs: 0 });
    assert.equal((store.db.prepare('SELECT count(*) AS n FROM message_contents').get() as { n: number }).n, 1, 'the referenced one stays');
  });
});
