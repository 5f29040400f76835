// A tiny SMTP server on 127.0.0.1 for the outbound tests: speaks just enough SMTP
// (EHLO, STARTTLS, MAIL, RCPT, DATA, RSET, QUIT) and answers what the test tells it.
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket, type TlsOptions } from 'node:tls';
import type { Duplex } from 'node:stream';

export interface ReceivedMessage {
  from: string;
  to: string[];
  /** The message as sent, dot-stuffing removed, without the final ".". */
  data: Buffer;
  tls: boolean;
  helo: string;
}

export interface FakeSmtpOptions {
  greeting?: string;
  /**
   * Offer STARTTLS with this certificate (and, when given, only these TLS versions and
   * suites: an old receiver); 'broken': offer it, then answer the handshake with garbage.
   */
  starttls?: ({ key: string; cert: string } & Pick<TlsOptions, 'minVersion' | 'maxVersion' | 'ciphers'>) | 'broken';
  pipelining?: boolean;
  /** Reply to MAIL FROM; default 250. */
  mail?: (from: string) => string;
  /** Reply to each RCPT TO; default 250. */
  rcpt?: (to: string) => string;
  /** Reply after the end of data; default 250. */
  data?: (message: ReceivedMessage) => string;
  /** Close the connection (without a reply) after the end of data. */
  dropAfterData?: boolean;
  /** Wait this long before the reply to the end of data (to make sessions overlap). */
  dataReplyDelayMs?: number;
  /** Shared between servers: connections open now and at most. */
  tracker?: { open: number; max: number };
}

export interface FakeSmtp {
  host: string;
  port: number;
  messages: ReceivedMessage[];
  /** Connections accepted so far. */
  connections(): number;
  /** Most connections open at once so far. */
  maxConcurrent(): number;
  /** STARTTLS handshakes so far: the negotiated version ("TLSv1.3"), or the error that ended it. */
  handshakes: { protocol: string | null; error?: string }[];
  close(): Promise<void>;
}

