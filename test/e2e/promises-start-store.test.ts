// What `kakitome serve` does to the store when it starts (README, Data directory and
// durability): message files that no row references — left by a crash between a
// file's fsync and its commit, never acknowledged — are removed; and a database of an
// older schema version (PRAGMA user_version) is migrated forward on open, its users
// and mail usable as before. Both are about storage, so the files and the schema
// version are read here; the mail itself is checked as its user sees it, over POP3.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { startInstance, type Instance } from '../harness/instance.ts';
import { BlobStore, newBlobName } from '../../src/store/blobs.ts';
import { hashPassword } from '../../src/auth/password.ts';
import { migrations } from '../../src/store/sqlite/migrations.ts';
import { deliver, openMaildrop, testMessage } from './pop3.ts';
import { PASSWORD, USER } from './smtp.ts';
import { loggedIn, setToml, submissionClient, submissionMessage } from './two-instances.ts';

const dataDirOf = (instance: Instance) => join(instance.dir, 'data');

/** The entries of a serve run's log with this message. */
const logged = (instance: Instance, msg: string) => instance.logEntries().filter((entry) => entry.msg === msg);

test('serve removes, at start, message files no row references, and logs how many; the mail its rows reference stays, byte for byte', async (t) => {
  const instance = await startInstance({ t, users: [{ address: USER, password: PASSWORD }] });
  // Larger than what the database holds (src/store/sqlite/contents.ts): a message file.
  const body = Array.from({ length: 1800 }, (_, line) => `line ${line} of a message kept in a file, ${'x'.repeat(40)}`).join('\r\n');
  const [kept] = await deliver(instance, USER, [testMessage(USER, { prefix: 'kept', body })]);
  const before = await openMaildrop(instance, USER, PASSWORD);
  const retrievedBefore = await before.retr(1);
  const uidlBefore = await before.uidl();
  await before.quit();
  assert.equal(await instance.stop(), 0);
  assert.equal(logged(instance, 'removed orphan message files').length, 0, 'the first start found no orphan');

  // Files as a crash between a delivery's file write and its commit leaves them: a valid
  // message-file name in its shard (blobs/00…ff/<id>, 0600), no row. Orphan collection
  // leaves files younger than a delivery could still be in flight alone, so these carry
  // the modification time of a crash an hour ago — and so does the delivered message's
  // file, which must stay because its row references it, not because it is new.
  const anHourAgo = new Date(Date.now() - 60 * 60_000);
  const blobsDir = join(dataDirOf(instance), 'blobs');
  const existing = readdirSync(blobsDir).flatMap((shard) => readdirSync(join(blobsDir, shard)).map((name) => join(blobsDir, shard, name)));
  assert.equal(existing.length, 1, `the one delivered message has one file: ${existing.join(', ')}`);
  for (const path of existing) utimesSync(path, anHourAgo, anHourAgo);
  const blobs = BlobStore.open(dataDirOf(instance));
  const orphans = [newBlobName(), newBlobName(), newBlobName()].map((name) => blobs.path(name));
  for (const path of orphans) {
    writeFileSync(path, `Subject: never acknowledged\r\n\r\nhalf a message`, { mode: 0o600 });
    utimesSync(path, anHourAgo, anHourAgo);
  }

  await instance.restart();
  const entries = logged(instance, 'removed orphan message files');
  assert.equal(entries.length, 1, `one "removed orphan message files" log line at the second start:\n${instance.logs().join('\n')}`);
  assert.equal(entries[0]!.count, orphans.length, 'the log line counts the files removed');
  for (const path of orphans) assert.equal(existsSync(path), false, `the orphan ${path} is still there`);
  assert.ok(existing.every((path) => existsSync(path)), 'the referenced message file is still there');

  const after = await openMaildrop(instance, USER, PASSWORD);
  try {
    assert.deepEqual(await after.uidl(), uidlBefore, 'the maildrop is as it was');
    const retrieved = await after.retr(1);
    assert.equal(retrieved, retrievedBefore, 'the referenced message is retrieved byte for byte as before');
    assert.ok(retrieved.endsWith(`${kept!.text}\r\n`), 'and it is the message that was delivered');
    after.assertOk(await after.quit(), 'QUIT');
  } finally {
    await after.end();
  }
});

/** A data directory as the first schema (v1) left it: the v1 tables only, user_version 1, one user with mail and an alias. */
async function writeV1DataDir(dataDir: string, mail: { blob: string; uidl: string; content: Buffer }): Promise<void> {
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { mode: 0o700 });
  const db = new DatabaseSync(join(dataDir, 'kakitome.db'));
  try {
    db.exec(migrations[0]!);
    db.exec('PRAGMA user_version = 1');
    const now = Date.now() - 86_400_000;
    db.prepare('INSERT INTO domains (name, created_at) VALUES (?, ?)').run('example.test', now);
    db.prepare('INSERT INTO users (address, domain, password_hash, apop_secret, created_at) VALUES (?, ?, ?, NULL, ?)').run(USER, 'example.test', await hashPassword(PASSWORD), now);
    db.prepare('INSERT INTO aliases (address, target, domain, created_at) VALUES (?, ?, ?, ?)').run('sales@example.test', USER, 'example.test', now);
    db.prepare("INSERT INTO mailboxes (user_id, name, uid_validity, next_uid) VALUES (1, 'INBOX', ?, 2)").run(Math.floor(now / 1000));
    db.prepare('INSERT INTO messages (mailbox_id, uid, uidl, blob, size, flags, received_at) VALUES (1, 1, ?, ?, ?, 0, ?)').run(mail.uidl, mail.blob, mail.content.length, now);
  } finally {
    db.close();
  }
  const blobs = BlobStore.open(dataDir);
  writeFileSync(blobs.path(mail.blob), mail.content, { mode: 0o600 });
}

