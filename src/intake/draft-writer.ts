// The content of one message while it arrives (SMTP DATA, later IMAP APPEND and the
// edge forwarder) and until the pipeline has decided. Small messages stay in memory;
// past SPILL_BYTES the content goes to a scratch file as it arrives, so a session never
// holds more than that in memory while reading. The scratch file is a reserved message
// file of the delivery store (never collected as an orphan while in use), removed once
// the message is delivered or refused.
import { PassThrough } from 'node:stream';
import { MessageContent, type ScratchReader } from './content.ts';

export const SPILL_BYTES = 1024 * 1024;

/** The part of the DeliveryStore a message in transit uses for its scratch copy. */
export interface ScratchFiles extends ScratchReader {
  newMessageFile(): string;
  writeMessageFile(name: string, content: AsyncIterable<Uint8Array>): Promise<{ size: number }>;
  abandonMessageFile(name: string, reason?: unknown): Promise<void>;
}

export class DraftWriter {
  readonly #files: ScratchFiles;
  #chunks: Buffer[] = [];
  #size = 0;
  #spill: { file: string; stream: PassThrough; written: Promise<unknown> } | undefined;
  #discarded = false;

  constructor(files: ScratchFiles) {
    this.#files = files;
  }

  get size(): number {
    return this.#size;
  }

  /** Adds content; false when the caller should wait for 'drain' on drainTarget(). */
  append(chunk: Buffer): boolean {
    this.#size += chunk.length;
    if (this.#spill) return this.#spill.stream.write(chunk);
    this.#chunks.push(chunk);
    if (this.#size <= SPILL_BYTES) return true;
    const file = this.#files.newMessageFile();
    const stream = new PassThrough();
    const written = this.#files.writeMessageFile(file, stream);
    written.catch(() => {}); // awaited in finish()
    this.#spill = { file, stream, written };
    const more = stream.write(Buffer.concat(this.#chunks));
    this.#chunks = [];
    return more;
  }

  drainTarget(): PassThrough | undefined {
    return this.#spill?.stream;
  }

  /** The whole content as it arrived (CRLF, unstuffed); a spilled one is read from its file on demand. */
  async finish(): Promise<MessageContent> {
    if (!this.#spill) {
      return MessageContent.fromBuffer(this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#size));
    }
    this.#spill.stream.end();
    await this.#spill.written;
    return MessageContent.fromFile(this.#files, this.#spill.file, this.#size);
  }

  /** Removes the scratch file, if any (delivered, refused, or abandoned mid-transfer). */
  async discard(): Promise<void> {
    if (this.#discarded) return;
    this.#discarded = true;
    this.#chunks = [];
    if (!this.#spill) return;
    this.#spill.stream.destroy();
    await this.#spill.written.catch(() => {});
    // A scratch copy is never committed: whatever went wrong, it can go.
    await this.#files.abandonMessageFile(this.#spill.file);
  }
}
