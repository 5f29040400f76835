// The clamd engine: ClamAV's daemon over its unix socket or TCP (clamd-protocol.ts).
// The message is streamed to clamd in chunks as it is read (INSTREAM), never held whole
// for the scan. Connections are IDSESSION sessions kept in a small pool of idle ones, so
// a busy server does not connect once per message; a pooled session that clamd has
// closed meanwhile (its IdleTimeout) is retried once on a new connection.
//
// SECURITY: clamd's replies are trusted only as far as their grammar: a signature name
// goes into SMTP replies and logs only after safeSignature(). A scan that does not end
// within scanTimeoutMs, a connection refused, an unknown reply: all are `failed`, which
// the step turns into 451 (fail closed).
import { connect, type Socket } from 'node:net';
import { chunkLength, COMMAND, END_OF_STREAM, MAX_CHUNK, parseScanReply, sessionReply } from './clamd-protocol.ts';
import type { AntivirusEngine, EngineVerdict, MessageSource } from './engine.ts';

export interface ClamdOptions {
  name?: string;
  /** A unix socket path, or a TCP address. */
  target: { socket: string } | { host: string; port: number };
  connectTimeoutMs?: number;
  /** From the first octet sent to the reply. */
  scanTimeoutMs?: number;
  /** Idle sessions kept for reuse. */
  poolSize?: number;
  /** An idle session older than this is closed rather than reused (clamd's IdleTimeout is 30 s by default). */
  maxIdleMs?: number;
}

// Up to 16 idle sessions: a busy port 25 has ~20 messages being scanned at once, and a
// new connection per scan was 1 % of the main thread. clamd serves a session's commands
// from its thread pool; an idle session holds only a descriptor there.
const DEFAULTS = { connectTimeoutMs: 5_000, scanTimeoutMs: 60_000, poolSize: 16, maxIdleMs: 20_000 };
/** A reply longer than this is not clamd's. */
const MAX_REPLY = 4096;

class ConnectionLost extends Error {}
/** A session we closed ourselves: one shared error, no stack captured per close. */
const CLOSED = new ConnectionLost('closed');

/** One IDSESSION connection; one command at a time. */
class ClamdSession {
  readonly #socket: Socket;
  #received: Buffer = Buffer.alloc(0);
  #waiting: { resolve: (reply: string) => void; reject: (error: Error) => void } | undefined;
  #closed: Error | undefined;
  #commands = 0;
  idleSince = 0;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (data: Buffer) => this.#onData(data));
    socket.on('error', (error) => this.#fail(new ConnectionLost(`clamd connection: ${error.message}`)));
    socket.on('close', () => {
      if (!this.#closed || this.#waiting) this.#fail(new ConnectionLost('clamd closed the connection'));
    });
  }

  static open(options: ClamdOptions, connectTimeoutMs: number): Promise<ClamdSession> {
    return new Promise((resolve, reject) => {
      const socket = 'socket' in options.target
        ? connect({ path: options.target.socket })
        : connect({ host: options.target.host, port: options.target.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`clamd did not accept the connection within ${connectTimeoutMs} ms`));
      }, connectTimeoutMs);
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`cannot connect to clamd: ${error.message}`));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.setNoDelay(true);
        socket.write(COMMAND.idSession);
        resolve(new ClamdSession(socket));
      });
    });
  }

  get usable(): boolean {
    return this.#closed === undefined && !this.#socket.destroyed;
  }

  /** Sends a command (its octets written by `send`) and waits for its reply. */
  async command(send: (write: (data: Buffer) => Promise<void>) => Promise<void>): Promise<string> {
    if (this.#closed) throw this.#closed;
    const id = ++this.#commands;
    const reply = new Promise<string>((resolve, reject) => (this.#waiting = { resolve, reject }));
    reply.catch(() => {}); // observed below; a failure while still sending must not go unhandled
    // Corked: a small message's command, chunks and end go out in one write.
    this.#socket.cork();
    try {
      await send((data) => this.#write(data));
      this.#socket.uncork();
    } catch (error) {
      this.#socket.uncork();
      // clamd may stop reading and answer early (a size limit): its reply says why.
      const early = await Promise.race([reply, new Promise<undefined>((r) => setTimeout(r, 50, undefined))]).catch(() => undefined);
      if (early !== undefined) return this.#unwrap(early, id);
      throw error;
    }
    return this.#unwrap(await reply, id);
  }

  #unwrap(reply: string, id: number): string {
    const parsed = sessionReply(reply);
    if (!parsed) return reply; // an error about the session itself comes without an id
    if (parsed.id !== id) throw new Error(`clamd answered command ${parsed.id}, expected ${id}`);
    return parsed.text;
  }

  #write(data: Buffer): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (this.#socket.write(data)) return Promise.resolve();
    // Full: let the corked octets go while waiting for room, then cork again.
    this.#socket.uncork();
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        this.#socket.off('drain', done);
        this.#socket.off('close', done);
        this.#socket.cork();
        if (this.#closed) reject(this.#closed);
        else resolve();
      };
      this.#socket.on('drain', done);
      this.#socket.on('close', done);
    });
  }

  #onData(data: Buffer): void {
    this.#received = this.#received.length === 0 ? data : Buffer.concat([this.#received, data]);
    for (let end = this.#received.indexOf(0); end >= 0; end = this.#received.indexOf(0)) {
      const reply = this.#received.toString('latin1', 0, end);
      this.#received = this.#received.subarray(end + 1);
      const waiting = this.#waiting;
      this.#waiting = undefined;
      if (waiting) waiting.resolve(reply);
      else this.#fail(new Error(`clamd sent a reply nobody asked for: ${reply.slice(0, 100)}`));
    }
    if (this.#received.length > MAX_REPLY) this.#fail(new Error('clamd sent a reply without an end'));
  }

  #fail(error: Error): void {
    if (!this.#closed) this.#closed = error;
    this.#socket.destroy();
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.reject(error);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = CLOSED;
    this.#socket.end(COMMAND.end);
    this.#socket.destroySoon?.();
    setTimeout(() => this.#socket.destroy(), 1_000).unref();
  }

  abort(reason: string): void {
    this.#fail(new Error(reason));
  }
}

