// The quarantine store on sqlite, driven through the MDA as the intake and the CLI drive
// it: an original quarantined with its delivery (one transaction), read back, released
// once, deleted, expired; a stored message's content replaced by a rescan's notice. The
// content of an entry lives like a mailbox copy's (database or file) and goes only when
// nothing references it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore, type Store } from '../../src/store/store.ts';
import { MailDeliveryAgent, type DeliverableContent } from '../../src/mda/deliver.ts';
import { MessageContent } from '../../src/intake/content.ts';
import { UnknownQuarantineError, type QuarantineRecord } from '../../src/store/quarantine.ts';
import { makeTempDir, removeTempDir } from './helpers.ts';
import { storedContents } from './deliver.ts';
import { pino } from 'pino';
import { startQuarantineExpiry } from '../../src/app/quarantine-expiry.ts';

const record = (quarantineId: string, users: number[]): QuarantineRecord => ({
  quarantineId,
  reason: 'virus',
  detail: 'clamd: Eicar-Signature in "eicar.com"',
  delivered: true,
  origin: 'mta',
  mailFrom: 'sender@remote.example',
  recipients: { users, remote: ['far@remote.example'] },
});
const content = (text: string | Buffer): DeliverableContent => MessageContent.fromBuffer(Buffer.from(text));

async function setUp(t: { after: (fn: () => Promise<void>) => void }): Promise<{ store: Store; dir: string; mda: MailDeliveryAgent; alice: number }> {
  const dir = makeTempDir();
  const store = openStore(dir, { create: true });
  await store.accounts.addDomain('example.test', []);
  const alice = (await store.accounts.addUser('alice@example.test', 'example.test', 'x')).id;
  t.after(async () => {
    await store.close();
    removeTempDir(dir);
  });
  return { store, dir, mda: new MailDeliveryAgent(store.deliveries), alice };
}

const inbox = async (store: Store, userId: number) => {
  const mailbox = await store.mailboxes.findMailbox(userId);
  return mailbox === undefined ? [] : store.mailboxes.listMessages(mailbox);
};

test('an original is quarantined in the transaction of its delivery; listed, read back, kept by orphan collection; deleted, its content goes', async (t) => {
  const { store, dir, mda, alice } = await setUp(t);
  const original = 'Subject: s\r\n\r\nthe original, with its attachment\r\n';
  const result = await mda.deliver({
    queueId: 'q1',
    mailFrom: 'sender@remote.example',
    queueOrigin: 'mta',
    scannedWith: 'clamd ClamAV 1.4.6/27480',
    variants: [{ content: content('Subject: s\r\n\r\nthe notice\r\n'), recipients: [{ kind: 'mailbox', userId: alice, folder: 'INBOX', flags: [], keywords: [] }] }],
    quarantine: { content: content(original), record: record('q1', [alice]) },
  });
  assert.deepEqual(result, { mailboxes: 1, queued: 0, size: 'Subject: s\r\n\r\nthe notice\r\n'.length, quarantined: true });
  const [entry, ...more] = await store.quarantine.list();
  assert.equal(more.length, 0);
  assert.deepEqual({ ...entry, blob: undefined, createdAt: undefined }, { ...record('q1', [alice]), blob: undefined, size: original.length, createdAt: undefined });
  assert.ok(Math.abs(entry!.createdAt - Date.now()) < 60_000);
  assert.equal((await store.quarantine.read(entry!)).toString(), original);
  assert.deepEqual(await store.quarantine.get('q1'), entry);
  assert.equal(await store.quarantine.get('q2'), undefined);
  assert.equal((await inbox(store, alice))[0]!.scannedWith, 'clamd ClamAV 1.4.6/27480', 'the engines that scanned it are recorded');

  assert.deepEqual(await store.deliveries.collectOrphans({ minAgeMs: 0 }), [], 'a quarantined content is referenced');
  assert.equal(storedContents(dir).length, 2);
  assert.equal(await store.quarantine.remove('q1'), true);
  assert.equal(await store.quarantine.remove('q1'), false);
  assert.equal(storedContents(dir).length, 1, 'the original is gone, the delivered copy stays');
  assert.equal((await inbox(store, alice)).length, 1);
});

test('a release delivers and takes the entry out in one transaction: a second release fails and delivers nothing; a large original (a file) goes with its entry', async (t) => {
  const { store, dir, mda, alice } = await setUp(t);
  const large = Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), Buffer.alloc(300_000, 'a')]);
  await mda.deliver({
    queueId: 'q2', mailFrom: '', queueOrigin: 'mta', variants: [],
    quarantine: { content: content(large), record: { ...record('q2', [alice]), delivered: false } },
  });
  assert.equal((await inbox(store, alice)).length, 0, 'held whole: nothing delivered');
  const entry = (await store.quarantine.get('q2'))!;
  assert.equal(entry.delivered, false);
  const release = () =>
    mda.deliver({
      queueId: 'r1', mailFrom: '', queueOrigin: 'mta', release: 'q2',
      variants: [{ content: content(large), recipients: [{ kind: 'mailbox', userId: alice, folder: 'INBOX', flags: [], keywords: [] }] }],
    });
  assert.equal((await release()).mailboxes, 1);
  assert.equal(await store.quarantine.get('q2'), undefined);
  await assert.rejects(release(), UnknownQuarantineError);
  assert.equal((await inbox(store, alice)).length, 1, 'released once');
  assert.equal(storedContents(dir).length, 1, 'only the released copy: the quarantined file and the failed second copy are gone');
});

