// POP3 retrieval throughput of kakitome against Dovecot, in the same run.
//
// One mailbox of COUNT messages of mixed sizes (bench/pop3/mailbox.ts: seeded, 1-100 KB,
// mean ~25 KB, RFC 5322 headers, CRLF, lines starting with "."), put into kakitome the
// way mail arrives (SMTP to its port 25) and into a private Dovecot's Maildir as
// Dovecot's own delivery would leave it. Both serve it over POP3S (implicit TLS, TLS 1.3,
// the same cipher suite). The client (bench/pop3/pop3-client.ts) logs in with USER/PASS,
// then LIST, RETR of every message pipelined in batches of BATCH (two batches in
// flight), QUIT — and checks every message's size against LIST, and the count.
//
// Timed, for each server: from sending LIST until QUIT's +OK (login is shown apart).
// Before the timed rounds, one untimed session per server retrieves everything and
// compares every message with the original (Dovecot: identical; kakitome: the original
// after its Received header); it also absorbs one-time work (Dovecot builds its index,
// moves new/ to cur/ and sets \Seen at that first QUIT).
//
// Usage (as root; Dovecot must be installed, see bench/README.md):
//   node bench/pop3.ts [--count 10000] [--batch 100] [--rounds 1] [--only dovecot|kakitome]
//        [--seed 1] [--sessions 20] [--pin auto|none|SERVER,CLIENT] [--cipher SUITE]
//        [--max-seconds 300] [--load-seconds 300] [--dir DIR] [--keep]
import { chmodSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomLoopbackAddress } from '../test/harness/loopback.ts';
import { freeTcpPort } from '../test/harness/ports.ts';
import { run } from '../test/harness/processes.ts';
import { startDns, type DnsFixture } from '../test/harness/dns.ts';
import { cpuBusy, machineBusySeconds, mb } from './smtp-inbound/procfs.ts';
import { makeMailbox, messageIdOf, type Mailbox } from './pop3/mailbox.ts';
import { findDovecot, fillMaildir, maildirOf, startDovecot, type DovecotPeer, type DovecotTools } from './pop3/dovecot.ts';
import { startKakitome, type KakitomePeer } from './pop3/kakitome.ts';
import { sharedClamd } from '../test/harness/clamd.ts';
import { loadOverSmtp } from './pop3/smtp-loader.ts';
import { GreetingRefused, probePop3s, retrieveAll, type RetrievalResult, type TlsTarget } from './pop3/pop3-client.ts';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '10000' },
    batch: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '1' },
    only: { type: 'string' },
    seed: { type: 'string', default: '1' },
    sessions: { type: 'string', default: '20' },
    pin: { type: 'string', default: 'auto' },
    cipher: { type: 'string', default: 'TLS_AES_256_GCM_SHA384' },
    'max-seconds': { type: 'string', default: '300' },
    'load-seconds': { type: 'string', default: '300' },
    dir: { type: 'string', default: tmpdir() },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log('usage: node bench/pop3.ts [--count 10000] [--batch 100] [--rounds 1] [--only dovecot|kakitome] [--seed 1]');
  console.log('         [--sessions 20] [--pin auto|none|SERVER,CLIENT] [--cipher TLS_AES_256_GCM_SHA384]');
  console.log('         [--max-seconds 300] [--load-seconds 300] [--dir DIR] [--keep]');
  console.log('Runs as root; needs Dovecot (Debian package dovecot-pop3d) for the peer. See bench/README.md.');
  process.exit(0);
}

function usageError(message: string): never {
  console.error(`pop3: ${message}`);
  process.exit(2);
}

const count = Number(values.count);
const batch = Number(values.batch);
const rounds = Number(values.rounds);
const seed = Number(values.seed);
const sessions = Number(values.sessions);
const maxSeconds = Number(values['max-seconds']);
const loadSeconds = Number(values['load-seconds']);
const only = values.only;
const cipherSuite = values.cipher;
if (!Number.isInteger(count) || count < 1 || count > 1_000_000) usageError('--count must be a whole number from 1 to 1000000');
if (!Number.isInteger(batch) || batch < 1 || batch > 10_000) usageError('--batch must be a whole number from 1 to 10000');
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) usageError('--rounds must be a whole number from 1 to 20');
if (!Number.isInteger(seed) || seed < 0) usageError('--seed must be a whole number');
if (!Number.isInteger(sessions) || sessions < 1 || sessions > 100) usageError('--sessions must be a whole number from 1 to 100');
if (!(maxSeconds > 0) || !(loadSeconds > 0)) usageError('--max-seconds and --load-seconds must be positive');
if (only !== undefined && only !== 'dovecot' && only !== 'kakitome') usageError('--only takes dovecot or kakitome');
if (!/^TLS_[A-Z0-9_]+$/.test(cipherSuite)) usageError('--cipher takes one TLS 1.3 cipher suite, e.g. TLS_AES_256_GCM_SHA384');

