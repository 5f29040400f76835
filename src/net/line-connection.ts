// One client connection of a line protocol (SMTP, POP3, IMAP): the socket, and after
// STARTTLS/STLS the TLS socket over it. It buffers input within a bound, keeps the idle
// timeout, writes (corked, for pipelined replies), upgrades to TLS and closes; what the
// bytes mean is the session's business.
//
// SECURITY: input beyond `maxBufferedInput` pauses reading until the session has taken
// it. At the TLS upgrade whatever arrived in clear is discarded before the handshake
// (CVE-2011-0411), so a command pipelined behind STARTTLS never runs inside TLS. A
// client that never reads the last reply is cut off 5 s after the close.
// STANDARDS: RFC 3207 (STARTTLS), RFC 2595 (STLS), RFC 2920 (PIPELINING).
import type { Socket } from 'node:net';
import { once } from 'node:events';
import { TLSSocket, type SecureContext } from 'node:tls';
import { CommandInput } from './command-input.ts';
import { upgradeToTls } from './tls-upgrade.ts';

/** A client that leaves the final reply unread keeps the socket half-open this long at most. */
const CLOSE_GRACE_MS = 5_000;

export interface TlsInfo {
  protocol: string;
  cipher: string;
}

export interface LineConnectionOptions {
  idleTimeoutMs: number;
  /** Input buffered beyond this pauses reading until resumeInput() finds room. */
  maxBufferedInput: number;
  /** New input was buffered. */
  onInput: () => void;
  /** No input for idleTimeoutMs (not called once closing). */
  onIdle: () => void;
  /** The connection is gone (called once, before `closed` settles). */
  onClose: () => void;
  onError: (err: Error) => void;
}

export class LineConnection {
  /** The buffered input, read by the session: lines, counted bytes (literals), or all of it. */
  readonly input = new CommandInput();
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly closed: Promise<void>;
  readonly #raw: Socket;
  #socket: Socket;
  #tls: TlsInfo | null;
  readonly #options: LineConnectionOptions;
  #closing = false;
  #gone = false;
  #corked = false;
  #markClosed!: () => void;
  readonly #onSocketData = (chunk: Buffer) => this.#onData(chunk);

  constructor(socket: Socket, options: LineConnectionOptions) {
    this.#raw = socket;
    this.#socket = socket;
    this.#options = options;
    this.#tls = socket instanceof TLSSocket ? tlsInfo(socket) : null;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    this.localAddress = socket.localAddress ?? '';
    this.localPort = socket.localPort ?? 0;
    this.closed = new Promise((resolve) => (this.#markClosed = resolve));
  }

  /** TLS protocol and cipher, or null in clear text. */
  get tls(): TlsInfo | null {
    return this.#tls;
  }

  /** True once closeWith() ran or the connection went away: nothing more is read or written. */
  get closing(): boolean {
    return this.#closing;
  }

  /** Starts reading and the idle timer. */
  start(): void {
    this.#listen(this.#socket);
  }

  // ── input ────────────────────────────────────────────────────────────────

  #listen(socket: Socket): void {
    socket.setTimeout(this.#options.idleTimeoutMs, () => {
      if (!this.#closing) this.#options.onIdle();
    });
    socket.on('close', () => this.#onClose());
    socket.on('error', (err) => this.#options.onError(err));
    socket.on('data', this.#onSocketData);
  }

  #onData(chunk: Buffer): void {
    if (this.#closing) return;
    this.input.append(chunk);
    if (this.input.length > this.#options.maxBufferedInput) this.#socket.pause();
    this.#options.onInput();
  }

  /** Stops reading (e.g. while a message file cannot keep up). */
  pauseInput(): void {
    this.#socket.pause();
  }

  /** Reads on, unless closing or the buffered input is still over the bound. */
  resumeInput(): void {
    if (!this.#closing && this.input.length <= this.#options.maxBufferedInput) this.#socket.resume();
  }

  // ── output ───────────────────────────────────────────────────────────────

  /** Writes unless closing; false means the socket is full: wait for drained(). */
  write(data: string | Buffer): boolean {
    if (this.#closing || this.#socket.destroyed) return true;
    return this.#socket.write(data);
  }

  /** Settles when the socket has room again, or is gone. */
  async drained(): Promise<void> {
    if (this.#closing) return;
    const socket = this.#socket;
    await Promise.race([once(socket, 'drain'), once(socket, 'close')]).catch(() => {});
  }

  /** Holds writes back until uncork(), so pipelined replies leave together (RFC 2920). */
  cork(): void {
    if (this.#corked || this.#closing) return;
    this.#socket.cork();
    this.#corked = true;
  }

  uncork(): void {
    if (!this.#corked) return;
    this.#corked = false;
    this.#socket.uncork();
  }

  /** Sends the last words, ends the connection, and stops reading. */
  closeWith(text: string): void {
    if (this.#closing) return;
    this.write(text);
    this.uncork();
    this.#closing = true;
    this.input.clear();
    this.#socket.end();
    // A client that never reads would keep the socket half-open.
    setTimeout(() => this.#raw.destroy(), CLOSE_GRACE_MS).unref();
  }

  #onClose(): void {
    this.#closing = true;
    // Called for the plain socket and for the TLS socket over it: report once.
    if (this.#gone) return;
    this.#gone = true;
    this.#options.onClose();
    this.#markClosed();
  }

  // ── TLS ──────────────────────────────────────────────────────────────────

  /**
   * STARTTLS/STLS, once the go-ahead reply was written: discards what arrived in clear,
   * then the handshake. True when the session goes on in TLS; false when the handshake
   * failed or the connection closed meanwhile (the sockets are then destroyed).
   */
  async upgradeToTls(secureContext: SecureContext): Promise<boolean> {
    this.uncork();
    // CVE-2011-0411: anything the client pipelined behind STARTTLS arrived in clear
    // text and must never be executed inside the TLS session.
    this.input.clear();
    this.#socket.off('data', this.#onSocketData);
    const tlsSocket = await upgradeToTls(this.#raw, secureContext, this.#options.idleTimeoutMs);
    if (!tlsSocket || this.#closing) {
      tlsSocket?.destroy();
      return false;
    }
    this.#socket = tlsSocket;
    this.#tls = tlsInfo(tlsSocket);
    this.input.clear();
    this.#listen(tlsSocket);
    return true;
  }
}

function tlsInfo(socket: TLSSocket): TlsInfo {
  return { protocol: socket.getProtocol() ?? 'TLS', cipher: socket.getCipher()?.name ?? 'unknown' };
}
