// Opens the metadata database of the embedded store: node:sqlite in WAL mode with
// synchronous=FULL, so that a committed transaction survives a crash or power loss.
import { DatabaseSync } from 'node:sqlite';
import { open } from 'node:fs/promises';
import { migrations } from './migrations.ts';
import { SchemaVersionError } from '../errors.ts';

export type Db = DatabaseSync;

const databaseFiles = new WeakMap<Db, string>();

export { SchemaVersionError };

export function openDatabase(file: string): Db {
  const db = new DatabaseSync(file, { timeout: 10_000 });
  db.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    PRAGMA foreign_keys = ON;
    PRAGMA busy_timeout = 10000;
  `);
  migrate(db);
  databaseFiles.set(db, file);
  return db;
}

/**
 * Commits fn's transaction without blocking the event loop on the WAL fsync, then
 * makes it durable with an fdatasync of the WAL file on the libuv threadpool.
 *
 * With synchronous=NORMAL, SQLite writes the commit's WAL frames but skips the fsync
 * that synchronous=FULL would do inside COMMIT (on the main thread); fdatasync of the
 * WAL file afterwards gives the same guarantee, since fsync applies to the file, not
 * the descriptor. Checkpoints and WAL resets still sync as SQLite does them. Resolve
 * the callers only after the returned promise.
 */
export async function commitDurably<T>(db: Db, fn: () => T): Promise<T> {
  const file = databaseFiles.get(db);
  if (file === undefined) throw new Error('commitDurably needs a database opened by openDatabase');
  db.exec('PRAGMA synchronous = NORMAL');
  let result: T;
  try {
    result = transaction(db, fn);
  } finally {
    db.exec('PRAGMA synchronous = FULL');
  }
  // Opened for each sync: the WAL file can be replaced, and a stale descriptor would sync nothing.
  const wal = await open(`${file}-wal`, 'r');
  try {
    await wal.datasync();
  } finally {
    await wal.close();
  }
  return result;
}

function migrate(db: Db): void {
  const row = db.prepare('PRAGMA user_version').get() as { user_version: number };
  const current = row.user_version;
  if (current > migrations.length) {
    throw new SchemaVersionError(
      `store schema version ${current} is newer than this kakitome understands (${migrations.length}); upgrade kakitome`,
    );
  }
  for (let version = current; version < migrations.length; version++) {
    transaction(db, () => {
      db.exec(migrations[version]!);
      db.exec(`PRAGMA user_version = ${version + 1}`);
    });
  }
}

/**
 * Runs fn inside BEGIN IMMEDIATE … COMMIT and rolls back on any exception. Inside an
 * open transaction it nests as a savepoint, so composed operations stay atomic.
 */
export function transaction<T>(db: Db, fn: () => T): T {
  if (db.isTransaction) return savepoint(db, fn);
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (err) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
}

function savepoint<T>(db: Db, fn: () => T): T {
  db.exec('SAVEPOINT nested');
  try {
    const result = fn();
    db.exec('RELEASE nested');
    return result;
  } catch (err) {
    db.exec('ROLLBACK TO nested');
    db.exec('RELEASE nested');
    throw err;
  }
}
