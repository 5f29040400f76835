// What idle SMTP sessions cost kakitome's serve process in memory.
//
// One kakitome (made as an administrator would: init, user add, serve; see
// bench/smtp-inbound/kakitome.ts) and COUNT clients that connect to its port 25, read
// the greeting, say EHLO and then, with --tls, STARTTLS and EHLO again — and stay
// connected without a word, as a slow or stalled sending MTA does. The clients come
// from several loopback addresses, so that the per-address limit
// (smtp.max_connections_per_ip, 50) is not what they meet; COUNT stays within
// smtp.max_connections (1,000).
//
// Printed: serve's VmRSS before the sessions, with all of them open (after a settling
// pause), the difference per session, and VmRSS after they closed; the same for the
// V8 heap is not visible from outside, so RSS is the figure (it is what the machine
// pays). Every session must reach its idle state, or the run fails.
//
// Usage: node bench/idle-sessions.ts [--count 1000] [--tls] [--settle-ms 3000] [--dir DIR]
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertLoopback, randomLoopbackAddress } from '../test/harness/loopback.ts';
import { freeTcpPort } from '../test/harness/ports.ts';
import { startDns, type DnsFixture } from '../test/harness/dns.ts';
import { statusBytes, mb } from './smtp-inbound/procfs.ts';
import { startKakitome } from './smtp-inbound/kakitome.ts';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000' },
    tls: { type: 'boolean', default: false },
    'settle-ms': { type: 'string', default: '3000' },
    dir: { type: 'string', default: tmpdir() },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log('usage: node bench/idle-sessions.ts [--count 1000] [--tls] [--settle-ms 3000] [--dir DIR]');
  process.exit(0);
}

const count = Number(values.count);
const settleMs = Number(values['settle-ms']);
if (!Number.isInteger(count) || count < 1 || count > 1000) throw new Error('--count must be 1..1000 (smtp.max_connections)');
const PER_ADDRESS = 40; // below max_connections_per_ip (50)
const REPLY_TIMEOUT_MS = 20_000;

/** Reads SMTP replies off a socket: resolves with the next complete reply (its last line). */
function replyReader(socket: Socket | TLSSocket): () => Promise<string> {
  let buffered = '';
  let waiting: ((line: string) => void) | undefined;
  const lines: string[] = [];
  const onData = (chunk: Buffer) => {
    buffered += chunk.toString('latin1');
    let end: number;
    while ((end = buffered.indexOf('\r\n')) >= 0) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      if (line[3] === '-') continue; // a continuation line of a multiline reply
      if (waiting) {
        const resolve = waiting;
        waiting = undefined;
        resolve(line);
      } else lines.push(line);
    }
  };
  socket.on('data', onData);
  return () =>
    new Promise((resolve, reject) => {
      const line = lines.shift();
      if (line !== undefined) return resolve(line);
      const timer = setTimeout(() => reject(new Error('no SMTP reply in time')), REPLY_TIMEOUT_MS);
      waiting = (reply) => {
        clearTimeout(timer);
        resolve(reply);
      };
    });
}

async function expect(next: () => Promise<string>, code: string, what: string): Promise<void> {
  const reply = await next();
  if (!reply.startsWith(code)) throw new Error(`${what}: expected ${code}, got ${JSON.stringify(reply)}`);
}

/** One client session brought to its idle state; resolves with the socket left open. */
async function idleSession(host: string, port: number, localAddress: string, tls: boolean): Promise<Socket> {
  const socket = connect({ host, port, localAddress });
  socket.on('error', () => {}); // reported through the reply timeout or the close below
  const next = replyReader(socket);
  await expect(next, '220', 'greeting');
  socket.write('EHLO idle.client.test\r\n');
  await expect(next, '250', 'EHLO');
  if (!tls) return socket;
  socket.write('STARTTLS\r\n');
  await expect(next, '220', 'STARTTLS');
  socket.removeAllListeners('data');
  const secure = connectTls({ socket, servername: 'localhost', rejectUnauthorized: false }); // the dev certificate is self-signed
  await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
  const nextSecure = replyReader(secure);
  secure.write('EHLO idle.client.test\r\n');
  await expect(nextSecure, '250', 'EHLO after STARTTLS');
  return secure as unknown as Socket;
}

async function main(): Promise<void> {
  const base = mkdtempSync(join(values.dir, 'kakitome-bench-idle-'));
  const host = randomLoopbackAddress();
  let dns: DnsFixture | undefined;
  let resolver: string;
  try {
    dns = await startDns({}, { address: host });
    resolver = dns.server;
  } catch {
    resolver = `${host}:${await freeTcpPort(host)}`; // nothing answers there: lookups fail at once
  }
  mkdirSync(join(base, 'kakitome'));
  const peer = await startKakitome({ dir: join(base, 'kakitome'), host, domain: 'bench.test', user: 'user@bench.test', password: 'benchmark password, not secret', dns: resolver });
  const sockets: Socket[] = [];
  try {
    await sleep(settleMs);
    const before = statusBytes(peer.pid, 'VmRSS')!;
    const sources = Array.from({ length: Math.ceil(count / PER_ADDRESS) }, randomLoopbackAddress);
    for (const source of sources) assertLoopback(source, 'client address');
    const started = Date.now();
    // In waves of 50, so that the listen backlog is never what the run measures.
    for (let index = 0; index < count; index += 50) {
      const wave = Array.from({ length: Math.min(50, count - index) }, (_, offset) =>
        idleSession(host, peer.port, sources[Math.floor((index + offset) / PER_ADDRESS)]!, values.tls));
      sockets.push(...(await Promise.all(wave)));
    }
    const openMs = Date.now() - started;
    await sleep(settleMs);
    const open = statusBytes(peer.pid, 'VmRSS')!;
    const peak = statusBytes(peer.pid, 'VmHWM')!;
    for (const socket of sockets) socket.destroy();
    await sleep(settleMs);
    const after = statusBytes(peer.pid, 'VmRSS')!;
    const added = open - before;
    console.log(`idle-sessions: ${count} ${values.tls ? 'STARTTLS' : 'plain'} SMTP sessions on port 25, idle after EHLO; node ${process.versions.node}`);
    console.log(`  opened in ${openMs} ms; serve VmRSS before ${mb(before)}, with them open ${mb(open)}, after they closed ${mb(after)}; peak ${mb(peak)}`);
    console.log(`  added: ${mb(added)} in all, ${(added / count / 1024).toFixed(1)} KB per session`);
  } finally {
    for (const socket of sockets) socket.destroy();
    await peer.stop();
    await dns?.stop();
    rmSync(base, { recursive: true, force: true });
  }
}

await main();
