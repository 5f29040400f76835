// The benchmark's POP3 client: implicit TLS (POP3S, RFC 8314), USER/PASS, LIST, every
// message with RETR pipelined in batches (RFC 2449 PIPELINING), QUIT.
//
// Written for speed so that the server, not the client, is what is timed: responses are
// parsed in place on the decrypted chunks with Buffer.indexOf (no per-byte loop, no
// copies, no strings for message data), and two batches of RETR commands are kept in
// flight, so the server always has the next command already in its input buffer.
//
// Multi-line responses (RFC 1939 §3): the data ends at a line holding a single "." (the
// CRLF before it belongs to the data); any other line that begins with "." was
// dot-stuffed by the server, and the first "." is removed. A line beginning with "."
// that is neither is a protocol error. A message's octets are counted after unstuffing,
// which is what LIST reports (RFC 1939 §5: "the exact size of the message in octets").
import { connect, type TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { assertLoopback } from '../../test/harness/loopback.ts';

const DOT = 0x2e;
const CR = 0x0d;
const LF = 0x0a;
const CRLF_DOT = Buffer.from('\r\n.', 'latin1');
/** RFC 2449 §4: a response line is at most 512 octets, CRLF included. */
const MAX_STATUS_LINE = 512;

export interface TlsTarget {
  host: string;
  port: number;
  /** PEM certificate of the server (self-signed): the only one trusted. */
  ca: string;
  /** TLS 1.3 cipher suite the client offers (alone), so both servers use the same one. */
  cipherSuite: string;
}

export class Pop3Error extends Error {}

interface Expectation {
  multiLine: boolean;
  /** Keep the (unstuffed) data of a multi-line response. */
  collect: boolean;
  done: (response: Pop3Response) => void;
}

export interface Pop3Response {
  ok: boolean;
  status: string;
  /** Data octets of a multi-line response, after dot-unstuffing and without the terminator. */
  octets: number;
  /** The data, when collected. */
  data?: Buffer;
}

/**
 * One POP3 session over TLS. Commands may be pipelined: responses are matched to
 * commands in order.
 */
export class Pop3Session {
  readonly socket: TLSSocket;
  #expectations: Expectation[] = [];
  #head = 0;
  #state: 'status' | 'data' = 'status';
  #statusPartial = '';
  #status = '';
  #atLineStart = false;
  #octets = 0;
  #segments: Buffer[] = [];
  #carry: Buffer | undefined;
  #failure: Error | undefined;
  #onFailure: ((error: Error) => void)[] = [];
  /** Octets received from the TLS layer (decrypted), terminators and stuffing included. */
  wireOctets = 0;

  private constructor(socket: TLSSocket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      try {
        this.#parse(chunk);
      } catch (error) {
        this.#fail(error as Error);
      }
    });
    socket.on('error', (error) => this.#fail(error));
    socket.on('close', () => {
      if (this.#head < this.#expectations.length) this.#fail(new Pop3Error(`the server closed the connection with ${this.#expectations.length - this.#head} response(s) outstanding`));
    });
  }

  /** Connects, completes the TLS handshake and reads the greeting (resolved even when it is -ERR). */
  static async open(target: TlsTarget, timeoutMs: number): Promise<{ session: Pop3Session; greeting: Pop3Response }> {
    assertLoopback(target.host, 'POP3 server');
    const socket = connect({
      host: target.host,
      port: target.port,
      ca: [target.ca],
      // The self-signed certificates name mail.bench.test and the like, not the address:
      // the chain is checked against the one trusted certificate, the name is not.
      checkServerIdentity: () => undefined,
      minVersion: 'TLSv1.3',
      ciphers: target.cipherSuite,
      // One key exchange group too: Node 24's OpenSSL 3.5 would otherwise pick the hybrid
      // X25519MLKEM768 where the server supports it (kakitome) and X25519 elsewhere (Dovecot
      // on Debian 12's OpenSSL 3.0). Only the handshake differs, but the same is simpler to state.
      ecdhCurve: 'X25519',
    });
    // Commands are small writes while responses stream in: no Nagle delay for them.
    socket.setNoDelay(true);
    const session = new Pop3Session(socket);
    const timer = setTimeout(() => session.#fail(new Pop3Error(`no TLS handshake and greeting from ${target.host}:${target.port} within ${timeoutMs} ms`)), timeoutMs);
    try {
      const greeting = await session.#expect(false, false);
      return { session, greeting };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends one command and waits for its response. */
  command(line: string, multiLine = false, collect = false): Promise<Pop3Response> {
    const response = this.#expect(multiLine, collect);
    this.socket.write(`${line}\r\n`);
    return response;
  }

  /** Sends several commands in one write (pipelining); `done` is called for each response, in order. */
  pipeline(lines: string[], multiLine: boolean, collect: boolean, done: (response: Pop3Response, index: number) => void): void {
    if (this.#failure) throw this.#failure;
    lines.forEach((_line, index) => this.#expectations.push({ multiLine, collect, done: (response) => done(response, index) }));
    this.socket.write(`${lines.join('\r\n')}\r\n`);
  }

  /** Rejects when the session fails (error, close with responses outstanding, or `fail`). */
  failed(): Promise<never> {
    return new Promise((_resolve, reject) => {
      if (this.#failure) reject(this.#failure);
      else this.#onFailure.push(reject);
    });
  }

  fail(error: Error): void {
    this.#fail(error);
  }

  close(): void {
    this.socket.destroy();
  }

  #expect(multiLine: boolean, collect: boolean): Promise<Pop3Response> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#expectations.push({ multiLine, collect, done: resolve });
      this.#onFailure.push(reject);
    });
  }

  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    this.socket.destroy();
    for (const reject of this.#onFailure.splice(0)) reject(error);
  }

  #complete(response: Pop3Response): void {
    const expectation = this.#expectations[this.#head]!;
    this.#expectations[this.#head++] = undefined as unknown as Expectation;
    // Let the array of settled expectations go now and then.
    if (this.#head > 4096 && this.#head === this.#expectations.length) {
      this.#expectations = [];
      this.#head = 0;
    }
    this.#state = 'status';
    expectation.done(response);
  }

  #parse(chunk: Buffer): void {
    this.wireOctets += chunk.length;
    let buffer = chunk;
    if (this.#carry) {
      buffer = Buffer.concat([this.#carry, chunk]);
      this.#carry = undefined;
    }
    let position = 0;
    while (position < buffer.length) {
      const expectation = this.#expectations[this.#head];
      if (!expectation) throw new Pop3Error(`unexpected data from the server: ${JSON.stringify(buffer.toString('latin1', position, position + 80))}`);
      if (this.#state === 'status') {
        const lf = buffer.indexOf(LF, position);
        if (lf === -1) {
          this.#statusPartial += buffer.toString('latin1', position);
          if (this.#statusPartial.length > MAX_STATUS_LINE) throw new Pop3Error(`status line longer than ${MAX_STATUS_LINE} octets: ${JSON.stringify(this.#statusPartial.slice(0, 80))}`);
          return;
        }
        const line = this.#statusPartial + buffer.toString('latin1', position, lf + 1);
        this.#statusPartial = '';
        position = lf + 1;
        if (!line.endsWith('\r\n')) throw new Pop3Error(`status line without CRLF: ${JSON.stringify(line)}`);
        const status = line.slice(0, -2);
        const ok = status.startsWith('+OK');
        if (!ok && !status.startsWith('-ERR')) throw new Pop3Error(`neither +OK nor -ERR: ${JSON.stringify(status)}`);
        if (ok && expectation.multiLine) {
          this.#state = 'data';
          this.#status = status;
          this.#atLineStart = true;
          this.#octets = 0;
          this.#segments = [];
        } else {
          this.#complete({ ok, status, octets: 0 });
        }
        continue;
      }
      // Data of a multi-line response. segmentStart..position is data not yet counted.
      let segmentStart = position;
      const take = (end: number) => {
        this.#octets += end - segmentStart;
        if (expectation.collect && end > segmentStart) this.#segments.push(buffer.subarray(segmentStart, end));
      };
      for (;;) {
        if (this.#atLineStart) {
          if (position >= buffer.length) return;
          if (buffer[position] === DOT) {
            // Need the next one or two octets to tell "..", ".\r\n" (the end) apart.
            if (buffer.length - position < 3) {
              this.#carry = Buffer.from(buffer.subarray(position));
              take(position);
              return;
            }
            const next = buffer[position + 1];
            if (next === DOT) {
              take(position);
              segmentStart = position + 1;
            } else if (next === CR && buffer[position + 2] === LF) {
              take(position);
              const data = expectation.collect ? Buffer.concat(this.#segments) : undefined;
              this.#segments = [];
              position += 3;
              this.#complete({ ok: true, status: this.#status, octets: this.#octets, data });
              break;
            } else {
              throw new Pop3Error(`a data line begins with "." but is neither dot-stuffed nor the terminator: ${JSON.stringify(buffer.toString('latin1', position, position + 40))}`);
            }
          }
          this.#atLineStart = false;
        }
        const found = buffer.indexOf(CRLF_DOT, position);
        if (found === -1) {
          // No line starting with "." in the rest; keep a trailing "\r" or "\r\n" for the
          // next chunk, where it may turn out to be followed by ".".
          let end = buffer.length;
          if (buffer[end - 1] === CR) end -= 1;
          else if (end - 2 >= position && buffer[end - 2] === CR && buffer[end - 1] === LF) end -= 2;
          take(end);
          if (end < buffer.length) this.#carry = Buffer.from(buffer.subarray(end));
          return;
        }
        position = found + 2;
        this.#atLineStart = true;
      }
    }
  }
}

export interface RetrievalOptions {
  target: TlsTarget;
  user: string;
  password: string;
  /** RETR commands per pipelined batch; two batches are in flight at a time. */
  batch: number;
  timeoutMs: number;
  /** Called with each message's data (unstuffed); makes the client keep every message, which costs time: for the untimed check only. */
  verify?: (messageNumber: number, data: Buffer) => void;
  /** Called once logged in, before LIST: the clock starts here. */
  onLoggedIn?: () => void;
  /** Called when every RETR response is in, before QUIT. */
  onRetrieved?: () => void;
}

export interface RetrievalResult {
  greeting: string;
  tls: { protocol: string; cipher: string; keyExchange: string };
  /** Connect, TLS handshake, greeting, USER, PASS. */
  loginSeconds: number;
  /** From sending LIST until QUIT's +OK: LIST, every RETR, QUIT. */
  seconds: number;
  listed: number;
  listedOctets: number;
  retrieved: number;
  /** Octets of all messages as received, after unstuffing. */
  octets: number;
  /** Decrypted octets received during the whole session. */
  wireOctets: number;
  /** Client CPU seconds (this process, all threads) from LIST to QUIT's +OK. */
  clientCpuSeconds: number;
}

export class GreetingRefused extends Pop3Error {
  readonly greeting: string;
  constructor(greeting: string) {
    super(`the server greeted with ${JSON.stringify(greeting)}`);
    this.greeting = greeting;
  }
}

/** LIST, RETR of every message (pipelined), QUIT; checks every size against LIST. */
export async function retrieveAll(options: RetrievalOptions): Promise<RetrievalResult> {
  const { target, batch } = options;
  const start = performance.now();
  const { session, greeting } = await Pop3Session.open(target, Math.min(options.timeoutMs, 30_000));
  const timer = setTimeout(() => session.fail(new Pop3Error(`the retrieval did not finish within ${options.timeoutMs} ms`)), options.timeoutMs);
  try {
    if (!greeting.ok) throw new GreetingRefused(greeting.status);
    const cipher = session.socket.getCipher();
    const ephemeral = session.socket.getEphemeralKeyInfo();
    const tls = {
      protocol: session.socket.getProtocol() ?? '?',
      cipher: cipher.standardName ?? cipher.name,
      keyExchange: ephemeral && 'name' in ephemeral && ephemeral.name ? `${ephemeral.name}` : ephemeral && 'type' in ephemeral ? String(ephemeral.type) : '?',
    };
    const user = await session.command(`USER ${options.user}`);
    if (!user.ok) throw new Pop3Error(`USER: ${user.status}`);
    const pass = await session.command(`PASS ${options.password}`);
    if (!pass.ok) throw new Pop3Error(`PASS: ${pass.status}`);
    const loginSeconds = (performance.now() - start) / 1000;

    options.onLoggedIn?.();
    const cpuBefore = process.cpuUsage();
    const listStart = performance.now();
    const list = await session.command('LIST', true, true);
    if (!list.ok) throw new Pop3Error(`LIST: ${list.status}`);
    const sizes: number[] = [];
    let listedOctets = 0;
    for (const line of list.data!.toString('latin1').split('\r\n')) {
      if (line === '') continue;
      const match = /^(\d+) (\d+)$/.exec(line);
      if (!match) throw new Pop3Error(`LIST line ${JSON.stringify(line)} is not "number size"`);
      const number = Number(match[1]);
      if (number !== sizes.length + 1) throw new Pop3Error(`LIST numbers are not 1, 2, 3, …: ${number} after ${sizes.length}`);
      sizes.push(Number(match[2]));
      listedOctets += Number(match[2]);
    }
    const count = sizes.length;

    let retrieved = 0;
    let octets = 0;
    let next = 1;
    let allRetrieved!: () => void;
    const everyMessage = new Promise<void>((resolve) => { allRetrieved = resolve; });
    const collect = options.verify !== undefined;
    const sendBatch = () => {
      const first = next;
      const last = Math.min(count, first + batch - 1);
      next = last + 1;
      const commands: string[] = [];
      for (let number = first; number <= last; number++) commands.push(`RETR ${number}`);
      session.pipeline(commands, true, collect, (response, index) => {
        const number = first + index;
        if (!response.ok) return session.fail(new Pop3Error(`RETR ${number}: ${response.status}`));
        if (response.octets !== sizes[number - 1]) {
          return session.fail(new Pop3Error(`RETR ${number} returned ${response.octets} octets, LIST said ${sizes[number - 1]}`));
        }
        if (collect) {
          try {
            options.verify!(number, response.data!);
          } catch (error) {
            return session.fail(error as Error);
          }
        }
        retrieved++;
        octets += response.octets;
        // The last response of a batch: one batch is still in flight; send the next.
        if (index === commands.length - 1 && next <= count) sendBatch();
        if (retrieved === count) allRetrieved();
      });
    };
    if (count === 0) allRetrieved();
    else {
      sendBatch();
      if (next <= count) sendBatch();
    }
    await Promise.race([everyMessage, session.failed()]);
    options.onRetrieved?.();
    const quit = await session.command('QUIT');
    if (!quit.ok) throw new Pop3Error(`QUIT: ${quit.status}`);
    const seconds = (performance.now() - listStart) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    return {
      greeting: greeting.status,
      tls,
      loginSeconds,
      seconds,
      listed: count,
      listedOctets,
      retrieved,
      octets,
      wireOctets: session.wireOctets,
      clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
    };
  } finally {
    clearTimeout(timer);
    session.close();
  }
}

/** Greeting only (then QUIT): whether a POP3S port serves POP3 at all. */
export async function probePop3s(target: TlsTarget, timeoutMs: number): Promise<{ ok: boolean; greeting: string }> {
  const { session, greeting } = await Pop3Session.open(target, timeoutMs);
  try {
    if (greeting.ok) await Promise.race([session.command('QUIT'), new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
    return { ok: greeting.ok, greeting: greeting.status };
  } finally {
    session.close();
  }
}