test('expire deletes the entries created before the cut-off, in batches, and nothing younger', async (t) => {
  const { store, mda, alice } = await setUp(t);
  for (let i = 0; i < 3; i++) {
    await mda.deliver({ queueId: `e${i}`, mailFrom: '', queueOrigin: 'mta', variants: [], quarantine: { content: content(`Subject: ${i}\r\n\r\nx\r\n`), record: record(`e${i}`, [alice]) } });
  }
  assert.equal(await store.quarantine.expire(Date.now() - 60_000), 0);
  assert.equal((await store.quarantine.list()).length, 3);
  assert.equal(await store.quarantine.expire(Date.now() + 1), 3);
  assert.deepEqual(await store.quarantine.list(), []);
});

test('a rescan\'s notice replaces a stored message\'s content and its old content moves to the quarantine; a message gone meanwhile changes nothing', async (t) => {
  const { store, dir, mda, alice } = await setUp(t);
  await mda.deliver({
    queueId: 'm1', mailFrom: '', queueOrigin: 'mta', scannedWith: 'old',
    variants: [{ content: content('Subject: infected\r\n\r\nbad\r\n'), recipients: [{ kind: 'mailbox', userId: alice, folder: 'INBOX', flags: [], keywords: [] }] }],
  });
  const [stored] = await inbox(store, alice);
  const notice = Buffer.from('Subject: infected\r\n\r\nthe notice, a little longer\r\n');
  assert.equal(await mda.replaceWithNotice(stored!.id, notice, 'new', { ...record('n1', [alice]), origin: 'mta' }), true);
  const [after] = await inbox(store, alice);
  assert.deepEqual([after!.uidl, after!.size, after!.scannedWith], [stored!.uidl, notice.length, 'new'], 'same message (UIDL), new content');
  assert.equal((await store.mailboxes.readMessage(after!.id)).toString(), notice.toString());
  const entry = (await store.quarantine.get('n1'))!;
  assert.equal((await store.quarantine.read(entry)).toString(), 'Subject: infected\r\n\r\nbad\r\n');

  await store.mailboxes.expunge(after!.mailboxId, [after!.id]);
  const before = storedContents(dir).length;
  assert.equal(await mda.replaceWithNotice(after!.id, notice, 'newer', record('n2', [alice])), false);
  assert.equal(await store.quarantine.get('n2'), undefined);
  assert.equal(storedContents(dir).length, before, 'the unused notice is not left behind');

  await mda.deliver({
    queueId: 'm2', mailFrom: '', queueOrigin: 'mta',
    variants: [{ content: content('Subject: clean\r\n\r\nok\r\n'), recipients: [{ kind: 'mailbox', userId: alice, folder: 'INBOX', flags: [], keywords: [] }] }],
  });
  const [clean] = await inbox(store, alice);
  assert.equal(clean!.scannedWith, '', 'not recorded when no engine scanned it');
  await mda.recordScan([clean!.id], 'clamd ClamAV 1.4.6/27481');
  assert.equal((await store.mailboxes.getMessage(clean!.id))!.scannedWith, 'clamd ClamAV 1.4.6/27481');
});

test('serve\'s expiry ([quarantine] keep) sweeps at start and on its timer; keep = "0s" never deletes', async (t) => {
  const { store, mda, alice } = await setUp(t);
  await mda.deliver({ queueId: 'x1', mailFrom: '', queueOrigin: 'mta', variants: [], quarantine: { content: content('Subject: x\r\n\r\nx\r\n'), record: record('x1', [alice]) } });
  const logger = pino({ level: 'silent' });
  const never = startQuarantineExpiry(store.quarantine, 0, logger, 10);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(await never.sweep(), 0);
  await never.stop();
  assert.equal((await store.quarantine.list()).length, 1);

  const day = startQuarantineExpiry(store.quarantine, 86_400_000, logger, 10);
  assert.equal(await day.sweep(), 0, 'younger than keep: kept');
  await day.stop();
  await new Promise((resolve) => setTimeout(resolve, 20));
  const soon = startQuarantineExpiry(store.quarantine, 5, logger, 10);
  for (let i = 0; i < 100 && (await store.quarantine.list()).length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  await soon.stop();
  assert.deepEqual(await store.quarantine.list(), [], 'older than keep: deleted by the sweep');
});
