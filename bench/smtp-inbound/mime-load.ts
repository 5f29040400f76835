// The load for `--attachment SIZE`: smtp-source sends only plain text of a given length,
// so for mail with an attachment this client does what smtp-source -d does — SESSIONS
// connections, each sending message after message (MAIL, RCPT, DATA, the message, the
// next MAIL), no pipelining, stopping at the first reply that is not the expected one —
// with a MIME message: a short text part and a base64 attachment of SIZE random octets
// (seeded, the same for every message; a PDF name, which no attachment policy blocks).
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { assertLoopback } from '../../test/harness/loopback.ts';
import type { Load, LoadResult } from './smtp-source.ts';

/** SIZE pseudo-random octets from a seed (SHA-256 in counter mode): every run sends the same. */
function seededOctets(size: number, seed = 'kakitome-bench'): Buffer {
  const out = Buffer.alloc(size);
  for (let block = 0, at = 0; at < size; block++, at += 32) createHash('sha256').update(`${seed}:${block}`).digest().copy(out, at);
  return out;
}

export function mimeMessage(load: Load, attachment: number): Buffer {
  const file = seededOctets(attachment).toString('base64').replace(/.{76}(?=.)/g, '$&\r\n');
  return Buffer.from([
    `From: <${load.sender}>`,
    `To: <${load.recipient}>`,
    'Subject: the report, attached',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="bench-b0undary"',
    '',
    '--bench-b0undary',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'Here is the report you asked for.',
    '--bench-b0undary',
    'Content-Type: application/pdf; name="report.pdf"',
    'Content-Disposition: attachment; filename="report.pdf"',
    'Content-Transfer-Encoding: base64',
    '',
    file,
    '--bench-b0undary--',
    '.',
    '',
  ].join('\r\n'));
}

class Session {
  readonly #socket: Socket;
  #buffer = '';
  #waiting: ((reply: string) => void) | undefined;
  #rejectWaiting: ((error: Error) => void) | undefined;
  #failed: Error | undefined;

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (data: string) => {
      this.#buffer += data;
      const end = /(^|\r\n)(\d{3}) [^\r\n]*\r\n$/.exec(this.#buffer);
      if (end && this.#waiting) {
        const reply = this.#buffer;
        this.#buffer = '';
        const waiting = this.#waiting;
        this.#waiting = this.#rejectWaiting = undefined;
        waiting(reply);
      }
    });
    socket.on('error', (error) => (this.#failed = error));
    // One listener for the session, not one per reply.
    socket.on('close', () => this.#rejectWaiting?.(this.#failed ?? new Error('connection closed')));
  }

  reply(): Promise<string> {
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise((resolve, reject) => {
      this.#waiting = resolve;
      this.#rejectWaiting = reject;
    });
  }

  async send(data: string | Buffer, expected: string): Promise<void> {
    const reply = this.reply();
    this.#socket.write(data);
    const text = await reply;
    const last = text.trimEnd().split('\r\n').at(-1) ?? '';
    if (!last.startsWith(expected)) throw new Error(`expected ${expected}, got "${last}"`);
  }

  end(): void {
    this.#socket.end('QUIT\r\n');
  }
}

export async function runMimeLoad(load: Load, attachment: number): Promise<LoadResult> {
  assertLoopback(load.host, 'benchmark target');
  const message = mimeMessage(load, attachment);
  const start = performance.now();
  let next = 0;
  const deadline = start + load.timeoutMs;
  const one = async () => {
    const socket = connect({ host: load.host, port: load.port });
    const session = new Session(socket);
    await session.reply();
    await session.send(`EHLO ${load.heloName}\r\n`, '250');
    while (next < load.count) {
      if (performance.now() > deadline) throw new Error(`not done within ${load.timeoutMs} ms`);
      next++;
      await session.send(`MAIL FROM:<${load.sender}>\r\n`, '250');
      await session.send(`RCPT TO:<${load.recipient}>\r\n`, '250');
      await session.send('DATA\r\n', '354');
      await session.send(message, '250');
    }
    session.end();
  };
  try {
    await Promise.all(Array.from({ length: load.sessions }, one));
    return { code: 0, stderr: '', seconds: (performance.now() - start) / 1000 };
  } catch (error) {
    return { code: 1, stderr: (error as Error).message, seconds: (performance.now() - start) / 1000 };
  }
}