/** Server CPU and client CPU, or none. */
function pinning(): { server: number; client: number } | undefined {
  const cpuCount = cpus().length;
  if (values.pin === 'none') return undefined;
  if (values.pin === 'auto') return cpuCount >= 2 ? { server: cpuCount - 1, client: 0 } : undefined;
  const match = /^(\d+),(\d+)$/.exec(values.pin);
  if (!match) usageError('--pin takes auto, none or SERVER_CPU,CLIENT_CPU (e.g. 1,0)');
  const [server, client] = [Number(match[1]), Number(match[2])];
  if (server >= cpuCount || client >= cpuCount) usageError(`--pin: this machine has CPUs 0-${cpuCount - 1}`);
  return { server, client };
}
const pin = pinning();
const runDovecot = only !== 'kakitome';
const runKakitomeToo = only !== 'dovecot';

const DOMAIN = 'bench.test';
const USER = `user@${DOMAIN}`;
const PASSWORD = 'benchmark password, not secret';
const SENDER = 'sender@client.test';
const HELO = 'client.test';
/** Throughput unit: 10^6 octets. */
const MEGA = 1e6;

type Server = 'dovecot' | 'kakitome';

class BenchFailure extends Error {}

interface Outcome {
  server: Server;
  round: number;
  result: RetrievalResult;
  /** Server CPU seconds (all processes and threads) from LIST to QUIT's +OK. */
  cpuSeconds: number;
  /** What the rest of the machine used meanwhile: this client, kernel threads, other work. */
  otherCpuSeconds: number;
  /** kakitome: VmHWM of serve; Dovecot: the largest Σ PSS sampled during the session. */
  memoryBytes: number | undefined;
  memoryLabel: string;
  /** The same figure from LIST to QUIT only: without the login, whose password check has its own cost (kakitome: scrypt's 32 MiB). */
  retrievalLabel: string;
  /** Largest PSS (kakitome: of serve; Dovecot: Σ over its processes) sampled during the session. */
  pssBytes: number | undefined;
  dovecotMemory?: { processes: number; rssBytes: number; pop3HwmBytes: number | undefined };
}

interface Peer {
  server: Server;
  target: TlsTarget;
  cpuSeconds(): number;
  /** Called before a timed session. */
  beforeSession(): Promise<void>;
  /** PSS now (sampled during the session). */
  sampleMemory(): void;
  /** Called once logged in, before LIST: the retrieval's own peak starts here. */
  afterLogin(): void;
  /** Called after QUIT; returns the memory figures. */
  afterSession(): Promise<Pick<Outcome, 'memoryBytes' | 'memoryLabel' | 'retrievalLabel' | 'pssBytes' | 'dovecotMemory'>>;
  diagnose(): Promise<string>;
  stop(): Promise<void>;
}

function filesystemNote(dir: string): string {
  try {
    const type = statfsSync(dir).type;
    if (type === 0x01021994 || type === 0x858458f6) return ` — note: ${dir} is in memory (tmpfs)`;
  } catch { /* unknown: say nothing */ }
  return '';
}

async function busyNote(): Promise<string> {
  const busy = await cpuBusy();
  return `CPU busy before: ${(busy * 100).toFixed(0)}%${busy > 0.2 ? ' (something else is running: noisy)' : ''}`;
}

function describeMailbox(mailbox: Mailbox): string {
  const sizes = mailbox.messages.map((message) => message.data.length).sort((a, b) => a - b);
  return `${count} messages, ${(mailbox.totalOctets / MEGA).toFixed(1)} MB (sizes ${sizes[0]}–${sizes.at(-1)} octets, ` +
    `mean ${(mailbox.totalOctets / count / 1000).toFixed(1)} KB, median ${(sizes[Math.floor(count / 2)]! / 1000).toFixed(1)} KB), ` +
    `${mailbox.dotLines} lines starting with ".", seed ${seed}, digest ${mailbox.digest}`;
}

