// The content of one DATA phase while it arrives and until it is stored. Small
// messages stay in memory and are written once, with the header fields the policy
// adds (Authentication-Results, DKIM-Signature, Received) in front, in one fsynced
// file; a message larger than SPILL_BYTES goes to a scratch file as it arrives, so a
// session never holds more than that in memory while reading.
import { PassThrough } from 'node:stream';
import type { BlobStore } from '../store/blobs.ts';
import type { MessageStore } from '../store/sqlite/messages.ts';

export const SPILL_BYTES = 1024 * 1024;

export interface StoredFile {
  file: string;
  size: number;
}

export class IncomingMessage {
  readonly #messages: MessageStore;
  readonly #blobs: BlobStore;
  #chunks: Buffer[] = [];
  #size = 0;
  #spill: { file: string; stream: PassThrough; written: Promise<unknown> } | undefined;
  /** Files written for this message and not yet committed or removed. */
  readonly #files = new Set<string>();

  constructor(messages: MessageStore, blobs: BlobStore) {
    this.#messages = messages;
    this.#blobs = blobs;
  }

  get size(): number {
    return this.#size;
  }

  /** Adds content; false when the caller should wait for 'drain' on `drainTarget()`. */
  append(chunk: Buffer): boolean {
    this.#size += chunk.length;
    if (this.#spill) return this.#spill.stream.write(chunk);
    this.#chunks.push(chunk);
    if (this.#size <= SPILL_BYTES) return true;
    const file = this.#messages.newMessageFile();
    this.#files.add(file);
    const stream = new PassThrough();
    const written = this.#blobs.write(stream, file);
    written.catch(() => {}); // awaited in content()
    this.#spill = { file, stream, written };
    const more = stream.write(Buffer.concat(this.#chunks));
    this.#chunks = [];
    return more;
  }

  drainTarget(): PassThrough | undefined {
    return this.#spill?.stream;
  }

  /** The whole content, CRLF and unstuffed (read back from the scratch file when spilled). */
  async content(): Promise<Buffer> {
    if (!this.#spill) return this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    this.#spill.stream.end();
    await this.#spill.written;
    return this.#blobs.read(this.#spill.file);
  }

  /**
   * Writes the message file to commit: `prefix` (header fields, CRLF-terminated) then
   * `content` (default: the content as received), fdatasynced. The caller commits it
   * with MessageStore.commitDelivery, which takes it out of this message's care.
   */
  async store(prefix: string, content?: Buffer): Promise<StoredFile> {
    const body = content ?? (await this.content());
    const file = this.#messages.newMessageFile();
    this.#files.add(file);
    const { size } = await this.#blobs.write(Buffer.concat([Buffer.from(prefix), body]), file);
    return { file, size };
  }

  /** A file from store() was committed: it is the store's now. */
  committed(file: string): void {
    this.#files.delete(file);
  }

  /** Removes every file this message wrote that was not committed (refused, failed, abandoned). */
  async discard(reason?: unknown): Promise<void> {
    this.#spill?.stream.destroy();
    this.#chunks = [];
    const files = [...this.#files];
    this.#files.clear();
    await Promise.all(files.map((file) => this.#messages.abandonMessageFile(file, reason)));
  }
}
