// The content of one message while it arrives (SMTP DATA, later IMAP APPEND and the
// edge forwarder) and until the pipeline has decided. Messages up to SPILL_BYTES stay in
// memory while the process's drafts together stay within a shared budget
// (DraftMemoryBudget); past either, the content goes to a scratch file as it arrives, so
// memory for drafts is bounded however many sessions send at once. The scratch file is a
// reserved message file of the delivery store (never collected as an orphan while in
// use), removed once the message is delivered or refused.
//
// Why in memory when it can be: a message in a file is read again by every step that
// streams it (the engines, the MIME walks) and by the MDA that copies it into the store;
// for a 1.4 MB message that was five reads and about a third of the CPU per message
// (bench/smtp-inbound.ts --attachment 1048576 --yara: 57 → 40 ms), against none from memory.
import { PassThrough } from 'node:stream';
import { MessageContent, type ScratchReader } from './content.ts';

/** A message larger than this always goes to a scratch file. */
export const SPILL_BYTES = 4 * 1024 * 1024;
/** What all drafts in memory may hold together, by default. */
export const DEFAULT_DRAFT_MEMORY_BYTES = 32 * 1024 * 1024;

/** The octets all in-memory drafts of a process may hold together. */
export class DraftMemoryBudget {
  readonly #total: number;
  #used = 0;

  constructor(totalBytes = DEFAULT_DRAFT_MEMORY_BYTES) {
    this.#total = totalBytes;
  }

  /** Takes `bytes` if they fit; false (nothing taken) when they do not. */
  take(bytes: number): boolean {
    if (this.#used + bytes > this.#total) return false;
    this.#used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
  }

  get used(): number {
    return this.#used;
  }
}

/** Without a budget of its own, a writer shares this one (tests, commands). */
const processBudget = new DraftMemoryBudget();

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
  readonly #budget: DraftMemoryBudget;
  /** Octets of the budget this draft holds (its chunks in memory). */
  #held = 0;

  constructor(files: ScratchFiles, budget: DraftMemoryBudget = processBudget) {
    this.#files = files;
    this.#budget = budget;
  }

  get size(): number {
    return this.#size;
  }

  /** Adds content; false when the caller should wait for 'drain' on drainTarget(). */
  append(chunk: Buffer): boolean {
    this.#size += chunk.length;
    if (this.#spill) return this.#spill.stream.write(chunk);
    this.#chunks.push(chunk);
    if (this.#size <= SPILL_BYTES && this.#budget.take(chunk.length)) {
      this.#held += chunk.length;
      return true;
    }
    this.#release();
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

  /** Removes the scratch file, if any (delivered, refused, or abandoned mid-transfer), and gives back its memory. */
  async discard(): Promise<void> {
    if (this.#discarded) return;
    this.#discarded = true;
    this.#chunks = [];
    this.#release();
    if (!this.#spill) return;
    this.#spill.stream.destroy();
    await this.#spill.written.catch(() => {});
    // A scratch copy is never committed: whatever went wrong, it can go.
    await this.#files.abandonMessageFile(this.#spill.file);
  }

  #release(): void {
    this.#budget.give(this.#held);
    this.#held = 0;
  }
}
