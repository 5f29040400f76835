// Where a message's octets live: small messages inside the database, larger ones in
// message files (src/store/blobs.ts). Every reader and remover of message content goes
// through this module, so the rest of the store knows a message only by its name.
//
// Why in the database: a message file costs a create, a data fsync and a directory
// fsync, and each of those is kernel work and journal commits per message; in the
// database a message rides in the batch's one transaction, made durable by the one WAL
// fdatasync that the group commit pays anyway (src/store/group-commit.ts). SQLite's own
// measurement (https://www.sqlite.org/intern-v-extern-blob.html) finds content below
// about 100 KB faster to read from the database than from files with 4 KB pages, and
// larger content faster from files; INLINE_MAX_BYTES follows it. A message that
// arrived too large to hold in memory (the intake's spill file) is a file in any case.
//
// Invariant, as for files: content is inserted in the same transaction as the first row
// that references it, and deleted in the same transaction as the last one (unreferenced()),
// so the database never holds content without a row, nor a row without its content.
// Deleted content goes to SQLite's free pages, as an unlinked file's octets go to free
// blocks: neither is overwritten.
import { Readable } from 'node:stream';
import type { StatementSync } from 'node:sqlite';
import type { BlobEntry, BlobStore } from '../blobs.ts';
import type { Db } from './db.ts';

/** Content up to this size, held in memory when it is written, is stored in the database. */
export const INLINE_MAX_BYTES = 100 * 1024;

export class MessageContents {
  readonly #blobs: BlobStore;
  readonly #inlineMaxBytes: number;
  /** Database-bound content written but not yet inserted: its delivery has not committed. */
  readonly #pending = new Map<string, Uint8Array>();
  readonly #select: StatementSync;
  readonly #delete: StatementSync;
  readonly #referenced: StatementSync;
  readonly #deleteUnreferenced: StatementSync;

