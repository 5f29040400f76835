import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import { BatchCommitError, GroupCommitter } from '../../src/store/group-commit.ts';
import { type Db, openDatabase } from '../../src/store/sqlite/db.ts';
import { makeTempDir, removeTempDir } from './helpers.ts';

interface Item {
  value: string;
  parent?: number;
  deferForeignKeys?: boolean;
}

describe('GroupCommitter', () => {
  const dataDir = makeTempDir();
  let db: Db;
  after(() => removeTempDir(dataDir));

  beforeEach(() => {
    db = openDatabase(join(dataDir, `t${Date.now()}${Math.random()}.sqlite`));
    db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, value TEXT NOT NULL, parent INTEGER REFERENCES items(id))');
  });
  afterEach(() => db.close());

  function committer(options: { maxBatchSize?: number; prepare?: (items: readonly Item[]) => Promise<void> } = {}) {
    const insert = db.prepare('INSERT INTO items (value, parent) VALUES (?, ?)');
    return new GroupCommitter<Item, number>({
      db,
      apply: (item) => {
        // Makes the foreign key check happen at COMMIT, so that COMMIT itself fails.
        if (item.deferForeignKeys) db.exec('PRAGMA defer_foreign_keys = ON');
        return Number(insert.run(item.value, item.parent ?? null).lastInsertRowid);
      },
      ...options,
    });
  }

  const rowCount = () => (db.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n;

  test('gathers concurrent commits into bounded batches, in arrival order', async () => {
    const group = committer({ maxBatchSize: 256 });
    const ids = await Promise.all(Array.from({ length: 600 }, (_, i) => group.commit({ value: `v${i}` })));
    assert.deepEqual(ids, Array.from({ length: 600 }, (_, i) => i + 1));
    assert.equal(rowCount(), 600);
    const stats = group.stats;
    assert.equal(stats.items, 600);
    assert.equal(stats.batches, 3);
    assert.equal(stats.largestBatch, 256);
    assert.equal(stats.failedBatches, 0);
  });

  test('items arriving during a batch form the next batch', async () => {
    let releasePrepare!: () => void;
    const prepareCalls: number[] = [];
    const group = committer({
      prepare: async (items) => {
        prepareCalls.push(items.length);
        if (prepareCalls.length === 1) await new Promise<void>((resolve) => (releasePrepare = resolve));
      },
    });
    const first = group.commit({ value: 'first' });
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    const rest = Array.from({ length: 10 }, (_, i) => group.commit({ value: `later${i}` }));
    releasePrepare();
    await Promise.all([first, ...rest]);
    assert.deepEqual(prepareCalls, [1, 10]);
    assert.equal(group.stats.batches, 2);
  });

  test('a failing item is rolled back alone; the rest of its batch commits', async () => {
    const group = committer();
    const results = await Promise.allSettled([
      group.commit({ value: 'ok1' }),
      group.commit({ value: 'bad', parent: 999 }),
      group.commit({ value: 'ok2' }),
    ]);
    assert.equal(results[0]!.status, 'fulfilled');
    assert.equal(results[1]!.status, 'rejected');
    assert.match(String((results[1] as PromiseRejectedResult).reason), /FOREIGN KEY/);
    assert.equal(results[2]!.status, 'fulfilled');
    assert.deepEqual(
      db.prepare('SELECT value FROM items ORDER BY id').all().map((row) => row.value),
      ['ok1', 'ok2'],
    );
    assert.equal(group.stats.batches, 1);
  });

  test('a failing prepare rejects every caller of the batch and writes nothing', async () => {
    const group = committer({
      prepare: async () => {
        throw new Error('fsync failed');
      },
    });
    const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => group.commit({ value: `v${i}` })));
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      assert.ok(result.reason instanceof BatchCommitError);
      assert.match(String((result.reason as Error).cause), /fsync failed/);
    }
    assert.equal(rowCount(), 0);
    assert.equal(group.stats.failedBatches, 1);
    assert.equal(group.stats.batches, 0);
  });

  test('never nests its batch inside a transaction someone left open', async () => {
    const group = committer();
    const pending = group.commit({ value: 'v' });
    db.exec('BEGIN');
    await assert.rejects(pending, BatchCommitError);
    db.exec('ROLLBACK');
    assert.equal(rowCount(), 0);
  });

  test('a failing COMMIT rolls the whole batch back and rejects every caller', async () => {
    const group = committer();
    const results = await Promise.allSettled([
      group.commit({ value: 'innocent1' }),
      group.commit({ value: 'poison', parent: 999, deferForeignKeys: true }),
      group.commit({ value: 'innocent2' }),
    ]);
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      assert.ok(result.reason instanceof BatchCommitError);
    }
    assert.equal(db.isTransaction, false);
    assert.equal(rowCount(), 0);
    // The committer keeps working after a failed batch.
    assert.equal(await group.commit({ value: 'after' }), 1);
    await group.idle();
    assert.equal(rowCount(), 1);
  });
});