async function setUpDovecot(tools: DovecotTools, base: string, mailbox: Mailbox): Promise<Peer> {
  const host = randomLoopbackAddress();
  const settings = { dir: join(base, 'dovecot'), host, port: await freeTcpPort(host), user: USER, password: PASSWORD, cpu: pin?.server };
  await mkdir(settings.dir);
  const { octetsOnDisk } = fillMaildir(settings, mailbox.messages);
  let dovecot: DovecotPeer;
  try {
    dovecot = await startDovecot(tools, settings);
  } catch (error) {
    throw new BenchFailure(`dovecot: ${(error as Error).message}`);
  }
  console.log(`dovecot: master pid ${dovecot.masterPid} on ${host}:${settings.port} (POP3S), Maildir ${maildirOf(settings)} ` +
    `(${count} files in new/, ${(octetsOnDisk / MEGA).toFixed(1)} MB with LF line ends)`);
  let peakPss = 0;
  let retrievalPss = 0;
  let loggedIn = false;
  // The largest sample's breakdown (processes, Σ RSS, the pop3 process's own peak).
  let lastMemory: { processes: number; rssBytes: number; pop3HwmBytes: number | undefined } | undefined;
  const settle = async () => {
    // A session's pop3 and pop3-login processes exit after QUIT; wait until the master
    // has reaped them, so that their CPU time is in its cutime/cstime.
    const deadline = Date.now() + 5000;
    while (dovecot.sessionProcesses().length > 0 && Date.now() < deadline) await sleep(20);
  };
  return {
    server: 'dovecot',
    target: { host, port: settings.port, ca: dovecot.cert, cipherSuite },
    cpuSeconds: dovecot.cpuSeconds,
    beforeSession: async () => {
      await settle();
      peakPss = 0;
      retrievalPss = 0;
      loggedIn = false;
      lastMemory = undefined;
    },
    sampleMemory: () => {
      const memory = dovecot.memory();
      if (loggedIn) retrievalPss = Math.max(retrievalPss, memory.pssBytes);
      if (memory.pssBytes > peakPss) {
        peakPss = memory.pssBytes;
        lastMemory = memory;
      }
    },
    afterLogin: () => {
      loggedIn = true;
    },
    afterSession: async () => {
      await settle();
      return {
        memoryBytes: peakPss || undefined,
        memoryLabel: `Σ PSS ${mb(peakPss || undefined)}`,
        retrievalLabel: `Σ PSS ${mb(retrievalPss || undefined)}`,
        pssBytes: peakPss || undefined,
        dovecotMemory: lastMemory,
      };
    },
    diagnose: async () => `last Dovecot log lines:\n${await dovecot.logTail()}`,
    stop: dovecot.stop,
  };
}

