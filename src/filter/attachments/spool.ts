// A bounded sink for decoded bodies and extracted archive entries: octets stay in
// memory up to a limit, beyond it they go to a scratch file (mode 0600, a fresh name in
// the directory the caller gives, removed by dispose()), and beyond a maximum size they
// are dropped and the result is marked truncated. Writes are synchronous and queue the
// file I/O in blocks of WRITE_BLOCK octets (a base64 body decodes 57 octets a line: one
// write per line would be a system call per line); the writer awaits drain() between
// pieces, so at most a block and one piece wait.
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { bufferSource, fileSource, type RandomAccess } from './source.ts';

const WRITE_BLOCK = 65_536;

export interface SpoolLimits {
  /** Octets held in memory before a scratch file is opened. */
  memoryLimit: number;
  /** Octets kept at most; more are dropped and the body is marked truncated. */
  maxSize: number;
  /** Where scratch files go. */
  scratchDir: string;
}

export interface SpooledBody extends RandomAccess {
  /** More octets were written than maxSize; the body holds the first maxSize. */
  readonly truncated: boolean;
  /** Octets written, counting the dropped ones. */
  readonly written: number;
  readonly inMemory: boolean;
  /** Closes and removes the scratch file, if any. Safe to call twice. */
  dispose(): Promise<void>;
}

export class Spool {
  readonly #limits: SpoolLimits;
  #chunks: Buffer[] = [];
  #size = 0;
  #written = 0;
  #file: { path: string; handle: Promise<FileHandle> } | undefined;
  #queue: Promise<void> = Promise.resolve();
  #error: unknown;
  #closed = false;
  /** File octets not yet queued: a block filled up to #blockLength. */
  #block: Buffer | undefined;
  #blockLength = 0;
  /** Where #block goes in the file. */
  #blockPosition = 0;
  /**
   * Blocks whose write is done, for reuse: a new block per 64 KiB would leave 20 MiB
   * of garbage for a 20 MiB body whenever the collector runs late.
   */
  #free: Buffer[] = [];

  constructor(limits: SpoolLimits) {
    this.#limits = limits;
  }

  get written(): number {
    return this.#written;
  }

  /** Queues `chunk` (copied, so the caller may reuse it). */
  write(chunk: Buffer): void {
    if (this.#closed) throw new Error('write after the spool was finished');
    this.#written += chunk.length;
    const room = this.#limits.maxSize - this.#size;
    if (room <= 0 || chunk.length === 0) return;
    const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (!this.#file && this.#size + piece.length > this.#limits.memoryLimit) {
      const path = join(this.#limits.scratchDir, `attachment-${randomUUID()}.tmp`);
      this.#file = { path, handle: open(path, 'wx+', 0o600) };
      // A failed open is reported by drain(), not as an unhandled rejection.
      this.#file.handle.catch(() => {});
      // The full blocks held so far go first; the partial one goes on filling.
      let position = 0;
      for (const block of this.#chunks) {
        this.#enqueue(block, position);
        position += block.length;
      }
      this.#chunks = [];
      this.#blockPosition = position;
    }
    let done = 0;
    while (done < piece.length) {
      this.#block ??= (this.#file && this.#free.pop()) || Buffer.allocUnsafe(WRITE_BLOCK);
      const copied = piece.copy(this.#block, this.#blockLength, done);
      done += copied;
      this.#blockLength += copied;
      this.#size += copied;
      if (this.#blockLength === WRITE_BLOCK) this.#endBlock();
    }
  }

  /** The current block is done: to the file queue, or kept in memory. */
  #endBlock(): void {
    if (!this.#block || this.#blockLength === 0) return;
    const block = this.#block.subarray(0, this.#blockLength);
    if (this.#file) {
      this.#enqueue(block, this.#blockPosition, this.#block);
      this.#blockPosition += block.length;
    } else {
      this.#chunks.push(block);
    }
    this.#block = undefined;
    this.#blockLength = 0;
  }

  /** Queues a write of `data`; `recycle`, the block it lies in, is reused once written. */
  #enqueue(data: Buffer, position: number, recycle?: Buffer): void {
    const file = this.#file!;
    this.#queue = this.#queue.then(async () => {
      if (this.#error !== undefined) return;
      try {
        const handle = await file.handle;
        let done = 0;
        while (done < data.length) done += (await handle.write(data, done, data.length - done, position + done)).bytesWritten;
        if (recycle && this.#free.length < 2) this.#free.push(recycle);
      } catch (error) {
        this.#error = error;
      }
    });
  }

  /** Waits for queued file writes; rejects with the scratch file's I/O error, if any. */
  async drain(): Promise<void> {
    await this.#queue;
    if (this.#error !== undefined) throw this.#error;
  }

  /** The octets written, readable at random. */
  async finish(): Promise<SpooledBody> {
    this.#closed = true;
    this.#endBlock();
    try {
      await this.drain();
    } catch (error) {
      await this.discard();
      throw error;
    }
    const truncated = this.#written > this.#size;
    const written = this.#written;
    if (!this.#file) {
      const data = Buffer.concat(this.#chunks, this.#size);
      this.#chunks = [];
      return { ...bufferSource(data), truncated, written, inMemory: true, dispose: async () => {} };
    }
    const { path } = this.#file;
    const handle = await this.#file.handle;
    const source = fileSource(handle, this.#size);
    let disposed = false;
    return {
      size: source.size,
      read: source.read,
      truncated,
      written,
      inMemory: false,
      async dispose() {
        if (disposed) return;
        disposed = true;
        await handle.close().catch(() => {});
        await unlink(path).catch(() => {});
      },
    };
  }

  /** Drops everything and removes the scratch file. */
  async discard(): Promise<void> {
    this.#closed = true;
    this.#chunks = [];
    this.#block = undefined;
    await this.#queue;
    if (!this.#file) return;
    const { path, handle } = this.#file;
    this.#file = undefined;
    await handle.then((h) => h.close()).catch(() => {});
    await unlink(path).catch(() => {});
  }
}
