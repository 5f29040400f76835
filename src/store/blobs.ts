// Message files of the embedded store: one file per message that is not kept in the
// database (larger than 100 KB, or spilled while it arrived: src/store/sqlite/contents.ts).
//
// SECURITY: no user input ever becomes a file path. Names are random ids made here
// (26 lower-case base32 characters of 16 random bytes) and every name is checked
// against a strict pattern before it is joined to the root, so a bad name cannot
// escape <dataDir>/blobs. Directories are 0700, files 0600, and the root and its
// shards must be real directories, not symlinks.
//
// Durability is split in two so that a group committer can batch it: write() makes
// the file's data durable, syncDirs() fsyncs the shard directories holding the new entries.
// A message is durable only after both, and after its row is committed. New names come
// from one shard at a time (newName()), so that a batch has one or two directories to
// fsync rather than one per message.
import { close, closeSync, constants, createReadStream, fsyncSync, lstatSync, mkdirSync, open as openFd, openSync, write as writeFd } from 'node:fs';
import { lstat, open, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomOctets } from '../mail/random-id.ts';
import { Readable } from 'node:stream';

const BASE32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
// 128 bits = 25 full characters + one carrying 3 bits (its 2 low bits are zero padding),
// so the last character is one of the 8 values that are multiples of 4.
const BLOB_NAME = /^[a-z2-7]{25}[aeimquy4]$/;
const SHARD_COUNT = 256;
/** New names in a row that share a shard (then the next shard is taken, in turn). */
const NAMES_PER_SHARD = 64;

export class InvalidBlobNameError extends Error {}

/** A fresh random id: 26 lower-case base32 characters (RFC 4648 alphabet) of 16 random bytes. */
export function newBlobName(): string {
  return base32(randomOctets(16));
}

export function isBlobName(name: string): boolean {
  return BLOB_NAME.test(name);
}

export interface WrittenBlob {
  name: string;
  size: number;
}

export interface BlobEntry {
  name: string;
  mtimeMs: number;
}

export class BlobStore {
  readonly root: string;
  #shard = randomOctets(1)[0]!;
  #namesLeftInShard = NAMES_PER_SHARD;

  private constructor(root: string) {
    this.root = root;
  }

  /**
   * Opens (creating on first use) <dataDir>/blobs with its 256 shard directories.
   * Synchronous: it runs once at startup, next to the synchronous database open.
   */
  static open(dataDir: string): BlobStore {
    const root = join(dataDir, 'blobs');
    const rootCreated = ensureDirectorySync(root);
    let shardCreated = false;
    for (let shard = 0; shard < SHARD_COUNT; shard++) {
      if (ensureDirectorySync(join(root, shardName(shard)))) shardCreated = true;
    }
    // New directory entries are durable only once their parent is fsynced; shards are
    // made here, up front, so that write() never has to create a directory.
    if (shardCreated) syncDirectorySync(root);
    if (rootCreated) syncDirectorySync(dataDir);
    return new BlobStore(root);
  }

  /**
   * A fresh name for a new file: 16 random octets, but the first (which picks the
   * shard) is shared by NAMES_PER_SHARD names in a row. Files written together then
   * sit in one or two shard directories, and a batch fsyncs those instead of one
   * directory per message; taken in turn, the shards still fill evenly. 120 random bits
   * are left, and write() creates with O_EXCL, so a name is never reused.
   */
  newName(): string {
    if (this.#namesLeftInShard === 0) {
      this.#shard = (this.#shard + 1) % SHARD_COUNT;
      this.#namesLeftInShard = NAMES_PER_SHARD;
    }
    this.#namesLeftInShard--;
    const octets = randomOctets(16);
    octets[0] = this.#shard;
    return base32(octets);
  }

  /** The file path of a blob; throws InvalidBlobNameError for anything but a well-formed id. */
  path(name: string): string {
    return join(this.root, this.shardOf(name), name);
  }

  /**
   * Writes content to a new file and fsyncs its data. Does NOT fsync the directory:
   * call syncDirs() (once per batch) before treating the blob as durable.
   * The file is created under its final name with O_EXCL, so an existing file is never
   * overwritten; a crash mid-write leaves a file no row references (an orphan), which
   * is why no tmp+rename step is needed.
   */
  async write(
    content: Buffer | Uint8Array | AsyncIterable<Uint8Array>,
    name: string = this.newName(),
  ): Promise<WrittenBlob> {
    const file = this.path(name);
    if (content instanceof Uint8Array) return { name, size: await writeDurably(file, content) };
    const handle = await open(file, 'wx', 0o600);
    let size = 0;
    try {
      await handle.writeFile(countBytes(content, (n) => (size += n)));
      await handle.datasync();
    } catch (err) {
      await handle.close().catch(() => {});
      await unlink(file).catch(() => {});
      throw err;
    }
    await handle.close();
    return { name, size };
  }