async function setUpKakitome(base: string, resolver: string, mailbox: Mailbox, notes: string[]): Promise<Peer> {
  const host = randomLoopbackAddress();
  const dir = join(base, 'kakitome');
  await mkdir(dir);
  let kakitome: KakitomePeer;
  try {
    kakitome = await startKakitome({ dir, host, domain: DOMAIN, user: USER, password: PASSWORD, dns: resolver, cpu: pin?.server, clamd: await sharedClamd() });
  } catch (error) {
    throw new BenchFailure(`kakitome: ${(error as Error).message}`);
  }
  try {
    const startRss = kakitome.peakRss();
    console.log(`kakitome: serve pid ${kakitome.pid} on ${host} (SMTP ${kakitome.ports.smtp}, POP3S ${kakitome.ports.pop3s}), peak RSS after start ${mb(startRss)}`);
    let load;
    try {
      load = await loadOverSmtp({ host, port: kakitome.ports.smtp, sender: SENDER, recipient: USER, heloName: HELO, sessions, timeoutMs: loadSeconds * 1000 }, mailbox.messages);
    } catch (error) {
      const log = kakitome.logTail(1_000_000).split('\n');
      const quiet = log.filter((line) => !line.includes('"message accepted"'));
      throw new BenchFailure(`kakitome: loading the mailbox over SMTP failed: ${(error as Error).message} (${kakitome.delivered()} messages in its store)\n` +
        `last kakitome log lines other than the ${log.length - quiet.length} "message accepted":\n${quiet.slice(-20).join('\n')}`);
    }
    const delivered = kakitome.delivered();
    if (load.sent !== count || delivered !== count) {
      throw new BenchFailure(`kakitome: ${load.sent} messages got 250 over SMTP, ${delivered} are in its store; expected ${count}\nlast kakitome log lines:\n${kakitome.logTail()}`);
    }
    console.log(`kakitome: loaded ${count} messages over SMTP (${sessions} sessions) in ${load.seconds.toFixed(1)} s ` +
      `(${(count / load.seconds).toFixed(0)} msg/s); peak RSS after loading ${mb(kakitome.peakRss())}`);
    if (!kakitome.resetPeakRss()) notes.push('kakitome: could not reset VmHWM (/proc/PID/clear_refs); its peak RSS includes the SMTP loading');

    const target: TlsTarget = { host, port: kakitome.ports.pop3s, ca: kakitome.cert, cipherSuite };
    const probe = await probePop3s(target, 10_000).catch((error: Error) => ({ ok: false, greeting: `no answer: ${error.message}` }));
    if (!probe.ok) {
      throw new BenchFailure(
        `kakitome: its POP3S listener on ${host}:${target.port} does not serve POP3, so nothing was timed.\n` +
        `  greeting: ${probe.greeting}\n` +
        (probe.greeting.includes('service not available')
          ? '  This is the placeholder of a listener whose protocol is not built yet: POP3 (issue 4) has not landed.'
          : '  Expected a +OK greeting after the TLS handshake.'),
      );
    }
    let peakPss = 0;
    let loginPeak: number | undefined;
    return {
      server: 'kakitome',
      target,
      cpuSeconds: kakitome.cpuSeconds,
      beforeSession: async () => {
        kakitome.resetPeakRss();
        peakPss = 0;
        loginPeak = undefined;
      },
      afterLogin: () => {
        loginPeak = kakitome.peakRss();
        kakitome.resetPeakRss();
      },
      sampleMemory: () => {
        peakPss = Math.max(peakPss, kakitome.pss() ?? 0);
      },
      afterSession: async () => {
        const retrieval = kakitome.peakRss();
        const hwm = retrieval === undefined ? undefined : Math.max(retrieval, loginPeak ?? 0);
        return { memoryBytes: hwm, memoryLabel: mb(hwm), retrievalLabel: mb(retrieval), pssBytes: peakPss || undefined };
      },
      diagnose: async () => `last kakitome log lines:\n${kakitome.logTail()}`,
      stop: kakitome.stop,
    };
  } catch (error) {
    await kakitome.stop();
    throw error;
  }
}

/**
 * The untimed first session: every message compared with the original. Dovecot must
 * return each one identically; kakitome the original after the header fields it
 * prepends (its Received field).
 */
async function verifyingSession(peer: Peer, mailbox: Mailbox): Promise<string> {
  const originals = new Map(mailbox.messages.map((message) => [message.messageId, message.data]));
  const seen = new Set<string>();
  let prepended = 0;
  const result = await retrieveAll({
    target: peer.target,
    user: USER,
    password: PASSWORD,
    batch,
    timeoutMs: maxSeconds * 1000,
    verify: (number, data) => {
      const id = messageIdOf(data);
      const original = id === undefined ? undefined : originals.get(id);
      if (!id || !original) throw new Error(`message ${number} has no Message-ID of the benchmark mailbox`);
      if (seen.has(id)) throw new Error(`message ${number}: <${id}> was retrieved twice`);
      seen.add(id);
      if (peer.server === 'dovecot') {
        if (!data.equals(original)) throw new Error(`message ${number} <${id}> differs from the original`);
      } else {
        const extra = data.length - original.length;
        const prefix = data.toString('latin1', 0, Math.max(0, extra));
        if (extra < 0 || !data.subarray(extra).equals(original) || !/^([!-9;-~]+:[^\r\n]*\r\n([ \t][^\r\n]*\r\n)*)+$/.test(prefix)) {
          throw new Error(`message ${number} <${id}> is not the original after prepended header fields`);
        }
        prepended += extra;
      }
    },
  });
  if (result.listed !== count || result.retrieved !== count || seen.size !== count) {
    throw new Error(`LIST showed ${result.listed} messages and ${result.retrieved} were retrieved (${seen.size} distinct); expected ${count}`);
  }
  const what = peer.server === 'dovecot'
    ? `all ${count} identical to the originals`
    : `all ${count} = original after ${(prepended / count).toFixed(0)} octets of prepended header (Received) on average`;
  return `${peer.server}: ${what}; ${(result.octets / MEGA).toFixed(1)} MB in ${result.seconds.toFixed(2)} s (first session, not counted)`;
}