function schemaVersion(dataDir: string): number {
  const db = new DatabaseSync(join(dataDir, 'kakitome.db'), { readOnly: true });
  try {
    return (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
  } finally {
    db.close();
  }
}

test(`a store of schema v1 is migrated to v${migrations.length} when serve starts: the old user logs in over POP3 and gets the old mail and UIDL; new mail, the queue and POP-before-SMTP work`, async (t) => {
  const instance = await startInstance({
    t,
    // Features whose tables came after v1: POP-before-SMTP grants (v3) are written at every
    // POP3 login, held submissions wait in the queue (v2).
    editConfig: (toml) => setToml(toml, { 'pop_before_smtp.enabled': true, 'outbound.hold': '1h' }),
  });
  assert.equal(await instance.stop(), 0);
  const dataDir = dataDirOf(instance);
  const old = {
    blob: newBlobName(),
    uidl: newBlobName(),
    content: Buffer.from('From: <old@remote.example>\r\nTo: <user@example.test>\r\nSubject: kept since v1\r\n\r\nstored before the upgrade\r\n'),
  };
  await writeV1DataDir(dataDir, old);
  assert.equal(schemaVersion(dataDir), 1);

  await instance.restart();
  assert.equal(schemaVersion(dataDir), migrations.length, 'serve migrated the store to the current schema');

  const pop = await openMaildrop(instance, USER, PASSWORD);
  try {
    assert.deepEqual(await pop.list(), [[1, old.content.length]], 'the v1 message, its size as stored');
    assert.deepEqual(await pop.uidl(), [[1, old.uidl]], 'its UIDL did not change with the upgrade');
    assert.equal(await pop.retr(1), old.content.toString(), 'its content, byte for byte');
    pop.assertOk(await pop.quit(), 'QUIT');
  } finally {
    await pop.end();
  }

  // v5: the domain got the postmaster@ and abuse@ it lacked, to the first user; the v1 alias is as it was.
  const aliases = await instance.cli(['alias', 'list']);
  assert.equal(aliases.code, 0, aliases.stderr);
  for (const alias of ['sales', 'postmaster', 'abuse']) {
    assert.match(aliases.stdout, new RegExp(`^${alias}@example\\.test\\s+user@example\\.test$`, 'm'), `alias list after the upgrade:\n${aliases.stdout}`);
  }

  // New mail over port 25 (v4's keywords column), through the v1 alias.
  const [fresh] = await deliver(instance, 'sales@example.test', [testMessage('sales@example.test', { prefix: 'after-upgrade' })]);
  const again = await openMaildrop(instance, USER, PASSWORD, { localAddress: '127.0.5.1' });
  try {
    assert.equal((await again.stat())[0], 2, 'the old message and the new one');
    assert.ok((await again.retr(2)).endsWith(`${fresh!.text}\r\n`), 'the new message is retrievable');
    again.assertOk(await again.quit(), 'QUIT');
  } finally {
    await again.end();
  }

  // v2 and v3: the POP3 login from 127.0.5.1 lets that address submit without AUTH (a
  // grant row), and mail to another domain waits in the queue for outbound.hold.
  const submission = await loggedIn(instance, USER, PASSWORD, { localAddress: '127.0.5.2' });
  const subject = 'queued after the upgrade';
  const queued = await submission.deliver(USER, ['someone@remote.example'], submissionMessage({ from: USER, to: 'someone@remote.example', subject }));
  submission.assertReply(queued, '250 2.0.0', 'submission to another domain after the upgrade');
  await submission.quit();
  const queue = await instance.cli(['queue', 'list']);
  assert.equal(queue.code, 0, queue.stderr);
  assert.match(queue.stdout, /someone@remote\.example/, `queue list after the upgrade:\n${queue.stdout}`);
  const { client: granted } = await submissionClient(instance, { localAddress: '127.0.5.1' });
  try {
    await granted.expectCmd(`MAIL FROM:<${USER}>`, '250', 'MAIL without AUTH from the address of the POP3 login (POP-before-SMTP grant)');
  } finally {
    await granted.quit();
  }

  // A second start finds the store current and changes nothing.
  await instance.restart();
  assert.equal(schemaVersion(dataDir), migrations.length);
  const last = await openMaildrop(instance, USER, PASSWORD);
  try {
    assert.deepEqual((await last.uidl())[0], [1, old.uidl], 'the v1 message keeps its UIDL across the next restart');
  } finally {
    await last.end();
  }
});
