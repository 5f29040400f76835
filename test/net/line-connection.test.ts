// LineConnection over a real loopback socket pair: the server side is the connection
// under test, the client side a plain net/tls socket the test drives byte by byte.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls';
import { setTimeout as delay } from 'node:timers/promises';
import { LineConnection, type LineConnectionOptions } from '../../src/net/line-connection.ts';
import { createSelfSignedCertificate } from '../../src/tls/self-signed.ts';

let secureContext: SecureContext;

before(async () => {
  const made = await createSelfSignedCertificate('line.example.test');
  secureContext = createSecureContext({ key: made.keyPem, cert: made.certPem });
});

interface Pair {
  connection: LineConnection;
  /** The server's socket under the connection (to look at its paused state). */
  server: Socket;
  client: Socket;
}

/** A LineConnection on the server end of a fresh loopback connection; `on` replaces its callbacks. */
async function loopbackPair(t: { after: (fn: () => void) => void }, on: Partial<LineConnectionOptions> & { maxBufferedInput?: number }): Promise<Pair> {
  const listener = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const address = listener.address();
  assert.ok(address && typeof address === 'object');
  const accepted = once(listener, 'connection') as Promise<[Socket]>;
  const client = connect(address.port, '127.0.0.1');
  client.setNoDelay(true);
  const [server] = await accepted;
  listener.close();
  const connection = new LineConnection(server, {
    idleTimeoutMs: 10_000,
    maxBufferedInput: 64 * 1024,
    onInput: () => {},
    onIdle: () => {},
    onClose: () => {},
    onError: () => {},
    ...on,
  });
  connection.start();
  t.after(() => {
    client.destroy();
    server.destroy();
  });
  return { connection, server, client };
}

/** Everything the client receives until the server ends the connection. */
async function readToEnd(socket: Socket): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'end');
  return Buffer.concat(chunks).toString();
}

test('the idle timeout fires once the client is silent, and closeWith sends the last words and ends', async (t) => {
  let idle = 0;
  let closed = 0;
  const pair: Pair = await loopbackPair(t, {
    idleTimeoutMs: 50,
    onIdle: () => {
      idle++;
      pair.connection.closeWith('421 idle\r\n');
    },
    onClose: () => closed++,
  });
  const received = readToEnd(pair.client);
  pair.client.on('end', () => pair.client.end());
  assert.equal(await received, '421 idle\r\n');
  await pair.connection.closed;
  assert.equal(idle, 1);
  assert.equal(closed, 1);
  assert.equal(pair.connection.closing, true);
});

test('upgradeToTls discards what was pipelined in clear behind STARTTLS (CVE-2011-0411)', async (t) => {
  const lines: string[] = [];
  let pumping = false;
  const pair: Pair = await loopbackPair(t, {
    onInput: () => void pump(),
  });
  async function pump(): Promise<void> {
    if (pumping) return;
    pumping = true;
    for (let line = pair.connection.input.takeLine(100); typeof line === 'string'; line = pair.connection.input.takeLine(100)) {
      lines.push(line);
      if (line === 'STARTTLS') {
        pair.connection.write('220 go ahead\r\n');
        assert.equal(await pair.connection.upgradeToTls(secureContext), true);
      }
    }
    pumping = false;
  }
  const tlsInfo = () => pair.connection.tls;
  assert.equal(tlsInfo(), null);
  // One write: the injected command arrives in the same packet as STARTTLS.
  pair.client.write('STARTTLS\r\nRSET INJECTED\r\n');
  const [goAhead] = (await once(pair.client, 'data')) as [Buffer];
  assert.equal(goAhead.toString(), '220 go ahead\r\n');
  const secure = tlsConnect({ socket: pair.client, rejectUnauthorized: false });
  await once(secure, 'secureConnect');
  secure.write('NOOP\r\n');
  while (lines.length < 2) await delay(5);
  assert.deepEqual(lines, ['STARTTLS', 'NOOP']);
  assert.match(tlsInfo()?.protocol ?? '', /^TLSv1\.[23]$/);
  secure.destroy();
});

test('takeBytes returns exactly N octets across chunk boundaries, and lines go on after them', async (t) => {
  const seen: string[] = [];
  let literal: Buffer | undefined;
  const pair: Pair = await loopbackPair(t, {
    onInput: () => {
      const input = pair.connection.input;
      if (!literal) literal = input.takeBytes(10);
      if (!literal) return seen.push(`waiting with ${input.length}`);
      for (let line = input.takeLine(100); typeof line === 'string'; line = input.takeLine(100)) seen.push(line);
    },
  });
  pair.client.write('0123');
  while (seen.length < 1) await delay(5);
  pair.client.write('45678');
  while (seen.length < 2) await delay(5);
  pair.client.write('9)\r\nNEXT\r\n');
  while (seen.length < 4) await delay(5);
  assert.equal(literal?.toString(), '0123456789');
  assert.deepEqual(seen, ['waiting with 4', 'waiting with 9', ')', 'NEXT']);
});

test('input beyond the bound pauses the socket until the session takes it', async (t) => {
  const bound = 1024;
  const pair = await loopbackPair(t, { maxBufferedInput: bound });
  const total = 4 * 1024 * 1024;
  pair.client.write(Buffer.alloc(total, 0x61));
  while (!pair.server.isPaused()) await delay(5);
  const buffered = pair.connection.input.length;
  assert.ok(buffered > bound, `paused with ${buffered} buffered`);
  // A round trip the other way: by the time the client has the server's bytes, the event
  // loop has polled the server's socket, whose unread data waits in the kernel.
  pair.server.write('ping');
  const [ping] = (await once(pair.client, 'data')) as [Buffer];
  assert.equal(ping.toString(), 'ping');
  assert.equal(pair.connection.input.length, buffered, 'nothing more is read while paused');
  assert.ok(buffered < total, 'the rest stays in the kernel buffers');

  // resumeInput reads on only once there is room again.
  pair.connection.resumeInput();
  assert.equal(pair.server.isPaused(), true);
  let taken = 0;
  while (taken < total) {
    taken += pair.connection.input.takeAll().length;
    pair.connection.resumeInput();
    await delay(1);
  }
  assert.equal(taken, total);
});

test('a client that asks for TLS and then sends nothing is cut off after the idle timeout, not held for ever', { timeout: 20_000 /* hang guard */ }, async (t) => {
  // Found by the smtp-session fuzz target: STARTTLS with nothing after it kept the
  // connection (and its slot under smtp.max_connections) open with no timer at all.
  const pair = await loopbackPair(t, { idleTimeoutMs: 300 });
  const clientClosed = once(pair.client, 'close');
  pair.client.on('error', () => {});
  assert.equal(await pair.connection.upgradeToTls(secureContext), false);
  await clientClosed;
  assert.equal(pair.server.destroyed, true);
});