async function timedSession(peer: Peer, round: number): Promise<Outcome> {
  await peer.beforeSession();
  console.log(`round ${round} ${peer.server}: ${await busyNote()}`);
  let cpuBefore = 0;
  let machineBefore = 0;
  const sampler = setInterval(() => peer.sampleMemory(), 250);
  let result: RetrievalResult;
  try {
    result = await retrieveAll({
      target: peer.target,
      user: USER,
      password: PASSWORD,
      batch,
      timeoutMs: maxSeconds * 1000,
      onLoggedIn: () => {
        peer.afterLogin();
        cpuBefore = peer.cpuSeconds();
        machineBefore = machineBusySeconds();
      },
      onRetrieved: () => peer.sampleMemory(),
    });
  } catch (error) {
    const message = error instanceof GreetingRefused ? `greeted with ${JSON.stringify(error.greeting)}` : (error as Error).message;
    throw new BenchFailure(`${peer.server}: round ${round}: ${message}\n${await peer.diagnose()}`);
  } finally {
    clearInterval(sampler);
  }
  const machineUsed = machineBusySeconds() - machineBefore;
  const memory = await peer.afterSession();
  const cpuSeconds = peer.cpuSeconds() - cpuBefore;
  if (result.listed !== count || result.retrieved !== count) {
    throw new BenchFailure(`${peer.server}: round ${round}: LIST showed ${result.listed} messages, ${result.retrieved} retrieved; expected ${count}`);
  }
  if (result.octets !== result.listedOctets) {
    throw new BenchFailure(`${peer.server}: round ${round}: received ${result.octets} octets, LIST sizes add up to ${result.listedOctets}`);
  }
  return { server: peer.server, round, result, cpuSeconds, otherCpuSeconds: Math.max(0, machineUsed - cpuSeconds), ...memory };
}

