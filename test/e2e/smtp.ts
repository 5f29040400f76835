// Helpers for the end-to-end tests of the MTA (port 25): an SMTP dialogue over the
// harness's raw session that keeps both sides of the conversation for failure
// messages, reply parsing, message builders, and a raw session bound to another
// loopback source address (for access lists and per-IP limits).
import assert from 'node:assert/strict';
import { connect as connectTcp, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { rawSession, type RawSession, type RawSessionOptions } from '../harness/clients.ts';
import { assertLoopback } from '../harness/loopback.ts';
import type { Instance } from '../harness/instance.ts';

export interface Reply {
  code: number;
  /** RFC 3463 enhanced status code of the last line, if any. */
  enhanced?: string;
  /** The reply's lines without CRLF. */
  lines: string[];
  /** The last line: "250 2.1.5 recipient ok". */
  last: string;
}

/** Parses one complete reply (one or more lines ending with CRLF). */
export function parseReply(raw: string): Reply {
  const lines = raw.split('\r\n').filter((line, i, all) => line !== '' || i < all.length - 1);
  const last = lines[lines.length - 1] ?? '';
  const match = /^(\d{3})(?:[ -](\d\.\d{1,3}\.\d{1,3})\b)?/.exec(last);
  if (!match) throw new Error(`not an SMTP reply: ${JSON.stringify(raw)}`);
  const reply: Reply = { code: Number(match[1]), lines, last };
  if (match[2]) reply.enhanced = match[2];
  return reply;
}

const show = (data: string | Buffer) => {
  const text = typeof data === 'string' ? data : data.toString('latin1');
  const shown = JSON.stringify(text.length > 400 ? `${text.slice(0, 300)}…(${text.length} chars)…${text.slice(-60)}` : text);
  return shown;
};

/** An SMTP client that sends exact bytes and records the dialogue ("C: …", "S: …"). */
export class SmtpClient {
  readonly session: RawSession;
  private readonly log: string[] = [];
  greeting?: Reply;

  constructor(session: RawSession) {
    this.session = session;
  }

  /** Connects and reads the greeting (recorded in `greeting`). */
  static async connect(host: string, port: number, options: RawSessionOptions = {}): Promise<SmtpClient> {
    const session = await rawSession(host, port, options);
    const client = new SmtpClient(session);
    client.greeting = await client.reply();
    return client;
  }

  /** Connects to the instance's port 25 listener. */
  static to(instance: Instance, options: RawSessionOptions = {}): Promise<SmtpClient> {
    return SmtpClient.connect(instance.host, instance.ports.smtp, options);
  }

  send(line: string): void {
    this.log.push(`C: ${line}`);
    this.session.send(line);
  }

  sendRaw(data: string | Buffer): void {
    this.log.push(`C (raw, one write): ${show(data)}`);
    this.session.sendRaw(data);
  }

  /** Reads exactly one reply (a multi-line reply as a whole). */
  async reply(timeoutMs?: number): Promise<Reply> {
    let raw: string;
    try {
      raw = await this.session.expect(/^\d{3}(?: [^\r\n]*)?\r\n/m, timeoutMs);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- dialogue ---\n${this.dialogue()}`);
    }
    for (const line of raw.replace(/\r\n$/, '').split('\r\n')) this.log.push(`S: ${line}`);
    return parseReply(raw);
  }

  /** Reads n replies (after a pipelined group of commands). */
  async replies(n: number, timeoutMs?: number): Promise<Reply[]> {
    const all: Reply[] = [];
    for (let i = 0; i < n; i++) all.push(await this.reply(timeoutMs));
    return all;
  }

  /** Sends one command line and reads its reply. */
  async cmd(line: string, timeoutMs?: number): Promise<Reply> {
    this.send(line);
    return this.reply(timeoutMs);
  }

  /** Sends a command and asserts the reply's code (and enhanced code) start with `expected`, e.g. "250 2.1.5". */
  async expectCmd(line: string, expected: string | RegExp, why?: string): Promise<Reply> {
    const reply = await this.cmd(line);
    this.assertReply(reply, expected, why ?? line);
    return reply;
  }

  assertReply(reply: Reply, expected: string | RegExp, why: string): void {
    const pattern = typeof expected === 'string' ? new RegExp(`^${expected.replace(/\./g, '\\.')}(?:[ -]|$)`) : expected;
    assert.match(reply.last, pattern, `${why}: expected ${expected}, got "${reply.last}"\n--- dialogue ---\n${this.dialogue()}`);
  }

  async ehlo(name = 'client.test'): Promise<Reply> {
    const reply = await this.cmd(`EHLO ${name}`);
    this.assertReply(reply, /^250 /, `EHLO ${name}`);
    return reply;
  }

  /** STARTTLS, then the TLS handshake (the certificate is not verified). */
  async startTls(): Promise<void> {
    await this.expectCmd('STARTTLS', /^220 /);
    await this.session.startTls();
    this.log.push('-- TLS established --');
  }

  /**
   * Whatever the server sent unasked (nothing, for a correct server): sends HELP and
   * returns what arrived before its reply. Replies come in order, so a reply to an
   * injected or smuggled command would come first; no wait for silence is needed.
   * HELP is valid in every state and its 214 is no other command's reply.
   */
  async unsolicited(): Promise<string> {
    this.send('HELP');
    let received: string;
    try {
      received = await this.session.expect(/^214 [^\r\n]*\r\n/m);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- dialogue ---\n${this.dialogue()}`);
    }
    const helpAt = received.search(/^214[ -]/m);
    const unasked = received.slice(0, helpAt);
    for (const line of unasked.split('\r\n').filter(Boolean)) this.log.push(`S (unasked): ${show(line)}`);
    for (const line of received.slice(helpAt).replace(/\r\n$/, '').split('\r\n')) this.log.push(`S: ${line}`);
    return unasked;
  }


  /** MAIL, RCPT…, DATA, the message and the terminator; returns the final reply (or the first refusal). */
  async deliver(from: string, to: readonly string[], message: string | Buffer): Promise<Reply> {
    const mail = await this.cmd(`MAIL FROM:<${from}>`);
    if (mail.code !== 250) return mail;
    let accepted = 0;
    let lastRefusal: Reply | undefined;
    for (const rcpt of to) {
      const reply = await this.cmd(`RCPT TO:<${rcpt}>`);
      if (reply.code === 250) accepted++;
      else lastRefusal = reply;
    }
    if (accepted === 0 && lastRefusal) return lastRefusal;
    const data = await this.cmd('DATA');
    if (data.code !== 354) return data;
    this.sendRaw(Buffer.concat([Buffer.from(message), Buffer.from('\r\n.\r\n')]));
    return this.reply(15_000);
  }

  /** Like deliver(), but asserts every step succeeded and returns the 250 reply. */
  async mustDeliver(from: string, to: readonly string[], message: string | Buffer): Promise<Reply> {
    const reply = await this.deliver(from, to, message);
    this.assertReply(reply, '250 2.0.0', 'delivery of a valid message');
    return reply;
  }

  async quit(): Promise<void> {
    try {
      this.send('QUIT');
      await this.reply(2000);
    } catch {
      // already closed
    }
    this.session.close();
  }

  close(): void {
    this.session.close();
  }

  dialogue(): string {
    const pending = this.session.pending();
    return this.log.join('\n') + (pending ? `\nS (unread): ${show(pending)}` : '');
  }
}

/** A short unique tag for subjects and message ids. */
export function tag(prefix = 't'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

export interface MessageOptions {
  from?: string;
  to?: string;
  subject: string;
  body?: string;
  /** Extra header lines (without CRLF), placed before From:. */
  headers?: string[];
}

/** An RFC 5322 message with CRLF line ends, no trailing CRLF (the terminator adds it). */
export function message(options: MessageOptions): string {
  const lines = [
    ...(options.headers ?? []),
    `From: <${options.from ?? 'sender@remote.example'}>`,
    `To: <${options.to ?? 'user@example.test'}>`,
    `Subject: ${options.subject}`,
    `Message-ID: <${options.subject}@remote.example>`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    '',
    options.body ?? `body of ${options.subject}`,
  ];
  return lines.join('\r\n');
}

/** Appends a [smtp] table (or any TOML text) to a generated config. */
export function appendToml(extra: string): (toml: string) => string {
  return (toml) => `${toml.trimEnd()}\n\n${extra.trim()}\n`;
}

export const USER = 'user@example.test';
export const PASSWORD = 'correct horse battery staple';
