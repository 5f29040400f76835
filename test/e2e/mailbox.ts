// What a user finds in their mailbox, seen the way the user sees it: logged in over
// POP3S (the instance's certificate and hostname verified), LIST, RETR of every
// message, QUIT without DELE. End-to-end delivery checks use this, so they pass only
// when the message can really be fetched, not merely when a row and a file exist
// (tests about storage itself read the store: store-files.ts).
//
// The reader is byte-exact (a Buffer, not decoded text): RFC 1939 §3 dot-unstuffing
// on CRLF lines only, so a bare CR or LF inside a message stays where it was.
//
// It connects from its own loopback address (MAILBOX_READER_ADDRESS) so that its
// logins never count towards a test's per-address limits, grants (POP-before-SMTP)
// or lockouts. A wrong password is never retried (that would lock the account out).
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertLoopback } from '../harness/loopback.ts';
import type { Instance } from '../harness/instance.ts';

/** The password of every user the e2e tests create unless a test says otherwise (smtp.ts, two-instances.ts). */
export const DEFAULT_PASSWORD = 'correct horse battery staple';

/** The loopback address the mailbox reader connects from (IPv4 instances). */
export const MAILBOX_READER_ADDRESS = '127.0.0.254';

export interface StoredMessage {
  /** The POP3 message number (1-based, in the maildrop's order: oldest first). */
  uid: number;
  /** The size LIST gives (RFC 1939 §5: the exact octets RETR sends). */
  size: number;
  /** The retrieved message as text (UTF-8): the received bytes with kakitome's Received: header on top. */
  content: string;
  /** The same, byte for byte. */
  bytes: Buffer;
}

export interface MailboxOptions {
  password?: string;
}

/** A POP3 refusal that retrying cannot fix (wrong password, unknown user). */
class MailboxLoginRefused extends Error {}

const CRLF = Buffer.from('\r\n');
const END_OF_MULTILINE = Buffer.from('\r\n.\r\n');
const STEP_TIMEOUT_MS = 10_000;

/** A byte-exact POP3 reader: single lines and multi-line replies as Buffers. */
class Pop3Reader {
  #buffer = Buffer.alloc(0);
  #waiting: (() => void) | undefined;
  #closed = false;
  #error: Error | undefined;
  readonly #socket: TLSSocket;

  constructor(socket: TLSSocket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#waiting?.();
    });
    socket.on('error', (error) => {
      this.#error = error;
      this.#waiting?.();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#waiting?.();
    });
  }

  async #until(find: (buffer: Buffer) => number, what: string): Promise<Buffer> {
    const deadline = Date.now() + STEP_TIMEOUT_MS; // hang guard
    for (;;) {
      const end = find(this.#buffer);
      if (end >= 0) {
        const taken = this.#buffer.subarray(0, end);
        this.#buffer = this.#buffer.subarray(end);
        return taken;
      }
      if (this.#error || this.#closed) throw new Error(`POP3 connection ${this.#error ? `failed (${this.#error.message})` : 'closed'} while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${STEP_TIMEOUT_MS} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiting = undefined;
    }
  }

  /** One status line, without CRLF. */
  async line(what: string): Promise<string> {
    const raw = await this.#until((b) => (b.indexOf(CRLF) < 0 ? -1 : b.indexOf(CRLF) + 2), what);
    return raw.subarray(0, raw.length - 2).toString('utf8');
  }

  /** The body of a multi-line reply (after its +OK line), dot-unstuffed, each line with its CRLF. */
  async body(what: string): Promise<Buffer> {
    const raw = await this.#until((b) => {
      if (b.subarray(0, 3).equals(Buffer.from('.\r\n'))) return 3;
      const end = b.indexOf(END_OF_MULTILINE);
      return end < 0 ? -1 : end + END_OF_MULTILINE.length;
    }, what);
    const lines: Buffer[] = [];
    let start = 0;
    const content = raw.subarray(0, raw.length - 3); // without the final ".\r\n"
    while (start < content.length) {
      let end = content.indexOf(CRLF, start);
      end = end < 0 ? content.length : end + 2;
      const line = content.subarray(start, end);
      lines.push(line[0] === 0x2e ? line.subarray(1) : line); // RFC 1939 §3
      start = end;
    }
    return Buffer.concat(lines);
  }

  send(line: string): void {
    this.#socket.write(`${line}\r\n`);
  }

  async closed(): Promise<void> {
    await this.#until((b) => (this.#closed || this.#error ? b.length : -1), 'the server to close after QUIT').catch(() => {});
  }
}

