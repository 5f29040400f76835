// DNS fixture: a real dnsmasq on a loopback port serving exactly the records a test
// gives it. Every other name is NXDOMAIN (`--local=/#/`), nothing is forwarded, and
// /etc/hosts, /etc/resolv.conf and /etc/dnsmasq.conf are never read.
//
// dnsmasq quirks worth knowing:
// - answers carry TTL 0, so nothing a test changes is hidden by a cache;
// - an A/AAAA record (host-record) also answers the reverse (PTR) query for its
//   address with that name; an explicit `ptr` entry for the address wins;
// - a TXT value longer than 255 bytes is split into 255-byte character-strings in one
//   record, which resolvers hand back as chunks (Node: string[] per record);
// - in --no-daemon mode TCP is served in the one process, so an idle TCP client stops
//   all UDP answers: the fixture runs --keep-in-foreground, which forks for TCP.
import { Resolver } from 'node:dns/promises';
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';
import { afterTest, keepTestDirs } from './cleanup.ts';
import { assertLoopback } from './loopback.ts';
import { freeTcpUdpPort } from './ports.ts';
import { rmSync } from 'node:fs';
import { makeTempDir, removeDir, settlesWithin, spawnTracked } from './processes.ts';

export interface MxTarget {
  exchange: string;
  priority: number;
}

/** Records by owner name; a list gives several records of that type for the name. */
export interface DnsRecords {
  a?: Record<string, string | string[]>;
  aaaa?: Record<string, string | string[]>;
  mx?: Record<string, MxTarget | MxTarget[]>;
  /** Each string is one TXT record; any length, split into 255-byte strings on the wire. */
  txt?: Record<string, string | string[]>;
  cname?: Record<string, string>;
  /** IP address (or in-addr.arpa / ip6.arpa name) → host name. */
  ptr?: Record<string, string>;
}

export interface DnsOptions {
  /** Loopback address to listen on; default 127.0.0.1. */
  address?: string;
  /** Stop the server (and remove its directory) when this test ends. */
  t?: TestContext;
  startTimeoutMs?: number;
  /**
   * A fixture shared by a whole test process: it does not keep the process alive, and
   * it is killed (and its directory removed) when the process exits.
   */
  background?: boolean;
}

export interface DnsQuery {
  type: string;
  name: string;
}

export interface DnsFixture {
  host: string;
  port: number;
  /** "host:port", as kakitome's `--dns` and `[dns] servers` take it. */
  server: string;
  /** A fresh Node resolver that asks only this server. */
  resolver(): Resolver;
  /** dnsmasq's own log lines (startup, every query and answer). */
  logs(): string[];
  /** The queries received so far, in order. */
  queries(): DnsQuery[];
  stop(): Promise<void>;
}

// Answered by every fixture so startDns can tell when dnsmasq is serving.
const READY_NAME = '_ready.kakitome-harness.invalid';
const MISSING_HINT = 'install the Debian package dnsmasq-base (or dnsmasq), see .ci/run';

const list = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

function checkName(name: string): string {
  const bare = name.replace(/\.$/, '');
  if (!/^[A-Za-z0-9_*-]+(\.[A-Za-z0-9_-]+)*$/.test(bare)) throw new Error(`DNS fixture: invalid name ${JSON.stringify(name)}`);
  return bare;
}

function checkAddress(address: string, family: 4 | 6, name: string): string {
  if (isIP(address) !== family) throw new Error(`DNS fixture: ${JSON.stringify(address)} for ${name} is not an IPv${family} address`);
  return address;
}

