// Shared setup for the store tests: a real data directory in the system temp dir,
// and users created with plain SQL (the account API is not used here on purpose).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobStore } from '../../src/store/blobs.ts';
import { type Db, openDatabase } from '../../src/store/sqlite/db.ts';
import { MessageStore } from '../../src/store/sqlite/messages.ts';

export function makeTempDir(): string {
  return mkdtempSync(join(tmpdir(), 'kakitome-'));
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface OpenedStore {
  db: Db;
  blobs: BlobStore;
  messages: MessageStore;
}

export function openStore(dataDir: string, options: { maxBatchSize?: number } = {}): OpenedStore {
  const db = openDatabase(join(dataDir, 'store.sqlite'));
  const blobs = BlobStore.open(dataDir);
  return { db, blobs, messages: new MessageStore(db, blobs, options) };
}

/** Inserts the user (and its domain if missing) directly; returns the user id. */
export function createUser(db: Db, address: string): number {
  const domain = address.slice(address.indexOf('@') + 1);
  const now = Date.now();
  db.prepare('INSERT OR IGNORE INTO domains (name, created_at) VALUES (?, ?)').run(domain, now);
  const result = db
    .prepare('INSERT INTO users (address, domain, password_hash, created_at) VALUES (?, ?, ?, ?)')
    .run(address, domain, 'not-a-real-hash', now);
  return Number(result.lastInsertRowid);
}

/** A CRLF message whose bytes and length are a pure function of index. */
export function deterministicMessage(index: number): Buffer {
  const lines = [`Subject: message ${index}`, `Message-ID: <${index}@example.test>`, ''];
  for (let line = 0; line < (index % 37) + 1; line++) lines.push(`line ${line} of message ${index}`);
  return Buffer.from(lines.join('\r\n') + '\r\n');
}

export async function countBlobFiles(blobs: BlobStore): Promise<number> {
  let count = 0;
  for await (const _entry of blobs.entries()) count++;
  return count;
}