function median(numbers: number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const messagesPerSecond = (outcome: Outcome) => outcome.result.retrieved / outcome.result.seconds;
const megabytesPerSecond = (outcome: Outcome) => outcome.result.octets / MEGA / outcome.result.seconds;

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('pop3: must run as root: the Dovecot peer\'s master runs as root and drops to dovecot, dovenull and nobody.');
    return 1;
  }
  let tools: DovecotTools | undefined;
  if (runDovecot) {
    try {
      tools = await findDovecot();
    } catch (error) {
      console.error(`pop3: ${(error as Error).message}`);
      return 1;
    }
  }
  if (pin) {
    // This process (the client and the SMTP loader) on its own CPU, every thread; the servers on another.
    const pinned = await run('taskset', ['-a', '-p', '-c', String(pin.client), String(process.pid)], { timeoutMs: 10_000 }).catch((error: Error) => ({ code: 1, stderr: error.message, stdout: '' }));
    if (pinned.code !== 0) {
      console.error(`pop3: cannot pin the client with taskset (util-linux): ${pinned.stderr.trim()}; use --pin none`);
      return 1;
    }
  }

  const mailbox = makeMailbox(count, seed, USER);
  await mkdir(values.dir, { recursive: true });
  const base = mkdtempSync(join(values.dir, 'kakitome-bench-pop3-'));
  chmodSync(base, 0o755);
  // Interrupted (Ctrl-C, SIGTERM): the harness kills the servers (test/harness/cleanup.ts,
  // on exit); the ~500 MB of mailboxes go too, unless --keep.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`pop3: ${signal}: stopping${values.keep ? `; kept: ${base}` : ''}`);
      if (!values.keep) rmSync(base, { recursive: true, force: true, maxRetries: 3 });
      process.exit(130);
    });
  }
  const gitHead = await run('git', ['describe', '--always', '--dirty'], { cwd: import.meta.dirname, timeoutMs: 10_000 }).catch(() => undefined);
  console.log(`pop3: ${describeMailbox(mailbox)}`);
  console.log(`client: POP3S (implicit TLS), TLS 1.3 offering only ${cipherSuite}; USER/PASS, then LIST, RETR 1..${count} pipelined in batches of ${batch}`);
  console.log(`        (two batches in flight), QUIT; every size checked against LIST. Timed: from LIST to QUIT's +OK, ${rounds} round(s)`);
  console.log(`pinning: ${pin ? `servers (every process and thread) on CPU ${pin.server}, this client on CPU ${pin.client} (taskset)` : 'none'}`);
  console.log(`dovecot ${tools?.version ?? '-'}, node ${process.versions.node}, kakitome ${gitHead?.stdout.trim() || '?'}, ${cpus().length} CPUs, data in ${base}${filesystemNote(base)}`);
  console.log('');

  const outcomes: Outcome[] = [];
  const failures: string[] = [];
  const notes: string[] = [];
  const peers: Peer[] = [];
  let dns: DnsFixture | undefined;
  try {
    if (runKakitomeToo) {
      // kakitome resolves through a loopback dnsmasq that answers NXDOMAIN for everything.
      const host = randomLoopbackAddress();
      let resolver: string;
      try {
        dns = await startDns({}, { address: host });
        resolver = dns.server;
      } catch (error) {
        resolver = `${host}:${await freeTcpPort(host)}`;
        notes.push(`kakitome: no dnsmasq (${(error as Error).message.split('\n')[0]}); its resolver is ${resolver}, where nothing answers`);
      }
      try {
        peers.push(await setUpKakitome(base, resolver, mailbox, notes));
      } catch (error) {
        if (!(error instanceof BenchFailure)) throw error;
        failures.push(error.message);
      }
    }
    if (tools) {
      try {
        peers.unshift(await setUpDovecot(tools, base, mailbox));
      } catch (error) {
        if (!(error instanceof BenchFailure)) throw error;
        failures.push(error.message);
      }
    }
    // Write back what loading left dirty, so that writeback does not run during a timed round.
    await run('sync', [], { timeoutMs: 120_000 }).catch(() => undefined);

    const live: Peer[] = [];
    for (const peer of peers) {
      try {
        console.log(`check: ${await verifyingSession(peer, mailbox)}`);
        live.push(peer);
      } catch (error) {
        failures.push(`${peer.server}: the untimed check failed: ${(error as Error).message}\n${await peer.diagnose()}`);
      }
    }
    console.log('');

    const failed = new Set<Server>();
    for (let round = 1; round <= rounds && failed.size < live.length; round++) {
      // Alternate the order, so neither side always runs on a cooler (or warmer) machine.
      for (const peer of round % 2 ? live : [...live].reverse()) {
        if (failed.has(peer.server)) continue;
        try {
          outcomes.push(await timedSession(peer, round));
        } catch (error) {
          if (!(error instanceof BenchFailure)) throw error;
          failures.push(error.message);
          failed.add(peer.server);
        }
      }
    }
  } finally {
    for (const peer of peers) await peer.stop().catch((error: Error) => notes.push(`${peer.server}: stop: ${error.message}`));
    await dns?.stop();
    if (values.keep) console.log(`kept: ${base}`);
    else rmSync(base, { recursive: true, force: true, maxRetries: 3 });
  }

  console.log('');
  if (outcomes.length > 0) {
    console.log('round  server     messages      MB  login ms  LIST→QUIT s   msg/s   MB/s  server CPU s  CPU µs/msg  client CPU s  other CPU s  memory  LIST→QUIT memory');
    for (const outcome of outcomes) {
      const { result } = outcome;
      console.log([
        String(outcome.round).padStart(5),
        outcome.server.padEnd(9),
        String(result.retrieved).padStart(9),
        (result.octets / MEGA).toFixed(1).padStart(7),
        (result.loginSeconds * 1000).toFixed(0).padStart(8),
        result.seconds.toFixed(3).padStart(11),
        messagesPerSecond(outcome).toFixed(0).padStart(7),
        megabytesPerSecond(outcome).toFixed(1).padStart(6),
        outcome.cpuSeconds.toFixed(2).padStart(12),
        ((outcome.cpuSeconds * 1e6) / result.retrieved).toFixed(0).padStart(10),
        result.clientCpuSeconds.toFixed(2).padStart(12),
        outcome.otherCpuSeconds.toFixed(2).padStart(11),
        outcome.memoryLabel.padStart(8),
        outcome.retrievalLabel.padStart(16),
      ].join('  '));
    }
    const of = (server: Server) => outcomes.filter((outcome) => outcome.server === server);
    for (const server of ['dovecot', 'kakitome'] as const) {
      const mine = of(server);
      if (mine.length > 1) {
        console.log(`median ${server}: ${median(mine.map(messagesPerSecond)).toFixed(0)} msg/s, ${median(mine.map(megabytesPerSecond)).toFixed(1)} MB/s over ${mine.length} rounds`);
      }
    }
    const pairs = of('kakitome').flatMap((kakitome) => of('dovecot').filter((dovecot) => dovecot.round === kakitome.round).map((dovecot) => ({ kakitome, dovecot })));
    if (pairs.length > 0) {
      const ratios = pairs.map(({ kakitome, dovecot }) => messagesPerSecond(kakitome) / messagesPerSecond(dovecot));
      const byteRatios = pairs.map(({ kakitome, dovecot }) => megabytesPerSecond(kakitome) / megabytesPerSecond(dovecot));
      const show = (list: number[]) => (list.length > 1 ? `median ${median(list).toFixed(2)}× (rounds: ${list.map((ratio) => ratio.toFixed(2)).join(', ')})` : `${list[0]!.toFixed(2)}×`);
      console.log(`ratio kakitome/dovecot: msg/s ${show(ratios)}; MB/s ${show(byteRatios)}`);
      // Steadier than msg/s when other work shares the machine: CPU per message.
      const cpuPerMessage = (outcome: Outcome) => (outcome.cpuSeconds * 1e6) / outcome.result.retrieved;
      const cpuRatios = pairs.map(({ kakitome, dovecot }) => cpuPerMessage(dovecot) / cpuPerMessage(kakitome));
      console.log(`server CPU µs/msg: dovecot ${median(of('dovecot').map(cpuPerMessage)).toFixed(0)}, kakitome ${median(of('kakitome').map(cpuPerMessage)).toFixed(0)} ` +
        `(medians); dovecot/kakitome per round (above 1: kakitome needs less CPU per message): ${show(cpuRatios)}`);
    }
    const tlsOf = (server: Server) => of(server)[0]?.result.tls;
    for (const server of ['dovecot', 'kakitome'] as const) {
      const tls = tlsOf(server);
      if (tls) console.log(`TLS ${server}: ${tls.protocol} ${tls.cipher}, key exchange ${tls.keyExchange}`);
    }
    console.log(`msg/s, MB/s = messages, octets received (after dot-unstuffing; = LIST sizes) / LIST→QUIT s; MB = 10^6 octets.`);
    console.log('  kakitome\'s messages carry the Received field it prepends at delivery, so its MB are a little larger.');
    console.log('server CPU s: user + system of every server process and thread from LIST to QUIT (Dovecot: the master and its');
    console.log('  children, the session\'s pop3-login and pop3 processes once reaped); client CPU s: this process meanwhile;');
    console.log('  other CPU s: the rest of the machine, client included. A client near LIST→QUIT s would mean the client is the limit.');
    console.log('memory: kakitome = VmHWM of its serve process over the session (reset before it through /proc/PID/clear_refs);');
    console.log('  Dovecot = the largest Σ PSS of its processes (master, config, log, anvil, auth, stats, pop3-login, pop3)');
    console.log('  sampled every 250 ms and after the last RETR (its session processes exit at QUIT).');
    console.log('LIST→QUIT memory: the same, from LIST on (kakitome: VmHWM reset again once logged in). The session\'s figure');
    console.log('  includes the login: kakitome checks the password with scrypt (N=2^15, r=8: 32 MiB while it runs), Dovecot');
    console.log('  with SHA512-CRYPT (no working memory to speak of).');
    const lastDovecot = of('dovecot').at(-1);
    if (lastDovecot?.dovecotMemory) {
      const memory = lastDovecot.dovecotMemory;
      console.log(`  (dovecot, round ${lastDovecot.round}: ${memory.processes} processes, Σ RSS ${mb(memory.rssBytes)} counting shared pages in each; the pop3 process's own VmHWM ${mb(memory.pop3HwmBytes)})`);
    }
    const lastKakitome = of('kakitome').at(-1);
    if (lastKakitome?.pssBytes) console.log(`  (kakitome, round ${lastKakitome.round}: largest PSS of serve sampled the same way: ${mb(lastKakitome.pssBytes)})`);
  }
  for (const note of notes) console.log(`note: ${note}`);
  for (const failure of failures) console.error(`\nFAILED ${failure}`);
  return failures.length > 0 ? 1 : 0;
}

process.exit(await main());