// dnsmasq reads a quoted TXT string with backslash escapes; a newline would end the option.
function quoteTxt(text: string): string {
  if (/[\r\n\0]/.test(text)) throw new Error(`DNS fixture: TXT value may not contain CR, LF or NUL: ${JSON.stringify(text)}`);
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function reverseName(key: string): string {
  if (isIP(key) === 4) return `${key.split('.').reverse().join('.')}.in-addr.arpa`;
  if (isIP(key) === 6) {
    const groups = key.split('::');
    const head = groups[0] ? groups[0].split(':') : [];
    const tail = groups[1] ? groups[1].split(':') : [];
    const middle = groups.length === 2 ? Array<string>(8 - head.length - tail.length).fill('0') : [];
    const nibbles = [...head, ...middle, ...tail].map((group) => group.padStart(4, '0')).join('');
    return `${[...nibbles].reverse().join('.')}.ip6.arpa`;
  }
  return checkName(key);
}

export function dnsmasqConfig(records: DnsRecords): string {
  const lines = [`txt-record=${READY_NAME},"ok"`];
  for (const [name, addresses] of Object.entries(records.a ?? {})) {
    for (const address of list(addresses)) lines.push(`host-record=${checkName(name)},${checkAddress(address, 4, name)}`);
  }
  for (const [name, addresses] of Object.entries(records.aaaa ?? {})) {
    for (const address of list(addresses)) lines.push(`host-record=${checkName(name)},${checkAddress(address, 6, name)}`);
  }
  for (const [name, targets] of Object.entries(records.mx ?? {})) {
    for (const { exchange, priority } of list(targets)) {
      if (!Number.isInteger(priority) || priority < 0 || priority > 65535) throw new Error(`DNS fixture: bad MX priority ${priority} for ${name}`);
      // "." is the null MX of RFC 7505 (a domain that accepts no mail).
      lines.push(`mx-host=${checkName(name)},${exchange === '.' ? '.' : checkName(exchange)},${priority}`);
    }
  }
  for (const [name, texts] of Object.entries(records.txt ?? {})) {
    for (const text of list(texts)) lines.push(`txt-record=${checkName(name)},${quoteTxt(text)}`);
  }
  for (const [name, target] of Object.entries(records.cname ?? {})) lines.push(`cname=${checkName(name)},${checkName(target)}`);
  for (const [key, target] of Object.entries(records.ptr ?? {})) lines.push(`ptr-record=${reverseName(key)},${checkName(target)}`);
  return `${lines.join('\n')}\n`;
}

function newResolver(server: string): Resolver {
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([server]);
  return resolver;
}

function formatServer(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

interface Running {
  child: ChildProcess;
  port: number;
  logLines: string[];
  exited: Promise<void>;
}

function launch(dir: string, host: string, port: number): Running {
  const child = spawnTracked('dnsmasq', [
    // Foreground, as root, but TCP connections handled by forked children: with
    // --no-daemon (one process) a single idle TCP client (rspamd's resolver keeps one
    // open) blocks every UDP answer until it goes away.
    '--keep-in-foreground',
    '--user=root',
    `--conf-file=${join(dir, 'dnsmasq.conf')}`,
    '--no-resolv',
    '--no-hosts',
    '--local=/#/',
    `--port=${port}`,
    `--listen-address=${host}`,
    '--bind-interfaces',
    `--pid-file=${join(dir, 'dnsmasq.pid')}`,
    '--log-facility=-',
    '--log-queries',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logLines: string[] = [];
  let partial = '';
  const collect = (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    logLines.push(...parts);
  };
  child.stdout!.setEncoding('utf8').on('data', collect);
  child.stderr!.setEncoding('utf8').on('data', collect);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  return { child, port, logLines, exited };
}

async function waitUntilAnswering(running: Running, host: string, timeoutMs: number): Promise<void> {
  const spawnError = new Promise<Error>((resolve) => running.child.once('error', resolve));
  const resolver = new Resolver({ timeout: 200, tries: 1 });
  resolver.setServers([formatServer(host, running.port)]);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const failed = await Promise.race([spawnError, running.exited.then(() => true), sleep(0).then(() => false)]);
    if (failed instanceof Error) {
      throw (failed as NodeJS.ErrnoException).code === 'ENOENT' ? new Error(`dnsmasq is not installed or not on PATH (${MISSING_HINT})`) : failed;
    }
    if (failed) throw new Error(`dnsmasq exited during startup:\n${running.logLines.join('\n')}`);
    try {
      const answer = await resolver.resolveTxt(READY_NAME);
      if (answer.length > 0) return;
    } catch {
      await sleep(50);
    }
  }
  running.child.kill('SIGKILL');
  throw new Error(`dnsmasq did not answer on ${formatServer(host, running.port)} within ${timeoutMs} ms:\n${running.logLines.join('\n')}`);
}

export async function startDns(records: DnsRecords = {}, options: DnsOptions = {}): Promise<DnsFixture> {
  const host = options.address ?? '127.0.0.1';
  assertLoopback(host, 'DNS listen address');
  const config = dnsmasqConfig(records);
  const dir = await makeTempDir('kakitome-dns');
  await writeFile(join(dir, 'dnsmasq.conf'), config);

  // The port is free when chosen but may be taken before dnsmasq binds it: retry.
  let running: Running | undefined;
  for (let attempt = 1; !running; attempt++) {
    const candidate = launch(dir, host, await freeTcpUdpPort(host));
    try {
      await waitUntilAnswering(candidate, host, options.startTimeoutMs ?? 5000);
      running = candidate;
    } catch (error) {
      const portTaken = candidate.logLines.some((line) => line.includes('Address already in use'));
      if (!portTaken || attempt >= 3) {
        await removeDir(dir);
        throw error;
      }
    }
  }
  const { child, port, logLines, exited } = running;
  const server = formatServer(host, port);
  if (options.background) {
    child.unref();
    (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
    (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      if (!(await settlesWithin(exited, 5000))) {
        child.kill('SIGKILL');
        await exited;
      }
    })();
    return stopped;
  };

  const fixture: DnsFixture = {
    host,
    port,
    server,
    resolver: () => newResolver(server),
    logs: () => [...logLines],
    queries: () => logLines.flatMap((line) => {
      const match = /query\[(\w+)\] (\S+) from /.exec(line);
      return match && match[2] !== READY_NAME ? [{ type: match[1]!, name: match[2]! }] : [];
    }),
    stop: async () => {
      await stop();
      await removeDir(dir);
    },
  };
  if (options.t) {
    afterTest(options.t, async (passed) => {
      await stop();
      if (passed && !keepTestDirs()) await removeDir(dir);
      else options.t!.diagnostic(`DNS fixture directory kept: ${dir}`);
    });
  }
  return fixture;
}

export interface SilentDns {
  /** "host:port", as `createResolver` and `[dns] servers` take it. */
  server: string;
  /** The DNS queries (UDP datagrams) received so far. */
  queries(): number;
  close(): Promise<void>;
}

/**
 * A DNS server that receives every query and never answers: what a resolver meets
 * when a server is down behind a firewall that drops packets. A query to it can only
 * end by the resolver's own timeout, and each try is one datagram here.
 */
export async function startSilentDns(t: TestContext, host = '127.0.0.1'): Promise<SilentDns> {
  assertLoopback(host, 'DNS listen address');
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  let received = 0;
  socket.on('message', () => received++);
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, host, () => resolve());
  });
  let closed: Promise<void> | undefined;
  const close = () => (closed ??= new Promise<void>((resolve) => socket.close(() => resolve())));
  t.after(close);
  return { server: formatServer(host, socket.address().port), queries: () => received, close };
}
