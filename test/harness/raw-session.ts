// A raw line client for protocol-level tests: send exact bytes, wait for replies by
// pattern, upgrade to TLS on demand (STARTTLS/STLS). Every wait is bounded.
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { assertLoopback } from './loopback.ts';

export interface RawSessionOptions {
  /** Implicit TLS from the first byte (ports 465, 995). */
  tls?: boolean;
  /** Trust this certificate (PEM) and check it names `servername`; otherwise TLS is not verified. */
  ca?: string | Buffer;
  /** The name the certificate must carry (kakitome's hostname), also sent as SNI. */
  servername?: string;
  /** Default bound for connect and expect; default 5000 ms. */
  timeoutMs?: number;
  /** Bind the client end to this loopback address, so the server sees another client (127.0.0.2…). */
  localAddress?: string;
  /** The client's TLS versions and cipher list (TLS policy tests offer TLS 1.0/1.1 with them); default Node's. */
  tlsClient?: Pick<ConnectionOptions, 'minVersion' | 'maxVersion' | 'ciphers'>;
}

export interface RawSession {
  /** Sends `line` followed by CRLF. */
  send(line: string): void;
  /** Sends exactly these bytes (for bare CR/LF, pipelining, smuggling tests). */
  sendRaw(data: string | Buffer): void;
  /**
   * Waits until the unread input matches `pattern`, then returns the unread input up
   * to the end of the match and consumes it. Use /m with ^ and $ for line matches.
   */
  expect(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Unread input now, without waiting or consuming. */
  pending(): string;
  /** Everything received since connecting (both before and after TLS). */
  transcript(): string;
  /** Upgrades the connection to TLS after the server agreed (STARTTLS/STLS). */
  startTls(): Promise<void>;
  /** Whether TLS is active. */
  encrypted(): boolean;
  /** The negotiated TLS version ("TLSv1.3"), or null before TLS. */
  tlsProtocol(): string | null;
  /** Resolves true when the server closes the connection within timeoutMs, false otherwise. */
  waitForClose(timeoutMs?: number): Promise<boolean>;
  close(): void;
}

type Outcome<T> = { value: T } | { error: Error };

export async function rawSession(host: string, port: number, options: RawSessionOptions = {}): Promise<RawSession> {
  assertLoopback(host, 'raw session host');
  if (options.localAddress !== undefined) assertLoopback(options.localAddress, 'local address');
  const timeoutMs = options.timeoutMs ?? 5000;
  const tlsOptions = () => ({
    ...options.tlsClient,
    ca: options.ca,
    servername: options.servername,
    // Without a CA nothing is verified, the name included.
    rejectUnauthorized: options.ca !== undefined,
  });

  let unread = '';
  let received = '';
  let closed = false;
  const waiters = new Set<() => void>();
  const wake = () => waiters.forEach((waiter) => waiter());

  const attach = (socket: Socket | TLSSocket) => {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      unread += chunk;
      received += chunk;
      wake();
    });
    socket.on('error', () => {}); // surfaces as close; expect() reports what was received
    socket.on('close', () => {
      closed = true;
      wake();
    });
  };

  const open = (): Promise<Socket | TLSSocket> =>
    new Promise((resolve, reject) => {
      const localAddress = options.localAddress;
      const tcp = () => connectTcp({ host, port, localAddress });
      const socket = options.tls ? connectTls({ socket: tcp(), ...tlsOptions() }) : tcp();
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connecting to ${host}:${port} took over ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once(options.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(socket);
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`connecting to ${host}:${port}: ${error.message}`));
      });
    });

  let socket = await open();
  attach(socket);

  // Resolves with the first outcome `check` gives, re-checked whenever input arrives or the connection closes.
  const waitUntil = <T>(check: () => Outcome<T> | undefined, ms: number, onTimeout: () => Outcome<T>): Promise<T> =>
    new Promise((resolve, reject) => {
      const settle = (outcome: Outcome<T>) => {
        clearTimeout(timer);
        waiters.delete(poll);
        if ('error' in outcome) reject(outcome.error);
        else resolve(outcome.value);
      };
      const poll = () => {
        const outcome = check();
        if (outcome) settle(outcome);
      };
      const timer = setTimeout(() => settle(onTimeout()), ms);
      waiters.add(poll);
      poll();
    });

  return {
    send: (line) => socket.write(`${line}\r\n`),
    sendRaw: (data) => socket.write(data),
    expect: (pattern, ms = timeoutMs) =>
      waitUntil<string>(
        () => {
          const match = new RegExp(pattern.source, pattern.flags.replace('g', '')).exec(unread);
          if (match) {
            const consumed = unread.slice(0, match.index + match[0].length);
            unread = unread.slice(consumed.length);
            return { value: consumed };
          }
          return closed ? { error: new Error(`connection closed before ${pattern} matched; unread input:\n${unread}`) } : undefined;
        },
        ms,
        () => ({ error: new Error(`no ${pattern} within ${ms} ms; unread input:\n${unread}`) }),
      ),
    pending: () => unread,
    transcript: () => received,
    encrypted: () => 'encrypted' in socket && socket.encrypted === true,
    tlsProtocol: () => ('getProtocol' in socket ? socket.getProtocol() : null),
    startTls: () =>
      new Promise((resolve, reject) => {
        const plain = socket;
        plain.removeAllListeners('data');
        plain.removeAllListeners('close');
        const secure = connectTls({ socket: plain, ...tlsOptions() });
        const timer = setTimeout(() => {
          secure.destroy();
          reject(new Error(`TLS handshake with ${host}:${port} took over ${timeoutMs} ms`));
        }, timeoutMs);
        secure.once('secureConnect', () => {
          clearTimeout(timer);
          secure.removeAllListeners('error');
          socket = secure;
          attach(secure);
          resolve();
        });
        secure.once('error', (error) => {
          clearTimeout(timer);
          reject(new Error(`TLS handshake with ${host}:${port}: ${error.message}`));
        });
      }),
    waitForClose: (ms = timeoutMs) => waitUntil<boolean>(() => (closed ? { value: true } : undefined), ms, () => ({ value: false })),
    close: () => socket.destroy(),
  };
}
