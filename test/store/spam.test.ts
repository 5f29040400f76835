// The spam store on sqlite: a model saved and loaded back exactly (tokens, both weight
// sets), the version check that keeps two writers from losing each other's learning,
// a user's model and junk mode going with the user, the digest bookkeeping, and Junk
// expiring by itself through the mailbox store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore, type Store } from '../../src/store/store.ts';
import { INSTANCE_SCOPE } from '../../src/store/spam.ts';
import { SpamModel } from '../../src/filter/spam/model.ts';
import { tokenHash } from '../../src/filter/spam/token-table.ts';
import { MailDeliveryAgent } from '../../src/mda/deliver.ts';
import { MessageContent } from '../../src/intake/content.ts';
import { JUNK } from '../../src/store/mailboxes.ts';
import { makeTempDir, removeTempDir } from './helpers.ts';

async function setUp(t: { after: (fn: () => Promise<void>) => void }): Promise<{ store: Store; dir: string; alice: number }> {
  const dir = makeTempDir();
  const store = openStore(dir, { create: true });
  await store.accounts.addDomain('example.test', []);
  const alice = (await store.accounts.addUser('alice@example.test', 'example.test', 'x')).id;
  await store.accounts.addUser('bob@example.test', 'example.test', 'x');
  t.after(async () => {
    await store.close();
    removeTempDir(dir);
  });
  return { store, dir, alice };
}

/** A model's data with its features in hash order (a table lists them in slot order, which depends on its size). */
function canonical(model: SpamModel) {
  const data = model.toData();
  const order = [...data.tokens.hashes.keys()].sort((a, b) => data.tokens.hashes[a]! - data.tokens.hashes[b]!);
  const pick = <T extends Uint32Array | Uint16Array>(column: T) => order.map((i) => column[i]!);
  return { ...data, tokens: { hashes: pick(data.tokens.hashes), spam: pick(data.tokens.spam), ham: pick(data.tokens.ham), seen: pick(data.tokens.seen) } };
}

function trainedModel(sparse = false): SpamModel {
  const model = new SpamModel({ sparse });
  const messages = Array.from({ length: 40 }, (_, i) => ({
    tokens: Uint32Array.from([`w${i % 7}`, `v${i % 5}`, i % 2 ? 'spammy' : 'hammy', `unique${i}`], tokenHash),
    grams: Uint32Array.of(i, i * 7919, 0xffffffff - i),
    spam: i % 2 === 1,
  }));
  model.train(messages, 3);
  return model;
}

test('a model is saved and loaded back exactly; a second writer with a stale version is refused', async (t) => {
  const { store, dir } = await setUp(t);
  assert.equal(await store.spam.version(INSTANCE_SCOPE), 0);
  assert.equal(await store.spam.load(INSTANCE_SCOPE), undefined);
  const model = trainedModel();
  assert.equal(await store.spam.save(INSTANCE_SCOPE, model.toData(), 0, 1000), 1);
  const loaded = await store.spam.load(INSTANCE_SCOPE);
  assert.ok(loaded);
  assert.equal(loaded.version, 1);
  assert.equal(loaded.updatedAt, 1000);
  const again = SpamModel.fromData(loaded);
  assert.deepEqual(canonical(again), canonical(model), 'tokens, token weights and 4-gram weights, to the bit');
  const features = { tokens: Uint32Array.from(['w3', 'spammy', 'v1'], tokenHash), grams: Uint32Array.of(3, 3 * 7919) };
  assert.equal(again.score(features).score, model.score(features).score);

  assert.equal(await store.spam.save(INSTANCE_SCOPE, model.toData(), 0), undefined, 'saved meanwhile by someone else: refused');
  assert.equal(await store.spam.save(INSTANCE_SCOPE, model.toData(), 1), 2);
  const [summary] = await store.spam.list();
  assert.deepEqual({ ...summary, updatedAt: 0 }, { scope: 0, spamMessages: 20, hamMessages: 20, tokens: model.toData().tokens.hashes.length, bytes: summary!.bytes, updatedAt: 0 });
  assert.ok(summary!.bytes > 14 * summary!.tokens);

  // Another process (the CLI beside serve) opening the same store reads the same.
  const reopened = openStore(dir);
  t.after(() => reopened.close());
  assert.deepEqual(canonical(SpamModel.fromData((await reopened.spam.load(INSTANCE_SCOPE))!)), canonical(model));
});

