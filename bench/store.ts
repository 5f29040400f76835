// Durable delivery throughput of the message store: naive per-message commits (fsync
// file, fsync its directory, one transaction each) against the group committer, and
// against spool-first (the 250 after a group-committed spool row; a delivery worker
// then moves each message into its mailbox with a second group commit), at several
// concurrencies. Timed until every message is in its mailbox. Every run uses a fresh
// data directory on the same filesystem.
//
// Usage: node bench/store.ts [--count 2000] [--size 10240] [--concurrency 1,20,100]
//                            [--max-seconds 30] [--dir DIR]
// --dir must be on a real disk (not tmpfs), or the fsyncs cost nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { BlobStore } from '../src/store/blobs.ts';
import { type Db, openDatabase, transaction } from '../src/store/sqlite/db.ts';
import { SqliteMessageStore } from '../src/store/sqlite/messages.ts';
import { MessageContents } from '../src/store/sqlite/contents.ts';
import { GroupCommitter } from '../src/store/group-commit.ts';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '2000' },
    size: { type: 'string', default: '10240' },
    concurrency: { type: 'string', default: '1,20,100' },
    'max-seconds': { type: 'string', default: '30' },
    dir: { type: 'string', default: tmpdir() },
  },
});
const count = Number(values.count);
const size = Number(values.size);
const concurrencies = values.concurrency.split(',').map(Number);
const maxMs = Number(values['max-seconds']) * 1000;

type Deliver = (content: Buffer, mailboxId: number) => Promise<unknown>;

interface Setup {
  db: Db;
  mailboxId: number;
  deliver: Deliver;
  /** Committed batches and time spent in directory fsyncs and in transactions (which block the event loop). */
  stats: () => { batches: number; prepareMs: number; transactionMs: number };
  /** Resolves when everything acknowledged is in its mailbox (spool-first delivers after the ack). */
  drain?: () => Promise<void>;
}

function openFresh(dataDir: string): { db: Db; blobs: BlobStore; messages: SqliteMessageStore; userId: number; mailboxId: number } {
  const db = openDatabase(join(dataDir, 'store.sqlite'));
  const blobs = BlobStore.open(dataDir);
  const messages = new SqliteMessageStore(db, new MessageContents(db, blobs));
  db.prepare("INSERT INTO domains (name, created_at) VALUES ('bench.test', 0)").run();
  const userId = db
    .prepare("INSERT INTO users (address, domain, password_hash, created_at) VALUES ('b@bench.test', 'bench.test', 'x', 0)")
    .run().lastInsertRowid;
  return { db, blobs, messages, userId: Number(userId), mailboxId: messages.createMailbox(Number(userId)) };
}