  /** `inlineMaxBytes`: 0 puts all content in files (tests of the file path use it). */
  constructor(db: Db, blobs: BlobStore, options: { inlineMaxBytes?: number } = {}) {
    this.#blobs = blobs;
    this.#inlineMaxBytes = options.inlineMaxBytes ?? INLINE_MAX_BYTES;
    this.#select = db.prepare('SELECT content FROM message_contents WHERE name = ?');
    this.#delete = db.prepare('DELETE FROM message_contents WHERE name = ?');
    this.#referenced = db.prepare(
      `SELECT 1 FROM messages WHERE blob = ?1 UNION ALL SELECT 1 FROM queue WHERE blob = ?1
       UNION ALL SELECT 1 FROM quarantine WHERE blob = ?1 LIMIT 1`,
    );
    this.#deleteUnreferenced = db.prepare(
      `DELETE FROM message_contents
        WHERE NOT EXISTS (SELECT 1 FROM messages WHERE blob = message_contents.name)
          AND NOT EXISTS (SELECT 1 FROM queue WHERE blob = message_contents.name)
          AND NOT EXISTS (SELECT 1 FROM quarantine WHERE blob = message_contents.name)`,
    );
  }

  newName(): string {
    return this.#blobs.newName();
  }

  /**
   * Writes content under a new name. In-memory content up to INLINE_MAX_BYTES is kept
   * until the delivery's transaction inserts it (DeliveryRows); anything else becomes
   * a message file with its data fsynced (syncFiles() then makes its name durable).
   */
  async write(name: string, content: Buffer | Uint8Array | AsyncIterable<Uint8Array>): Promise<{ size: number }> {
    if (content instanceof Uint8Array && content.byteLength <= this.#inlineMaxBytes) {
      this.#blobs.path(name); // the same name check as for a file
      this.#pending.set(name, content);
      return { size: content.byteLength };
    }
    const { size } = await this.#blobs.write(content, name);
    return { size };
  }

  /** Before a batch's transaction: fsyncs the shard directories of the names that are files. */
  async syncFiles(names: readonly string[]): Promise<void> {
    await this.#blobs.syncDirs(names.filter((name) => !this.#pending.has(name)));
  }

  /** The content written under `name` if it is database-bound and not committed yet (for DeliveryRows.insert). */
  pendingContent(name: string): Uint8Array | undefined {
    return this.#pending.get(name);
  }

  /** After the delivery committed or was given up: the content is the database's (or nobody's) now. */
  forget(name: string): void {
    this.#pending.delete(name);
  }

  /** Gives up content whose delivery did not commit: a pending one is dropped, a file removed. */
  async abandon(name: string, removeFile: boolean): Promise<void> {
    if (this.#pending.delete(name)) return;
    if (removeFile) await this.#blobs.remove(name).catch(() => {});
  }

  /** The content as a stream, or the octets [start, end) of it. */
  open(name: string, range?: { start: number; end: number }): Readable {
    const inline = this.#inline(name);
    if (inline === undefined) return this.#blobs.open(name, range);
    return Readable.from(range ? [inline.subarray(range.start, Math.max(range.start, range.end))] : [inline]);
  }

  async read(name: string): Promise<Buffer> {
    return this.#inline(name) ?? this.#blobs.read(name);
  }

  /** The content whose size the index gives; a different size is an error, as for files. */
  async readKnownSize(name: string, size: number): Promise<Buffer> {
    const inline = this.#inline(name);
    if (inline === undefined) return this.#blobs.readKnownSize(name, size);
    if (inline.byteLength !== size) throw new Error(`message ${name} has ${inline.byteLength} octets, the index says ${size}`);
    return inline;
  }

  /** Up to maxBytes from the start of the content; empty when there is none. */
  async readStart(name: string, maxBytes: number): Promise<Buffer> {
    const inline = this.#inline(name);
    if (inline !== undefined) return inline.subarray(0, maxBytes);
    return this.#blobs.readStart(name, maxBytes);
  }

  /**
   * Inside the transaction that deleted rows: of the names given, those no row
   * references any more (`freed`). Their database content is deleted right here, with
   * the rows; `files` are the others, for removeFiles() once the transaction has committed.
   */
  unreferenced(names: Iterable<string>): { freed: string[]; files: string[] } {
    const freed: string[] = [];
    const files: string[] = [];
    for (const name of new Set(names)) {
      if (this.#referenced.get(name)) continue;
      freed.push(name);
      if (Number(this.#delete.run(name).changes) === 0) files.push(name);
    }
    return { freed, files };
  }

  /** Whether a row references the name (outside a deleting transaction: for orphan collection). */
  isReferenced(name: string): boolean {
    return this.#referenced.get(name) !== undefined;
  }

  /** Every message file, for orphan collection. */
  files(): AsyncGenerator<BlobEntry> {
    return this.#blobs.entries();
  }

  /** Removes one message file; false if it was not there. */
  removeFile(name: string): Promise<boolean> {
    return this.#blobs.remove(name);
  }

  /** Removes message files whose rows are deleted and committed. */
  async removeFiles(names: Iterable<string>): Promise<void> {
    await Promise.all([...names].map((name) => this.#blobs.remove(name)));
  }

  /**
   * Deletes database content that no row references. unreferenced() leaves none behind,
   * so this finds something only after a defect; it runs with orphan collection at startup.
   */
  collectUnreferenced(): number {
    return Number(this.#deleteUnreferenced.run().changes);
  }

  /** The content if it is database-bound: written and not committed yet (a scratch copy reads back too), or in the database. */
  #inline(name: string): Buffer | undefined {
    const pending = this.#pending.get(name);
    if (pending !== undefined) return Buffer.isBuffer(pending) ? pending : Buffer.from(pending.buffer, pending.byteOffset, pending.byteLength);
    const row = this.#select.get(name) as { content: Uint8Array } | undefined;
    if (row === undefined) return undefined;
    const { content } = row;
    return Buffer.isBuffer(content) ? content : Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  }
}
