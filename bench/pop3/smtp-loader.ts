// Loads the benchmark mailbox into kakitome the way mail arrives: over SMTP to its port
// 25 listener, SESSIONS sessions in parallel, each sending message after message
// (EHLO once; MAIL, RCPT, DATA pipelined when the server offers PIPELINING, RFC 2920;
// the message dot-stuffed, RFC 5321 §4.5.2). Each session takes the next message from a
// shared counter, so the mailbox holds them in about the generated order. Every
// message must get 250; anything else stops the load with the server's reply.
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { assertLoopback } from '../../test/harness/loopback.ts';
import { dotStuff, type BenchMessage } from './mailbox.ts';

export interface LoadOptions {
  host: string;
  port: number;
  sender: string;
  recipient: string;
  heloName: string;
  sessions: number;
  timeoutMs: number;
}

export interface LoadResult {
  sent: number;
  seconds: number;
}

/** Reads SMTP replies (RFC 5321 §4.2: "NNN-" continues, "NNN " ends) from a socket, in order. */
class ReplyReader {
  #buffer = '';
  #lines: string[] = [];
  #waiting: { resolve: (reply: string) => void; reject: (error: Error) => void } | undefined;
  #error: Error | undefined;
  #replies: string[] = [];

  constructor(socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.#buffer += chunk;
      for (let lf = this.#buffer.indexOf('\n'); lf !== -1; lf = this.#buffer.indexOf('\n')) {
        const line = this.#buffer.slice(0, lf).replace(/\r$/, '');
        this.#buffer = this.#buffer.slice(lf + 1);
        this.#lines.push(line);
        if (!/^\d{3}-/.test(line)) {
          this.#replies.push(this.#lines.join('\n'));
          this.#lines = [];
        }
      }
      this.#deliver();
    });
    const fail = (error: Error) => {
      this.#error ??= error;
      this.#deliver();
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('the server closed the connection')));
  }

  #deliver(): void {
    if (!this.#waiting) return;
    const reply = this.#replies.shift();
    if (reply !== undefined) {
      const { resolve } = this.#waiting;
      this.#waiting = undefined;
      resolve(reply);
    } else if (this.#error) {
      const { reject } = this.#waiting;
      this.#waiting = undefined;
      reject(this.#error);
    }
  }

  /** The next reply; rejects after `timeoutMs` without one. */
  next(timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting = undefined;
        reject(new Error(`no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting = {
        resolve: (reply) => { clearTimeout(timer); resolve(reply); },
        reject: (error) => { clearTimeout(timer); reject(error); },
      };
      this.#deliver();
    });
  }
}

/** How long one reply may take: kakitome answers within milliseconds; a stall is a failure to report, not to wait out. */
const REPLY_TIMEOUT_MS = 30_000;

async function expectReply(reader: ReplyReader, code: string, what: string): Promise<string> {
  const reply = await reader.next(REPLY_TIMEOUT_MS).catch((error: Error) => {
    throw new Error(`${what}: ${error.message}`);
  });
  if (!reply.startsWith(code)) throw new Error(`${what}: expected ${code}, got ${JSON.stringify(reply)}`);
  return reply;
}

async function runSession(options: LoadOptions, messages: readonly BenchMessage[], take: () => number | undefined, sent: () => void): Promise<void> {
  const socket = connect({ host: options.host, port: options.port });
  socket.setNoDelay(true);
  const reader = new ReplyReader(socket);
  try {
    await expectReply(reader, '220', 'greeting');
    socket.write(`EHLO ${options.heloName}\r\n`);
    const ehlo = await expectReply(reader, '250', 'EHLO');
    const pipelining = /^250[- ]PIPELINING$/im.test(ehlo);
    for (let index = take(); index !== undefined; index = take()) {
      const message = messages[index]!;
      const envelope = [`MAIL FROM:<${options.sender}> SIZE=${message.data.length}`, `RCPT TO:<${options.recipient}>`, 'DATA'];
      if (pipelining) {
        socket.write(`${envelope.join('\r\n')}\r\n`);
        await expectReply(reader, '250', `MAIL of message ${index + 1}`);
        await expectReply(reader, '250', `RCPT of message ${index + 1}`);
        await expectReply(reader, '354', `DATA of message ${index + 1}`);
      } else {
        for (const [step, line] of envelope.entries()) {
          socket.write(`${line}\r\n`);
          await expectReply(reader, step === 2 ? '354' : '250', `${line.split(' ')[0]} of message ${index + 1}`);
        }
      }
      socket.write(dotStuff(message.data));
      socket.write('.\r\n');
      await expectReply(reader, '250', `end of data of message ${index + 1}`);
      sent();
    }
    socket.write('QUIT\r\n');
    await reader.next(REPLY_TIMEOUT_MS).catch(() => '');
  } finally {
    socket.destroy();
  }
}

export async function loadOverSmtp(options: LoadOptions, messages: readonly BenchMessage[]): Promise<LoadResult> {
  assertLoopback(options.host, 'SMTP server');
  let next = 0;
  let sent = 0;
  let stopped = false;
  const take = () => (!stopped && next < messages.length ? next++ : undefined);
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`loading did not finish within ${options.timeoutMs} ms (${sent} of ${messages.length} sent)`)), options.timeoutMs);
  });
  const sessions = Array.from({ length: Math.min(options.sessions, messages.length) }, () =>
    runSession(options, messages, take, () => { sent++; }).catch((error: Error) => {
      stopped = true;
      throw error;
    }));
  try {
    await Promise.race([Promise.all(sessions), timeout]);
  } finally {
    stopped = true;
    clearTimeout(timer);
    // Let the other sessions end (each finishes its current message) before returning.
    await Promise.allSettled(sessions);
  }
  return { sent, seconds: (performance.now() - start) / 1000 };
}