function naive(dataDir: string): Setup {
  const { db, blobs, mailboxId } = openFresh(dataDir);
  const takeUid = db.prepare('UPDATE mailboxes SET next_uid = next_uid + 1 WHERE id = ? RETURNING next_uid - 1 AS uid');
  const insert = db.prepare(
    'INSERT INTO messages (mailbox_id, uid, uidl, blob, size, received_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const stats = { batches: 0, prepareMs: 0, transactionMs: 0 };
  const deliver: Deliver = async (content, mailbox) => {
    const blob = await blobs.write(content);
    const syncStart = performance.now();
    await blobs.syncDirs([blob.name]);
    const transactionStart = performance.now();
    transaction(db, () => {
      const { uid } = takeUid.get(mailbox) as { uid: number };
      insert.run(mailbox, uid, `${blob.name}.0`, blob.name, blob.size, Date.now());
    });
    stats.batches++;
    stats.prepareMs += transactionStart - syncStart;
    stats.transactionMs += performance.now() - transactionStart;
  };
  return { db, mailboxId, deliver, stats: () => stats };
}

function grouped(dataDir: string): Setup {
  const { db, messages, userId, mailboxId } = openFresh(dataDir);
  return {
    db,
    mailboxId,
    // As the MDA delivers: write the reserved file, then the group-committed rows.
    deliver: async (content) => {
      const file = messages.newMessageFile();
      const { size } = await messages.writeMessageFile(file, content);
      await messages.commitDelivery([{ file, size, copies: [{ userId, folder: 'INBOX', flags: [], keywords: [] }], queued: [] }]);
    },
    stats: () => messages.commitStats,
  };
}

/**
 * Spool-first, as a spool + delivery-agent design would do it: the file and a spool row
 * are made durable (group-committed) before the ack; a worker then adds the mailbox row
 * and deletes the spool row in a second group commit.
 */
function spoolFirst(dataDir: string): Setup {
  const { db, blobs } = openFresh(dataDir);
  db.exec('CREATE TABLE bench_spool (id INTEGER PRIMARY KEY, blob TEXT NOT NULL, size INTEGER NOT NULL) STRICT');
  const insertSpool = db.prepare('INSERT INTO bench_spool (blob, size) VALUES (?, ?) RETURNING id');
  const deleteSpool = db.prepare('DELETE FROM bench_spool WHERE id = ?');
  const takeUid = db.prepare('UPDATE mailboxes SET next_uid = next_uid + 1 WHERE id = ? RETURNING next_uid - 1 AS uid');
  const insert = db.prepare('INSERT INTO messages (mailbox_id, uid, uidl, blob, size, received_at) VALUES (?, ?, ?, ?, ?, ?)');
  const spool = new GroupCommitter<{ blob: string; size: number }, number>({
    db,
    prepare: (items) => blobs.syncDirs(items.map((item) => item.blob)),
    apply: (item) => (insertSpool.get(item.blob, item.size) as { id: number }).id,
  });
  const delivery = new GroupCommitter<{ spoolId: number; blob: string; size: number; mailbox: number }, void>({
    db,
    apply: (item) => {
      const { uid } = takeUid.get(item.mailbox) as { uid: number };
      insert.run(item.mailbox, uid, `${item.blob}.0`, item.blob, item.size, Date.now());
      deleteSpool.run(item.spoolId);
    },
  });
  const delivering = new Set<Promise<void>>();
  return {
    db,
    mailboxId: openFreshMailbox(db),
    deliver: async (content, mailbox) => {
      const blob = await blobs.write(content);
      const spoolId = await spool.commit({ blob: blob.name, size: blob.size });
      // Acknowledged here; the delivery agent's pass follows.
      const job = delivery.commit({ spoolId, blob: blob.name, size: blob.size, mailbox }).finally(() => delivering.delete(job));
      delivering.add(job);
    },
    drain: async () => {
      while (delivering.size > 0) await Promise.all(delivering);
    },
    stats: () => ({
      batches: spool.stats.batches + delivery.stats.batches,
      prepareMs: spool.stats.prepareMs + delivery.stats.prepareMs,
      transactionMs: spool.stats.transactionMs + delivery.stats.transactionMs,
    }),
  };
}

function openFreshMailbox(db: Db): number {
  return (db.prepare('SELECT id FROM mailboxes LIMIT 1').get() as { id: number }).id;
}

async function run(make: (dataDir: string) => Setup, concurrency: number) {
  const dataDir = mkdtempSync(join(values.dir, 'kakitome-bench-'));
  const setup = make(dataDir);
  const content = Buffer.alloc(size, 'x');
  let issued = 0;
  let done = 0;
  const start = performance.now();
  const writer = async () => {
    while (issued < count && performance.now() - start < maxMs) {
      issued++;
      await setup.deliver(content, setup.mailboxId);
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, writer));
  await setup.drain?.();
  const seconds = (performance.now() - start) / 1000;
  const stats = setup.stats();
  setup.db.close();
  rmSync(dataDir, { recursive: true, force: true });
  return { done, seconds, perSecond: done / seconds, stats };
}

console.log(`${count} deliveries of ${size} bytes, data in ${values.dir}, at most ${maxMs / 1000}s per run`);
console.log(`libuv threadpool: ${process.env.UV_THREADPOOL_SIZE ?? 4} threads (UV_THREADPOOL_SIZE)`);
console.log('concurrency  mode    messages  seconds   msg/s    batches  msgs/batch  dir-fsync-ms  txn-ms');
for (const concurrency of concurrencies) {
  for (const [mode, make] of [
    ['naive', naive],
    ['group', grouped],
    ['spool', spoolFirst],
  ] as const) {
    const result = await run(make, concurrency);
    const batches = result.stats.batches;
    console.log(
      [
        String(concurrency).padStart(11),
        mode.padEnd(6),
        String(result.done).padStart(9),
        result.seconds.toFixed(2).padStart(8),
        result.perSecond.toFixed(0).padStart(7),
        String(batches).padStart(9),
        (result.done / batches).toFixed(1).padStart(10),
        result.stats.prepareMs.toFixed(0).padStart(12),
        result.stats.transactionMs.toFixed(0).padStart(6),
      ].join('  '),
    );
  }
}
