// Durable delivery throughput of the message store: naive per-message commits (fsync
// file, fsync its directory, one transaction each) against the group committer, at
// several concurrencies. Every run uses a fresh data directory on the same filesystem.
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
}

function openFresh(dataDir: string): { db: Db; blobs: BlobStore; messages: SqliteMessageStore; userId: number; mailboxId: number } {
  const db = openDatabase(join(dataDir, 'store.sqlite'));
  const blobs = BlobStore.open(dataDir);
  const messages = new SqliteMessageStore(db, blobs);
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