export async function startFakeSmtp(options: FakeSmtpOptions = {}): Promise<FakeSmtp> {
  const messages: ReceivedMessage[] = [];
  const handshakes: FakeSmtp['handshakes'] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  let open = 0;
  let maxConcurrent = 0;
  const server: Server = createServer((socket) => {
    connections++;
    open++;
    maxConcurrent = Math.max(maxConcurrent, open);
    const tracker = options.tracker;
    if (tracker) tracker.max = Math.max(tracker.max, ++tracker.open);
    sockets.add(socket);
    socket.on('close', () => {
      open--;
      if (tracker) tracker.open--;
      sockets.delete(socket);
    });
    socket.on('error', () => {});
    serveSession(socket, options, messages, handshakes);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return {
    host: '127.0.0.1',
    port: address.port,
    messages,
    handshakes,
    connections: () => connections,
    maxConcurrent: () => maxConcurrent,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function serveSession(socket: Socket, options: FakeSmtpOptions, messages: ReceivedMessage[], handshakes: FakeSmtp['handshakes']): void {
  let stream: Duplex = socket;
  let tls = false;
  let buffer = Buffer.alloc(0);
  let helo = '';
  let from: string | undefined;
  let to: string[] = [];
  let inData = false;
  const write = (line: string) => stream.write(`${line}\r\n`);

  const ehloReply = () => {
    const lines = ['fake.example.net', 'SIZE 10485760', '8BITMIME'];
    if (options.pipelining) lines.push('PIPELINING');
    if (options.starttls && !tls) lines.push('STARTTLS');
    return lines.map((line, i) => `250${i === lines.length - 1 ? ' ' : '-'}${line}`).join('\r\n');
  };

  const onData = (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      if (inData) {
        const end = buffer.indexOf('\r\n.\r\n');
        const atStart = buffer.subarray(0, 3).toString() === '.\r\n';
        if (end < 0 && !atStart) return;
        const raw = atStart ? Buffer.alloc(0) : buffer.subarray(0, end + 2);
        buffer = buffer.subarray(atStart ? 3 : end + 5);
        inData = false;
        const message: ReceivedMessage = { from: from ?? '', to, data: unstuff(raw), tls, helo };
        from = undefined;
        to = [];
        if (options.dropAfterData) {
          messages.push(message);
          socket.destroy();
          return;
        }
        const reply = options.data?.(message) ?? '250 2.0.0 ok: queued';
        if (reply.startsWith('2')) messages.push(message);
        if (options.dataReplyDelayMs) {
          // Commands pipelined behind the data wait with it.
          stream.removeListener('data', onData);
          setTimeout(() => {
            write(reply);
            stream.on('data', onData);
            onData(Buffer.alloc(0));
          }, options.dataReplyDelayMs);
          return;
        }
        write(reply);
        continue;
      }
      const eol = buffer.indexOf('\r\n');
      if (eol < 0) return;
      const line = buffer.subarray(0, eol).toString('utf8');
      buffer = buffer.subarray(eol + 2);
      if (handleCommand(line) === 'stop') return;
    }
  };

  const handleCommand = (line: string): 'stop' | undefined => {
    const verb = line.split(' ', 1)[0]!.toUpperCase();
    const argument = line.slice(verb.length + 1);
    switch (verb) {
      case 'EHLO':
        helo = argument;
        write(ehloReply());
        return;
      case 'HELO':
        helo = argument;
        write('250 fake.example.net');
        return;
      case 'STARTTLS': {
        if (!options.starttls || tls) {
          write('502 5.5.1 not offered');
          return;
        }
        write('220 2.0.0 go ahead');
        stream.removeListener('data', onData);
        buffer = Buffer.alloc(0);
        if (options.starttls === 'broken') {
          socket.write('this is not a TLS server hello\r\n');
          socket.end();
          return 'stop';
        }
        const { key, cert, minVersion, maxVersion, ciphers } = options.starttls;
        const secure = new TLSSocket(socket, { isServer: true, key, cert, minVersion, maxVersion, ciphers });
        let established = false;
        secure.once('secure', () => {
          established = true;
          handshakes.push({ protocol: secure.getProtocol() });
        });
        secure.on('error', (error) => {
          if (!established) handshakes.push({ protocol: null, error: error.message });
          socket.destroy();
        });
        secure.on('data', onData);
        stream = secure;
        tls = true;
        helo = '';
        return 'stop';
      }
      case 'MAIL': {
        const address = /^FROM:<([^>]*)>/i.exec(argument)?.[1] ?? '';
        const reply = options.mail?.(address) ?? '250 2.1.0 ok';
        if (reply.startsWith('2')) from = address;
        write(reply);
        return;
      }
      case 'RCPT': {
        const address = /^TO:<([^>]*)>/i.exec(argument)?.[1] ?? '';
        if (from === undefined) {
          write('503 5.5.1 MAIL first');
          return;
        }
        const reply = options.rcpt?.(address) ?? '250 2.1.5 ok';
        if (reply.startsWith('2')) to.push(address);
        write(reply);
        return;
      }
      case 'DATA':
        if (to.length === 0) {
          write('554 5.5.1 no valid recipients');
          return;
        }
        inData = true;
        write('354 go ahead');
        return;
      case 'RSET':
        from = undefined;
        to = [];
        write('250 2.0.0 ok');
        return;
      case 'NOOP':
        write('250 2.0.0 ok');
        return;
      case 'QUIT':
        write('221 2.0.0 bye');
        stream.end();
        return 'stop';
      default:
        write('500 5.5.2 unknown command');
    }
  };

  socket.on('data', onData);
  write(options.greeting ?? '220 fake.example.net ESMTP');
}

function unstuff(raw: Buffer): Buffer {
  return Buffer.from(raw.toString('latin1').replace(/^\.\./gm, '.'), 'latin1');
}
