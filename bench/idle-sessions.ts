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
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertLoopback, randomLoopbackAddress } from '../test/harness/loopback.ts';
import { freeTcpPort } from '../test/harness/ports.ts';
import { startDns, type DnsFixture } from '../test/harness/dns.ts';
import { statusBytes, mb } from './smtp-inbound/procfs.ts';
import { startKakitome } from './smtp-inbound/kakitome.ts';
import { sharedClamd } from '../test/harness/clamd.ts';
import { SmtpClient } from '../test/e2e/smtp.ts';

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

/** One client session brought to its idle state, and left open. */
async function idleSession(host: string, port: number, localAddress: string, tls: boolean): Promise<SmtpClient> {
  const client = await SmtpClient.connect(host, port, { localAddress, timeoutMs: REPLY_TIMEOUT_MS });
  client.assertReply(client.greeting!, /^220 /, 'greeting');
  await client.ehlo('idle.client.test');
  if (tls) {
    await client.startTls(); // the dev certificate is self-signed: not verified
    await client.ehlo('idle.client.test');
  }
  return client;
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
  const peer = await startKakitome({ dir: join(base, 'kakitome'), host, domain: 'bench.test', user: 'user@bench.test', password: 'benchmark password, not secret', dns: resolver, clamd: await sharedClamd() });
  const clients: SmtpClient[] = [];
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
      clients.push(...(await Promise.all(wave)));
    }
    const openMs = Date.now() - started;
    await sleep(settleMs);
    const open = statusBytes(peer.pid, 'VmRSS')!;
    const peak = statusBytes(peer.pid, 'VmHWM')!;
    for (const client of clients) client.session.close();
    await sleep(settleMs);
    const after = statusBytes(peer.pid, 'VmRSS')!;
    const added = open - before;
    console.log(`idle-sessions: ${count} ${values.tls ? 'STARTTLS' : 'plain'} SMTP sessions on port 25, idle after EHLO; node ${process.versions.node}`);
    console.log(`  opened in ${openMs} ms; serve VmRSS before ${mb(before)}, with them open ${mb(open)}, after they closed ${mb(after)}; peak ${mb(peak)}`);
    console.log(`  added: ${mb(added)} in all, ${(added / count / 1024).toFixed(1)} KB per session`);
  } finally {
    for (const client of clients) client.session.close();
    await peer.stop();
    await dns?.stop();
    rmSync(base, { recursive: true, force: true });
  }
}

await main();