export class ClamdEngine implements AntivirusEngine {
  readonly name: string;
  readonly #options: ClamdOptions & typeof DEFAULTS;
  readonly #idle: ClamdSession[] = [];
  #closed = false;

  constructor(options: ClamdOptions) {
    this.#options = { ...DEFAULTS, ...options };
    this.name = options.name ?? 'clamd';
  }

  /** Where clamd is, for logs. */
  get target(): string {
    const t = this.#options.target;
    return 'socket' in t ? t.socket : `${t.host}:${t.port}`;
  }

  async scan(source: MessageSource, signal: AbortSignal): Promise<EngineVerdict> {
    try {
      const reply = await this.#withSession(signal, (session) => session.command(async (write) => {
        await write(COMMAND.instream);
        for await (const chunk of source()) {
          for (let at = 0; at < chunk.length; at += MAX_CHUNK) {
            if (signal.aborted) throw new Error('scan stopped');
            const piece = chunk.subarray(at, at + MAX_CHUNK);
            await write(chunkLength(piece.length));
            await write(piece);
          }
        }
        await write(END_OF_STREAM);
      }));
      const parsed = parseScanReply(reply);
      switch (parsed.kind) {
        case 'clean':
          return { verdict: 'clean' };
        case 'found':
          return { verdict: 'infected', signature: parsed.signature };
        case 'size-limit':
          return { verdict: 'failed', reason: 'the message is longer than clamd\'s StreamMaxLength (raise it to the largest message size)' };
        case 'error':
          return { verdict: 'failed', reason: `clamd: ${parsed.message}` };
      }
    } catch (error) {
      return { verdict: 'failed', reason: (error as Error).message };
    }
  }

  async version(): Promise<string | undefined> {
    try {
      const reply = await this.#withSession(new AbortController().signal, (session) => session.command((write) => write(COMMAND.version)));
      return reply.trim().slice(0, 200);
    } catch {
      return undefined;
    }
  }

  /** Runs `use` on a pooled or new session, within the scan timeout; a broken pooled session is retried once on a new one. */
  async #withSession(signal: AbortSignal, use: (session: ClamdSession) => Promise<string>): Promise<string> {
    if (this.#closed) throw new Error('the clamd engine is closed');
    for (let attempt = 0; ; attempt++) {
      const pooled = this.#takeIdle();
      const session = pooled ?? (await ClamdSession.open(this.#options, this.#options.connectTimeoutMs));
      const timer = setTimeout(() => session.abort(`clamd did not answer within ${this.#options.scanTimeoutMs} ms`), this.#options.scanTimeoutMs);
      const onAbort = () => session.abort('scan stopped: another engine found something');
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        const reply = await use(session);
        this.#giveBack(session);
        return reply;
      } catch (error) {
        session.abort('failed');
        if (pooled && attempt === 0 && error instanceof ConnectionLost && !signal.aborted) continue;
        throw error;
      } finally {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      }
    }
  }

  #takeIdle(): ClamdSession | undefined {
    const now = Date.now();
    while (this.#idle.length > 0) {
      const session = this.#idle.pop()!;
      if (session.usable && now - session.idleSince < this.#options.maxIdleMs) return session;
      session.close();
    }
    return undefined;
  }

  #giveBack(session: ClamdSession): void {
    if (this.#closed || !session.usable || this.#idle.length >= this.#options.poolSize) return session.close();
    session.idleSince = Date.now();
    this.#idle.push(session);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const session of this.#idle.splice(0)) session.close();
  }
}