  /** Fsyncs every shard directory holding one of the names, each once, concurrently. */
  async syncDirs(names: Iterable<string>): Promise<void> {
    const shards = new Set<string>();
    for (const name of names) shards.add(this.shardOf(name));
    await Promise.all([...shards].map((shard) => syncDirectory(join(this.root, shard))));
  }

  /** A stream of the file, or of the octets [start, end) of it. */
  open(name: string, range?: { start: number; end: number }): Readable {
    if (!range) return createReadStream(this.path(name));
    const file = this.path(name);
    if (range.end <= range.start) return Readable.from([]);
    // createReadStream's end is inclusive.
    return createReadStream(file, { start: range.start, end: range.end - 1 });
  }

  async read(name: string): Promise<Buffer> {
    return readFile(this.path(name));
  }

  /**
   * Reads a file whose size is known (the index has it): open, one read, close — fewer
   * threadpool round trips than readFile's fstat and read-to-EOF. A size that does not
   * match the file is an error, never a short or padded message.
   */
  async readKnownSize(name: string, size: number): Promise<Buffer> {
    const handle = await open(this.path(name), 'r');
    try {
      const buffer = Buffer.allocUnsafe(size);
      const { bytesRead } = size === 0 ? { bytesRead: 0 } : await handle.read(buffer, 0, size, 0);
      if (bytesRead !== size) throw new Error(`message file ${name} has ${bytesRead} octets, the index says ${size}`);
      return buffer;
    } finally {
      await handle.close();
    }
  }

  /** Up to maxBytes from the start of the file; empty when there is no such file. */
  async readStart(name: string, maxBytes: number): Promise<Buffer> {
    let handle;
    try {
      handle = await open(this.path(name), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
      throw error;
    }
    try {
      const buffer = Buffer.alloc(maxBytes);
      const { bytesRead } = await handle.read(buffer, 0, maxBytes, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  /** Removes a blob; false if it did not exist. */
  async remove(name: string): Promise<boolean> {
    try {
      await unlink(this.path(name));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /** Every blob file with its modification time; files with other names are skipped, never touched. */
  async *entries(): AsyncGenerator<BlobEntry> {
    for (let shard = 0; shard < SHARD_COUNT; shard++) {
      const dir = join(this.root, shardName(shard));
      for (const name of await readdir(dir)) {
        if (!isBlobName(name) || this.shardOf(name) !== shardName(shard)) continue;
        try {
          const stats = await lstat(join(dir, name));
          if (stats.isFile()) yield { name, mtimeMs: stats.mtimeMs };
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
    }
  }

  /** The shard is the id's first random byte (its first 8 bits), as two hex digits. */
  private shardOf(name: string): string {
    if (!isBlobName(name)) throw new InvalidBlobNameError(`invalid blob name: ${JSON.stringify(name)}`);
    const high = BASE32_ALPHABET.indexOf(name[0]!);
    const low = BASE32_ALPHABET.indexOf(name[1]!);
    return shardName((high << 3) | (low >> 2));
  }
}

function shardName(shard: number): string {
  return shard.toString(16).padStart(2, '0');
}

function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

const openFile = promisify(openFd);
const writeFile = promisify(writeFd);
const closeFile = promisify(close);
/** O_DSYNC: each write returns once its data (and the size that locates it) is on disk, as fdatasync would make it. */
const CREATE_DURABLE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DSYNC;

/**
 * Writes content that is in memory to a new file, durably: open with O_DSYNC, write,
 * close — one system call fewer than write and fdatasync, and plain descriptors rather
 * than FileHandle objects, which cost the main thread more per call. On failure the
 * file is removed.
 */
async function writeDurably(file: string, content: Uint8Array): Promise<number> {
  const fd = await openFile(file, CREATE_DURABLE, 0o600);
  try {
    for (let offset = 0; offset < content.byteLength; ) {
      const { bytesWritten } = await writeFile(fd, content, offset, content.byteLength - offset, null);
      offset += bytesWritten;
    }
  } catch (err) {
    await closeFile(fd).catch(() => {});
    await unlink(file).catch(() => {});
    throw err;
  }
  await closeFile(fd);
  return content.byteLength;
}

async function* countBytes(
  chunks: AsyncIterable<Uint8Array>,
  count: (bytes: number) => void,
): AsyncGenerator<Uint8Array> {
  for await (const chunk of chunks) {
    // A string chunk would be written in some encoding and miscounted: refuse it.
    if (!(chunk instanceof Uint8Array)) throw new TypeError('blob content chunks must be Uint8Array');
    count(chunk.byteLength);
    yield chunk;
  }
}

/** Creates dir with mode 0700 if missing; true if it was created. Refuses symlinks and non-directories. */
function ensureDirectorySync(dir: string): boolean {
  try {
    mkdirSync(dir, { mode: 0o700 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  if (!lstatSync(dir).isDirectory()) throw new Error(`${dir} exists and is not a directory`);
  return false;
}

function syncDirectorySync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Fsyncs a directory so that entries created or removed in it survive a crash. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