test("a user's model and junk mode go with the user; digest bookkeeping", async (t) => {
  const { store, alice } = await setUp(t);
  const layer = trainedModel(true);
  assert.equal(await store.spam.save(alice, layer.toData(), 0), 1);
  assert.deepEqual(canonical(SpamModel.fromData((await store.spam.load(alice))!, { sparse: true })), canonical(layer));
  assert.equal(await store.spam.junkMode(alice), 'folder', 'the default');
  await store.spam.setJunkMode(alice, 'digest');
  assert.equal(await store.spam.junkMode(alice), 'digest');
  assert.deepEqual(await store.spam.digestUsers(), [{ userId: alice, lastDigestAt: 0 }]);
  await store.spam.setDigestSent(alice, 12345);
  assert.deepEqual(await store.spam.digestUsers(), [{ userId: alice, lastDigestAt: 12345 }]);
  await store.spam.setJunkMode(alice, 'inbox');
  assert.deepEqual(await store.spam.digestUsers(), []);

  await store.accounts.removeUser('alice@example.test');
  assert.equal(await store.spam.load(alice), undefined, "the user's model went with the user");
  assert.deepEqual(await store.spam.list(), []);
  assert.equal(await store.spam.remove(alice), false);
});

test('Junk expires: messages in every user\'s Junk older than the cut-off go, INBOX stays', async (t) => {
  const { store, alice } = await setUp(t);
  const mda = new MailDeliveryAgent(store.deliveries);
  const deliver = (folder: string) =>
    mda.deliver({
      queueId: 'q',
      mailFrom: '',
      queueOrigin: 'mta',
      variants: [{ content: MessageContent.fromBuffer(Buffer.from(`Subject: ${folder}\r\n\r\nx\r\n`)), recipients: [{ kind: 'mailbox', userId: alice, folder, flags: [], keywords: [] }] }],
    });
  await deliver(JUNK);
  await deliver(JUNK);
  await deliver('INBOX');
  const junk = (await store.mailboxes.findMailbox(alice, JUNK))!;
  assert.equal((await store.mailboxes.listMessages(junk)).length, 2);
  // unjunk: one moves to INBOX with the next UID there and its UIDL kept; a stranger's mailbox is refused.
  const [first] = await store.mailboxes.listMessages(junk);
  const inboxId = (await store.mailboxes.findMailbox(alice))!;
  assert.equal(await store.mailboxes.move(alice, junk, [first!.id, 999_999], 'INBOX'), 1);
  const inbox = await store.mailboxes.listMessages(inboxId);
  assert.deepEqual(inbox.map((m) => m.uid), [1, 2]);
  assert.equal(inbox[1]!.uidl, first!.uidl);
  const bob = (await store.accounts.getUser('bob@example.test'))!.id;
  await assert.rejects(store.mailboxes.move(bob, junk, [first!.id], 'INBOX'), /no mailbox/);
  await deliver(JUNK);
  assert.equal(await store.mailboxes.expireFolder(JUNK, 0), 0, 'nothing older than the epoch');
  assert.equal(await store.mailboxes.expireFolder(JUNK, Date.now() + 1000), 2);
  assert.equal((await store.mailboxes.listMessages(junk)).length, 0);
  assert.equal((await store.mailboxes.listMessages((await store.mailboxes.findMailbox(alice))!)).length, 2, 'INBOX is left alone');
});
