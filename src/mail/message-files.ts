// Raw messages from a user's saved mail, for `kakitome spam train|eval`: an mbox file, a
// Maildir, a directory of message files, or one message file. Every message comes out
// with CRLF line endings, as the mail parsers and the classifier here expect.
//
// STANDARDS: RFC 4155 (application/mbox; the From_ line), the mboxrd quoting of
// ">From " lines (an mboxo file unquotes the same way: its only quoted lines are
// ">From ", written for "From "; an original ">From " in an mboxo file loses its '>',
// which no reader can avoid); Maildir as written by qmail, Dovecot and Courier (cur/,
// new/, tmp/). mbox files are read in chunks, never whole.
//
// The mbox splitting rule. A line that starts with "From " opens a new message when
//   - it is the first line of the file or follows an empty line (RFC 4155: every writer
//     ends a message with an empty line and quotes a body line starting "From "), or
//   - it looks like a From_ line itself — after "From ", a month name, a time hh:mm and
//     a four-digit year, as in every writer's asctime date ("From - Sat Jan 01 00:00:00
//     2000" of Thunderbird, "From a@b Mon Jan  1 10:00:00 +0000 2018" of Gmail's export)
//     — and is at most 1,000 octets (mutt's is_from() in spirit): this splits the files
//     whose writer left out the empty line.
// Any other line, "From here on…" after a text line among them, is body. The From_ line
// is removed; a line of one or more '>' followed by "From " loses one '>'; the one
// empty line before a From_ line (and at the end of the file) separates and is dropped;
// lines before the first From_ line belong to no message.
import { constants } from 'node:fs';
import { access, open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

export interface MessageFile {
  /** Where it came from, for messages: "path" or "path#N" (Nth message of an mbox, 1-based). */
  name: string;
  bytes: Buffer;
}

export type CollectionKind = 'mbox' | 'maildir' | 'eml-directory' | 'eml';

export interface ReadMessagesOptions {
  /** A message larger than this (with CRLF line endings) is skipped, not cut. Default 30 MiB. */
  maxMessageBytes?: number;
  /** Told of every message that is not yielded, and why (empty, too large, gone). */
  onSkip?: (name: string, reason: string) => void;
}

export const DEFAULT_MAX_MESSAGE_BYTES = 30 * 1024 * 1024;
/** How much of an mbox is read at a time. */
const CHUNK_BYTES = 256 * 1024;
/** RFC 5322 §2.1.1: 998 octets and CRLF; a longer line is no From_ line. */
const MAX_FROM_LINE = 1000;

const LF = 0x0a;
const CR = 0x0d;
const GT = 0x3e;
const CRLF = Buffer.from('\r\n');
const FROM_ = Buffer.from('From ');

const startsWithFrom = (line: Buffer) => line[0] === FROM_[0] && line.length >= FROM_.length && line.compare(FROM_, 0, FROM_.length, 0, FROM_.length) === 0;

/** The date of a From_ line: a month name, a time and a year, anywhere after "From ". */
const DATE_PARTS = [/\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b/, /\b\d{1,2}:\d{2}\b/, /\b\d{4}\b/];

/** A line that starts with "From " and carries a date, so a From_ line even without an empty line before it. */
export function looksLikeFromLine(line: Buffer): boolean {
  if (line.length > MAX_FROM_LINE || !startsWithFrom(line)) return false;
  const rest = line.toString('latin1', FROM_.length);
  return DATE_PARTS.every((part) => part.test(rest));
}

/** mboxrd: ">From ", ">>From "… lose one '>'. */
function unquote(line: Buffer): Buffer {
  if (line[0] !== GT) return line;
  let i = 1;
  while (line[i] === GT) i++;
  return startsWithFrom(line.subarray(i)) ? line.subarray(1) : line;
}

/** A message split off an mbox, or null for one over the size limit (its bytes were dropped). */
export type SplitMessage = Buffer | null;

/**
 * The mbox parser, incremental: push chunks cut anywhere, then end(). Holds at most one
 * message within the limit and one line; a line longer than the limit is not held
 * (its message is over the limit anyway, or it is a From_ line, whose text is dropped).
 */
export class MboxSplitter {
  readonly #limit: number;
  /** Past this, an unfinished line is decided on its first bytes and its rest dropped. */
  readonly #longLine: number;
  #partial: Buffer[] = [];
  #partialLength = 0;
  #droppingLine = false;
  /** The start of the file counts as after an empty line. */
  #afterBlank = true;
  #inMessage = false;
  #parts: Buffer[] = [];
  #size = 0;
  #oversized = false;
  /** Empty lines held back: the last one before a From_ line separates, it is not content. */
  #blanks = 0;

  constructor(maxMessageBytes = Infinity) {
    this.#limit = maxMessageBytes;
    // Room for the CR, the LF and one unquoted '>': a line past this is over the limit.
    this.#longLine = Math.max(maxMessageBytes, MAX_FROM_LINE) + 8;
  }

  push(chunk: Buffer, out: SplitMessage[]): void {
    let start = 0;
    while (start < chunk.length) {
      const lf = chunk.indexOf(LF, start);
      if (lf < 0) {
        this.#hold(chunk.subarray(start), out);
        return;
      }
      const piece = chunk.subarray(start, lf);
      if (this.#droppingLine) {
        this.#droppingLine = false; // its LF: the next line starts
      } else if (this.#partialLength > 0) {
        const line = Buffer.concat([...this.#partial, piece]);
        this.#partial = [];
        this.#partialLength = 0;
        this.#line(line, true, out);
      } else {
        this.#line(piece, true, out);
      }
      start = lf + 1;
    }
  }

  end(out: SplitMessage[]): void {
    if (!this.#droppingLine && this.#partialLength > 0) this.#line(Buffer.concat(this.#partial), false, out);
    this.#partial = [];
    this.#partialLength = 0;
    this.#droppingLine = false;
    if (this.#inMessage) this.#finish(out);
    this.#inMessage = false;
    this.#afterBlank = true;
  }

  /** One line without its LF; `terminated` is false only for a last line with no LF. */
  #line(line: Buffer, terminated: boolean, out: SplitMessage[]): void {
    const content = terminated && line[line.length - 1] === CR ? line.subarray(0, -1) : line;
    if (startsWithFrom(content) && (this.#afterBlank || looksLikeFromLine(content))) {
      this.#openMessage(out);
      return;
    }
    this.#afterBlank = terminated && content.length === 0;
    if (!this.#inMessage) return;
    if (this.#afterBlank) {
      this.#blanks++;
      return;
    }
    this.#flushBlanks();
    this.#append(unquote(content));
    if (terminated) this.#append(CRLF);
  }

  #hold(piece: Buffer, out: SplitMessage[]): void {
    if (this.#droppingLine) return;
    this.#partial.push(piece);
    this.#partialLength += piece.length;
    if (this.#partialLength <= this.#longLine) return;
    // Too long to be a From_ line by its date (MAX_FROM_LINE), and a body line this long
    // puts its message over the limit: only its first five bytes still matter.
    const head = Buffer.concat(this.#partial).subarray(0, FROM_.length);
    if (startsWithFrom(head) && this.#afterBlank) {
      this.#openMessage(out);
    } else if (this.#inMessage) {
      this.#flushBlanks();
      this.#size += this.#partialLength;
      this.#oversized = true;
      this.#parts = [];
    }
    this.#afterBlank = false;
    this.#partial = [];
    this.#partialLength = 0;
    this.#droppingLine = true;
  }

  #openMessage(out: SplitMessage[]): void {
    if (this.#inMessage) this.#finish(out);
    this.#inMessage = true;
    this.#afterBlank = false;
  }

  #append(bytes: Buffer): void {
    this.#size += bytes.length;
    if (this.#oversized) return;
    if (this.#size > this.#limit) {
      this.#oversized = true;
      this.#parts = [];
      return;
    }
    this.#parts.push(bytes);
  }

  #flushBlanks(): void {
    if (this.#blanks > 0) this.#append(Buffer.from('\r\n'.repeat(this.#blanks)));
    this.#blanks = 0;
  }

  #finish(out: SplitMessage[]): void {
    if (this.#blanks > 0) this.#blanks--; // the separating empty line
    this.#flushBlanks();
    out.push(this.#oversized ? null : Buffer.concat(this.#parts, this.#size));
    this.#parts = [];
    this.#size = 0;
    this.#oversized = false;
  }
}

/** Splits an mbox held in memory: every message, empty ones included, in order. */
export function splitMbox(bytes: Buffer): Buffer[] {
  const out: SplitMessage[] = [];
  const splitter = new MboxSplitter();
  splitter.push(bytes, out);
  splitter.end(out);
  return out as Buffer[]; // no limit, so no null
}

/** Bare LF becomes CRLF; CRLF stays. The same bytes when there is no bare LF. */
function withCrlf(bytes: Buffer): Buffer {
  let bare = 0;
  for (let i = bytes.indexOf(LF); i >= 0; i = bytes.indexOf(LF, i + 1)) if (bytes[i - 1] !== CR) bare++;
  if (bare === 0) return bytes;
  const out = Buffer.allocUnsafe(bytes.length + bare);
  let from = 0;
  let to = 0;
  for (let i = bytes.indexOf(LF); i >= 0; i = bytes.indexOf(LF, i + 1)) {
    if (bytes[i - 1] === CR) continue;
    to += bytes.copy(out, to, from, i);
    out[to++] = CR;
    from = i; // the LF is copied with the next stretch
  }
  bytes.copy(out, to, from);
  return out;
}

const REASONS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOTDIR: 'a path component is not a directory',
  ELOOP: 'too many symbolic links',
  EISDIR: 'is a directory',
};

/** One line naming the path, for the command's user. */
function pathError(path: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason = (code && REASONS[code]) ?? (code ? `cannot be read (${code})` : String(error).split('\n')[0]);
  return new Error(`${path}: ${reason}`, { cause: error });
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw pathError(path, error);
  }
}

const isMaildir = async (dir: string) => (await isDirectory(join(dir, 'cur'))) || (await isDirectory(join(dir, 'new')));

/** An opened message file and whether it is an mbox (its first line starts with "From "); undefined if it is gone. */
async function openMessageFile(path: string): Promise<{ handle: FileHandle; mbox: boolean } | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw pathError(path, error);
  }
  try {
    const head = Buffer.alloc(FROM_.length);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return { handle, mbox: bytesRead === head.length && head.equals(FROM_) };
  } catch (error) {
    await handle.close();
    throw pathError(path, error);
  }
}

/**
 * What a path is: a Maildir (a directory with cur/ or new/), a directory of message
 * files, an mbox (its first line starts with "From ") or one message file. A missing
 * or unreadable path, or another kind of file, is an Error of one line naming it.
 */
export async function collectionKind(path: string): Promise<CollectionKind> {
  let stats;
  try {
    stats = await stat(path);
  } catch (error) {
    throw pathError(path, error);
  }
  if (stats.isDirectory()) {
    try {
      await access(path, constants.R_OK | constants.X_OK);
    } catch (error) {
      throw pathError(path, error);
    }
    return (await isMaildir(path)) ? 'maildir' : 'eml-directory';
  }
  if (!stats.isFile()) throw new Error(`${path}: not a file or a directory (an mbox, a Maildir, a directory of messages or a message file)`);
  const file = await openMessageFile(path);
  if (!file) throw new Error(`${path}: ${REASONS.ENOENT}`);
  await file.handle.close();
  return file.mbox ? 'mbox' : 'eml';
}

/** The names in a directory that may hold messages (no dot files), sorted by code unit for the same order everywhere. */
async function entries(dir: string) {
  let list;
  try {
    list = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw pathError(dir, error);
  }
  return list.filter((entry) => !entry.name.startsWith('.')).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** A regular file, or a symbolic link to one (links to directories are not followed: no cycles). */
async function isMessageFile(dir: string, entry: { name: string; isFile(): boolean; isSymbolicLink(): boolean }): Promise<boolean> {
  if (entry.isFile()) return true;
  if (!entry.isSymbolicLink()) return false;
  return stat(join(dir, entry.name)).then((s) => s.isFile(), () => false);
}

/**
 * The message files of a collection in order: a Maildir's cur/ then new/ (not tmp/,
 * nor Maildir++ subfolders, whose names start with '.'), a directory's files depth
 * first by name (a subdirectory that is a Maildir read as one).
 */
async function* messageFilePaths(path: string, kind: CollectionKind): AsyncGenerator<string> {
  if (kind === 'mbox' || kind === 'eml') {
    yield path;
  } else if (kind === 'maildir') {
    for (const sub of ['cur', 'new']) {
      const dir = join(path, sub);
      if (!(await isDirectory(dir))) continue;
      for (const entry of await entries(dir)) if (await isMessageFile(dir, entry)) yield join(dir, entry.name);
    }
  } else {
    for (const entry of await entries(path)) {
      const child = join(path, entry.name);
      if (entry.isDirectory()) yield* messageFilePaths(child, (await isMaildir(child)) ? 'maildir' : 'eml-directory');
      else if (await isMessageFile(path, entry)) yield child;
    }
  }
}

/** The mbox in an open file, message by message, read in chunks. */
async function* splitMboxFile(handle: FileHandle, path: string, limit: number): AsyncGenerator<SplitMessage> {
  const splitter = new MboxSplitter(limit);
  const out: SplitMessage[] = [];
  for (let position = 0; ; ) {
    // A new buffer each time: messages hold slices of it until they are complete.
    const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(chunk, 0, chunk.length, position));
    } catch (error) {
      throw pathError(path, error);
    }
    position += bytesRead;
    if (bytesRead === 0) splitter.end(out);
    else splitter.push(chunk.subarray(0, bytesRead), out);
    yield* out;
    out.length = 0;
    if (bytesRead === 0) return;
  }
}

const tooLarge = (limit: number) => `larger than ${limit} bytes`;

async function* fileMessages(path: string, limit: number, onSkip: (name: string, reason: string) => void): AsyncGenerator<MessageFile> {
  const file = await openMessageFile(path);
  if (!file) return onSkip(path, 'gone before it could be read');
  const { handle } = file;
  try {
    if (file.mbox) {
      let n = 0;
      for await (const bytes of splitMboxFile(handle, path, limit)) {
        const name = `${path}#${++n}`;
        if (bytes === null) onSkip(name, tooLarge(limit));
        else if (bytes.length === 0) onSkip(name, 'empty');
        else yield { name, bytes };
      }
      return;
    }
    let bytes: Buffer;
    try {
      const { size } = await handle.stat();
      if (size === 0) return onSkip(path, 'empty');
      if (size > limit) return onSkip(path, tooLarge(limit)); // CRLF only adds
      bytes = await handle.readFile();
    } catch (error) {
      throw pathError(path, error);
    }
    bytes = withCrlf(bytes);
    if (bytes.length === 0) onSkip(path, 'empty'); // it shrank since stat
    else if (bytes.length > limit) onSkip(path, tooLarge(limit));
    else yield { name: path, bytes };
  } finally {
    await handle.close();
  }
}

/**
 * Every message of the collection in a stable order, with CRLF line endings. Empty
 * messages, those over maxMessageBytes and files that vanish (a mail program moving
 * new/ to cur/) are not yielded but told to onSkip. A file in a directory whose first
 * line starts with "From " is read as an mbox too. Errors are one line naming the path.
 */
export async function* readMessages(path: string, options: ReadMessagesOptions = {}): AsyncIterable<MessageFile> {
  const limit = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (!(limit >= 0)) throw new RangeError(`maxMessageBytes must be a number of bytes, not ${limit}`);
  const onSkip = options.onSkip ?? (() => {});
  for await (const file of messageFilePaths(path, await collectionKind(path))) yield* fileMessages(file, limit, onSkip);
}

/**
 * How many messages readMessages will yield or tell onSkip of (so a progress bar moves
 * on both), without keeping any: an mbox is read through, keeping no message text.
 */
export async function countMessages(path: string): Promise<number> {
  let count = 0;
  for await (const filePath of messageFilePaths(path, await collectionKind(path))) {
    const file = await openMessageFile(filePath);
    if (!file) continue;
    try {
      if (!file.mbox) count++;
      // With a limit of 0 every message is dropped as it is read: only the count is kept.
      else for await (const _ of splitMboxFile(file.handle, filePath, 0)) count++;
    } finally {
      await file.handle.close();
    }
  }
  return count;
}