function connectPop3s(instance: Instance): Promise<TLSSocket> {
  assertLoopback(instance.host, 'POP3 host');
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: instance.host,
      port: instance.ports.pop3s,
      ca: readFileSync(instance.certPath),
      servername: instance.hostname,
      ...(isIP(instance.host) === 4 ? { localAddress: MAILBOX_READER_ADDRESS } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`POP3S connect to ${instance.host}:${instance.ports.pop3s} timed out`));
    }, STEP_TIMEOUT_MS); // hang guard
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** One POP3S session: every message of ADDRESS's maildrop, in message-number order; nothing is deleted. */
async function retrieveAll(instance: Instance, address: string, password: string): Promise<StoredMessage[]> {
  const socket = await connectPop3s(instance);
  const pop = new Pop3Reader(socket);
  const expectOk = async (what: string): Promise<string> => {
    const line = await pop.line(what);
    if (!line.startsWith('+OK')) {
      if (/^-ERR \[AUTH\]/.test(line)) throw new MailboxLoginRefused(`POP3 login of ${address} refused: "${line}"`);
      throw new Error(`POP3 ${what} for ${address}: "${line}"`);
    }
    return line;
  };
  try {
    await expectOk('greeting');
    pop.send(`USER ${address}`);
    await expectOk('reply to USER');
    pop.send(`PASS ${password}`);
    await expectOk('reply to PASS');
    pop.send('LIST');
    await expectOk('reply to LIST');
    const scan = (await pop.body('LIST lines')).toString('utf8').split('\r\n').filter(Boolean);
    const messages: StoredMessage[] = [];
    for (const line of scan) {
      const match = /^(\d+) (\d+)$/.exec(line);
      if (!match) throw new Error(`LIST line is not "n octets": ${JSON.stringify(line)}`);
      const n = Number(match[1]);
      pop.send(`RETR ${n}`);
      await expectOk(`reply to RETR ${n}`);
      const bytes = await pop.body(`message ${n}`);
      messages.push({ uid: n, size: Number(match[2]), bytes, content: bytes.toString('utf8') });
    }
    pop.send('QUIT');
    await expectOk('reply to QUIT');
    await pop.closed(); // the maildrop lock is free once the server has closed
    return messages;
  } finally {
    socket.destroy();
  }
}

/** The messages in ADDRESS's maildrop as its user retrieves them over POP3S, oldest first. */
export async function messagesOf(instance: Instance, address: string, options: MailboxOptions = {}): Promise<StoredMessage[]> {
  const password = options.password ?? DEFAULT_PASSWORD;
  // The maildrop may be locked for a moment by a test's own POP3 session that just ended.
  const deadline = Date.now() + 5000; // hang guard
  for (;;) {
    try {
      return await retrieveAll(instance, address, password);
    } catch (error) {
      if (error instanceof MailboxLoginRefused || Date.now() >= deadline) throw error;
      if (!/\[IN-USE\]/.test((error as Error).message)) throw error;
      await sleep(100);
    }
  }
}

/** The Subject: of a message (unfolded), or undefined. */
export function subjectOf(message: { content: string } | string): string | undefined {
  const text = typeof message === 'string' ? message : message.content;
  const end = text.indexOf('\r\n\r\n');
  const header = (end < 0 ? text : text.slice(0, end)).replace(/\r\n[ \t]+/g, ' ');
  return /^Subject:[ \t]*(.*)$/im.exec(header)?.[1]?.trim();
}

/**
 * Polls ADDRESS's maildrop over POP3 until `done(messages)` holds; returns the last
 * messages read. Rejects after timeoutMs (a hang guard, not a claim about speed) with
 * what was there. Local delivery is in the maildrop before the 250 (src/mda/deliver.ts);
 * the polling is for mail that travels first (another instance's queue, a DSN).
 */
export async function waitForMessages(
  instance: Instance,
  address: string,
  done: (messages: StoredMessage[]) => boolean,
  { timeoutMs = 20_000, what = 'the expected messages', password }: { timeoutMs?: number; what?: string; password?: string } = {},
): Promise<StoredMessage[]> {
  const deadline = Date.now() + timeoutMs; // hang guard
  let last: StoredMessage[] = [];
  let lastError: unknown;
  for (;;) {
    try {
      last = await messagesOf(instance, address, { password });
      lastError = undefined;
      if (done(last)) return last;
    } catch (error) {
      if (error instanceof MailboxLoginRefused) throw error;
      lastError = error; // e.g. the instance is restarting: try again
    }
    if (Date.now() >= deadline) {
      const subjects = last.map((m) => `  ${m.uid}: ${subjectOf(m) ?? '(no subject)'}`).join('\n');
      throw new Error(
        `${address}'s mailbox (over POP3) did not show ${what} within ${timeoutMs} ms; it holds ${last.length} message(s)` +
          (subjects ? `:\n${subjects}` : '') +
          (lastError ? `\nlast error: ${String(lastError)}` : ''),
      );
    }
    await sleep(200);
  }
}

/** Waits until a message with this exact subject is in the mailbox; returns all messages. */
export function waitForSubject(instance: Instance, address: string, subject: string, timeoutMs = 20_000, options: MailboxOptions = {}): Promise<StoredMessage[]> {
  return waitForMessages(instance, address, (messages) => messages.some((m) => subjectOf(m) === subject), {
    timeoutMs,
    what: `a message with Subject: ${subject}`,
    password: options.password,
  });
}
