// Inbound SMTP throughput of kakitome's port 25 against Postfix, in the same run.
//
// Postfix's smtp-source sends COUNT messages of SIZE body bytes over SESSIONS parallel
// SMTP sessions (each session stays connected and sends message after message) to a
// private Postfix instance and, in the same run but never at the same time, to a
// kakitome instance, each on its own loopback address. Both do the same job: accept mail for a local domain from an untrusted
// client, fsync it before the 250 reply, and deliver it into the user's mailbox
// (Postfix: virtual(8) into a Maildir; kakitome: its MDA into the message store).
//
// Timed, for each server: from spawning smtp-source until the last message is in the
// mailbox (the Maildir holds COUNT files, or kakitome's sqlite COUNT messages rows) —
// acceptance and delivery. The time until smtp-source exits (every message
// acknowledged with 250) is shown too. kakitome's peak RSS is VmHWM of its serve
// process, read at the end of its run.
//
// Usage (as root, Postfix must be installed; see bench/README.md):
//   node bench/smtp-inbound.ts [--count 5000] [--sessions 20] [--size 10240 | --attachment OCTETS]
//        [--rounds 1] [--only postfix|kakitome] [--max-seconds 300]
//        [--drain-seconds 120] [--dir DIR] [--keep]
// --rounds N repeats the pair N times with fresh instances, alternating which goes
// first, and adds medians. --max-seconds bounds each smtp-source run, --drain-seconds
// the wait for the last delivery after it. --dir must be on a disk (not tmpfs).
import { chmodSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomLoopbackAddress } from '../test/harness/loopback.ts';
import { freeTcpPort } from '../test/harness/ports.ts';
import { run } from '../test/harness/processes.ts';
import { startDns, type DnsFixture } from '../test/harness/dns.ts';
import { findPostfix, maildirNew, startPostfix, type PostfixTools } from './smtp-inbound/postfix.ts';
import { startKakitome } from './smtp-inbound/kakitome.ts';
import { startClamd, type Clamd } from '../test/harness/clamd.ts';
import { runMimeLoad } from './smtp-inbound/mime-load.ts';
import { YARA_RULE } from '../test/harness/yara.ts';
import { findRspamd, startRspamd, type RspamdPeer, type RspamdTools } from './smtp-inbound/rspamd.ts';
import { probeSmtp, runSmtpSource, smtpSourceArgs, type Load } from './smtp-inbound/smtp-source.ts';
import { cpuBusy, cpuSeconds, machineBusySeconds, mb } from './smtp-inbound/procfs.ts';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '5000' },
    sessions: { type: 'string', default: '20' },
    size: { type: 'string', default: '10240' },
    attachment: { type: 'string' },
    yara: { type: 'boolean', default: false },
    only: { type: 'string' },
    'max-seconds': { type: 'string', default: '300' },
    'drain-seconds': { type: 'string', default: '120' },
    dir: { type: 'string', default: tmpdir() },
    rounds: { type: 'string', default: '1' },
    keep: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log('usage: node bench/smtp-inbound.ts [--count 5000] [--sessions 20] [--size 10240 | --attachment OCTETS] [--rounds 1]');
  console.log('         [--only postfix,postfix+rspamd,kakitome] [--max-seconds 300] [--drain-seconds 120] [--dir DIR] [--keep]');
  console.log('         [--cpu-prof DIR]   (kakitome serve writes a V8 CPU profile into DIR)');
  console.log('         [--yara]           (kakitome scans with a second engine: YARA-X with the tests\' rule)');
  console.log('Runs as root; needs Postfix (Debian package postfix) for smtp-source and the peer. See bench/README.md.');
  process.exit(0);
}

const count = Number(values.count);
const sessions = Number(values.sessions);
const size = Number(values.size);
const maxSeconds = Number(values['max-seconds']);
const drainSeconds = Number(values['drain-seconds']);
const only = values.only;
const rounds = Number(values.rounds);

function usageError(message: string): never {
  console.error(`smtp-inbound: ${message}`);
  process.exit(2);
}
if (!Number.isInteger(count) || count < 1) usageError('--count must be a positive whole number');
if (!Number.isInteger(sessions) || sessions < 1 || sessions > count) usageError('--sessions must be a whole number from 1 to --count');
if (!Number.isInteger(size) || size < 1) usageError('--size must be a positive whole number');
const attachment = values.attachment === undefined ? undefined : Number(values.attachment);
if (attachment !== undefined && (!Number.isInteger(attachment) || attachment < 1 || attachment > 20_000_000)) usageError('--attachment must be a whole number of octets from 1 to 20000000');
if (!(maxSeconds > 0) || !(drainSeconds > 0)) usageError('--max-seconds and --drain-seconds must be positive');
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) usageError('--rounds must be a whole number from 1 to 20');
const SERVERS = ['postfix', 'postfix+rspamd', 'kakitome'] as const;
type Server = (typeof SERVERS)[number];
const chosen = (only ?? SERVERS.join(',')).split(',');
for (const name of chosen) if (!(SERVERS as readonly string[]).includes(name)) usageError(`--only takes a comma-separated list of ${SERVERS.join(', ')}`);
const runPostfix = chosen.includes('postfix');
const runRspamd = chosen.includes('postfix+rspamd');
const runKakitomeToo = chosen.includes('kakitome');

const DOMAIN = 'bench.test';
const USER = `user@${DOMAIN}`;
const SENDER = 'sender@client.test';
const HELO = 'client.test';

interface Outcome {
  server: Server;
  round: number;
  /** Messages found in the mailbox at the end. */
  delivered: number;
  acceptSeconds: number;
  totalSeconds: number;
  /** CPU seconds the server used during the timed run (all its processes and threads). */
  cpuSeconds: number;
  /** CPU seconds the rest of the machine used meanwhile. */
  otherCpuSeconds: number;
  peakRss: string;
  /** Postfix: its processes' memory at the end of the run. */
  memory?: { processes: number; rssBytes: number; pssBytes: number };
}

class BenchFailure extends Error {}

/**
 * One timed run: smtp-source against `target`, then wait (bounded) until `delivered()`
 * reaches the count. The clock runs from spawning smtp-source to the last delivery.
 */
async function timedRun(
  tools: PostfixTools,
  name: string,
  target: {
    host: string;
    port: number;
    /** Messages in the mailbox, exactly. */
    delivered: () => number;
    /** Deliveries so far, cheap enough to poll every 10 ms. */
    progress: () => number;
    /** CPU seconds the server has used so far. */
    cpuSeconds: () => number;
    diagnose: () => Promise<string>;
  },
): Promise<{ delivered: number; acceptSeconds: number; totalSeconds: number; cpuSeconds: number; otherCpuSeconds: number }> {
  const before = target.delivered();
  if (before !== 0) throw new BenchFailure(`${name}: the mailbox already holds ${before} messages before the run`);
  const load: Load = {
    host: target.host,
    port: target.port,
    count,
    sessions,
    size,
    sender: SENDER,
    recipient: USER,
    heloName: HELO,
    timeoutMs: maxSeconds * 1000,
  };
  const cpuBefore = target.cpuSeconds();
  const machineBefore = machineBusySeconds();
  const start = performance.now();
  let result;
  try {
    result = attachment === undefined ? await runSmtpSource(tools.smtpSource, load) : await runMimeLoad(load, attachment);
  } catch (error) {
    throw new BenchFailure(`${name}: smtp-source did not finish within --max-seconds ${maxSeconds}: ${(error as Error).message.split('\n')[0]}\n${await target.diagnose()}`);
  }
  if (result.code !== 0) {
    throw new BenchFailure(
      `${name}: smtp-source failed (exit ${result.code}) after ${result.seconds.toFixed(2)} s; ${target.delivered()} messages delivered.\n` +
      `smtp-source said: ${result.stderr || '(nothing)'}\n${await target.diagnose()}`,
    );
  }
  // Wait for the last delivery: poll the cheap progress figure often, then confirm with
  // the exact count (which, should progress run ahead of it, is polled until it agrees).
  const deadline = performance.now() + drainSeconds * 1000;
  while (target.progress() < count && performance.now() < deadline) await sleep(10);
  let delivered = target.delivered();
  while (delivered < count && performance.now() < deadline) {
    await sleep(50);
    delivered = target.delivered();
  }
  const totalSeconds = (performance.now() - start) / 1000;
  const cpuUsed = target.cpuSeconds() - cpuBefore;
  const machineUsed = machineBusySeconds() - machineBefore;
  if (delivered !== count) {
    throw new BenchFailure(
      `${name}: smtp-source got 250 for all ${count} messages, but ${delivered} are in the mailbox ` +
      `${drainSeconds} s later (--drain-seconds)\n${await target.diagnose()}`,
    );
  }
  // Everything else the machine did meanwhile: smtp-source, this script, the kernel's
  // own threads (writeback, journal) — and, if large, other work disturbing the run.
  return { delivered, acceptSeconds: result.seconds, totalSeconds, cpuSeconds: cpuUsed, otherCpuSeconds: Math.max(0, machineUsed - cpuUsed) };
}

function filesystemNote(dir: string): string {
  try {
    // tmpfs and ramfs make fsync free, which would flatter both sides.
    const type = statfsSync(dir).type;
    if (type === 0x01021994 || type === 0x858458f6) return ` — WARNING: ${dir} is in memory (tmpfs), fsync costs nothing; use --dir on a disk`;
  } catch { /* unknown: say nothing */ }
  return '';
}

interface Context {
  tools: PostfixTools;
  base: string;
  /** kakitome's resolver, "host:port" on loopback. */
  resolver: string;
  dns: DnsFixture | undefined;
  /** rspamd, when installed and asked for (--only). */
  rspamd: RspamdTools | undefined;
  /** The clamd kakitome scans with (its default config's one engine): Debian's clamd with the tests' two-signature database. */
  clamd: Clamd | undefined;
  /** The same clamd's TCP listener, for rspamd (which runs as _rspamd and cannot open the root-only unix socket). */
  clamdTcp: { host: string; port: number } | undefined;
  notes: string[];
}

/** How busy the CPUs were in the last second before a timed run (a second that also lets the previous run's writeback settle). */
async function busyNote(): Promise<string> {
  const busy = await cpuBusy();
  return `CPU busy before: ${(busy * 100).toFixed(0)}%${busy > 0.2 ? ' (something else is running: noisy)' : ''}`;
}

/** A fresh private Postfix (with a fresh rspamd as its milter for 'postfix+rspamd'), one timed run, stopped again. */
async function benchPostfix(context: Context, round: number, server: 'postfix' | 'postfix+rspamd'): Promise<Outcome> {
  const host = randomLoopbackAddress();
  let rspamd: RspamdPeer | undefined;
  let milter: { host: string; port: number } | undefined;
  if (server === 'postfix+rspamd') {
    const rspamdHost = randomLoopbackAddress();
    milter = { host: rspamdHost, port: await freeTcpPort(rspamdHost) };
    const started = performance.now();
    rspamd = await startRspamd(context.rspamd!, { dir: join(context.base, `rspamd-${round}`), ...milter, dns: context.resolver, workers: cpus().length, ...(context.clamdTcp ? { clamd: context.clamdTcp } : {}) });
    console.log(`round ${round} rspamd: main pid ${rspamd.mainPid}, milter on ${milter.host}:${milter.port}, ready after ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
  const settings = { dir: join(context.base, `${server.replace('+', '-')}-${round}`), host, port: await freeTcpPort(host), domain: DOMAIN, user: USER, ...(milter ? { milter } : {}) };
  try {
    await mkdir(settings.dir);
    const lifetimeSeconds = Math.ceil(maxSeconds + drainSeconds + 300);
    const peer = await startPostfix(context.tools, settings, { lifetimeSeconds });
    try {
      console.log(`round ${round} ${server}: master pid ${peer.masterPid} on ${host}:${settings.port}, Maildir ${maildirNew(settings)}, ${await busyNote()}`);
      const clamdBefore = clamdCpu(context);
      const timing = await timedRun(context.tools, server, {
        host,
        port: settings.port,
        delivered: peer.delivered,
        progress: peer.progress,
        cpuSeconds: () => peer.cpuSeconds() + (rspamd ? rspamd.cpuSeconds() + clamdCpu(context) : 0),
        diagnose: async () => `Postfix queue: ${peer.queued()} files; last maillog lines:\n${await peer.logTail()}` + (rspamd ? `\nlast rspamd log lines:\n${await rspamd.logTail()}` : ''),
      });
      if (rspamd && context.clamd) {
        const clamdSeconds = clamdCpu(context) - clamdBefore;
        context.notes.push(`round ${round} ${server}: of its ${timing.cpuSeconds.toFixed(1)} CPU s, clamd's ${clamdSeconds.toFixed(1)} (${((clamdSeconds * 1000) / Math.max(1, timing.delivered)).toFixed(2)} ms per message)`);
      }
      const postfixMemory = peer.memory();
      const rspamdMemory = rspamd?.memory() ?? { processes: 0, rssBytes: 0, pssBytes: 0 };
      const memory = {
        processes: postfixMemory.processes + rspamdMemory.processes,
        rssBytes: postfixMemory.rssBytes + rspamdMemory.rssBytes,
        pssBytes: postfixMemory.pssBytes + rspamdMemory.pssBytes,
      };
      if (rspamd) context.notes.push(`round ${round} ${server}: rspamd's ${rspamdMemory.processes} processes hold Σ PSS ${mb(rspamdMemory.pssBytes)} of the ${mb(memory.pssBytes)}`);
      const queued = peer.queued();
      if (queued !== 0) context.notes.push(`round ${round} ${server}: ${queued} queue files left after delivery`);
      return { server, round, ...timing, peakRss: `Σ PSS ${mb(memory.pssBytes)}`, memory };
    } finally {
      await peer.stop();
    }
  } finally {
    await rspamd?.stop();
  }
}

/** CPU seconds of the benchmark's clamd so far (0 without one). */
function clamdCpu(context: Context): number {
  const pid = context.clamd?.pid();
  return pid === undefined ? 0 : cpuSeconds(pid);
}

/** A fresh kakitome instance, one timed run, stopped again. */
async function benchKakitome(context: Context, round: number): Promise<Outcome> {
  const host = randomLoopbackAddress();
  const dir = join(context.base, `kakitome-${round}`);
  await mkdir(dir);
  const peer = await startKakitome({ dir, host, domain: DOMAIN, user: USER, password: 'benchmark password, not secret', dns: context.resolver, clamd: context.clamd!, ...(values.yara ? { yaraRule: YARA_RULE } : {}), ...(values['cpu-prof'] ? { cpuProfileDir: resolve(values['cpu-prof']) } : {}) });
  const queriesBefore = context.dns?.queries().length ?? 0;
  try {
    console.log(`round ${round} kakitome: serve pid ${peer.pid} on ${host}:${peer.port}, peak RSS after start ${mb(peer.peakRss())}, ${await busyNote()}`);
    const probe = await probeSmtp(host, peer.port, 10_000).catch((error: Error) => ({ greeting: `no answer: ${error.message}`, ehlo: '', ready: false }));
    if (!probe.ready) {
      throw new BenchFailure(
        `kakitome: its SMTP listener on ${host}:${peer.port} does not take mail, so nothing was timed.\n` +
        `  greeting: ${probe.greeting.replaceAll('\n', '\n            ')}\n` +
        (probe.ehlo ? `  EHLO:     ${probe.ehlo.replaceAll('\n', '\n            ')}\n` : '') +
        (probe.greeting.includes('5.3.2')
          ? '  This is the placeholder of a listener whose protocol is not built yet: the MTA on port 25 (issue 3) has not landed.'
          : '  Expected a 220 greeting and a 250 EHLO reply.'),
      );
    }
    const clamdPidBefore = context.clamd?.pid();
    const clamdBefore = clamdPidBefore === undefined ? 0 : cpuSeconds(clamdPidBefore);
    const timing = await timedRun(context.tools, 'kakitome', {
      host,
      port: peer.port,
      delivered: peer.delivered,
      // count(*) over a few thousand small rows: microseconds.
      progress: peer.delivered,
      cpuSeconds: peer.cpuSeconds,
      diagnose: async () => `last kakitome log lines:\n${peer.logTail()}`,
    });
    const clamdPid = context.clamd?.pid();
    if (clamdPid !== undefined) {
      const clamdSeconds = cpuSeconds(clamdPid) - clamdBefore;
      context.notes.push(`round ${round} kakitome: of its ${timing.cpuSeconds.toFixed(1)} CPU s, clamd's ${clamdSeconds.toFixed(1)} (${((clamdSeconds * 1000) / Math.max(1, timing.delivered)).toFixed(2)} ms per message)`);
    }
    const queries = context.dns?.queries().slice(queriesBefore) ?? [];
    if (queries.length > 0) {
      const kinds = [...new Set(queries.map((query) => `${query.type} ${query.name}`))].slice(0, 5).join(', ');
      context.notes.push(`round ${round} kakitome: made ${queries.length} DNS queries during the run (e.g. ${kinds}); Postfix alone makes none`);
    }
    return { server: 'kakitome', round, ...timing, peakRss: mb(peer.peakRss()) };
  } finally {
    await peer.stop();
  }
}

const perSecond = (outcome: Outcome): number => outcome.delivered / outcome.totalSeconds;

function median(numbers: number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('smtp-inbound: must run as root: the Postfix peer\'s master daemon and virtual(8) delivery need it.');
    return 1;
  }
  let tools: PostfixTools;
  try {
    tools = await findPostfix();
  } catch (error) {
    console.error(`smtp-inbound: ${(error as Error).message}`);
    return 1;
  }

  await mkdir(values.dir, { recursive: true });
  const base = mkdtempSync(join(values.dir, 'kakitome-bench-smtp-'));
  // Postfix's daemons run as the postfix user and must be able to reach its directory.
  chmodSync(base, 0o755);
  const gitHead = await run('git', ['describe', '--always', '--dirty'], { cwd: import.meta.dirname, timeoutMs: 10_000 }).catch(() => undefined);
  console.log(`smtp-inbound: ${count} messages of ${size} body bytes, ${sessions} parallel sessions, one recipient (${USER}), ${rounds} round(s)`);
  if (attachment !== undefined) console.log(`load: bench/smtp-inbound/mime-load.ts instead of smtp-source: each message a text part and a base64 attachment of ${attachment} octets (report.pdf), ${sessions} sessions as smtp-source -d`);
  else console.log(`load: smtp-source ${smtpSourceArgs({ host: 'HOST', port: 0, count, sessions, size, sender: SENDER, recipient: USER, heloName: HELO, timeoutMs: 0 }).join(' ').replace('HOST:0', 'HOST:PORT')}`);
  console.log('      (-d: each session stays connected and sends message after message; smtp-source does not pipeline)');
  console.log('timed: from starting smtp-source until the last message is in the mailbox (Maildir file / messages row);');
  console.log('       "accept s" is until smtp-source exited, i.e. every message acknowledged with 250');
  console.log(`postfix ${tools.version}, node ${process.versions.node}, kakitome ${gitHead?.stdout.trim() || '?'}, ${cpus().length} CPUs, data in ${base}${filesystemNote(base)}`);
  console.log('');

  const outcomes: Outcome[] = [];
  const failures: string[] = [];
  const notes: string[] = [];
  let dns: DnsFixture | undefined;
  let contextClamd: Clamd | undefined;
  try {
    // kakitome resolves through a loopback dnsmasq that answers NXDOMAIN for everything,
    // so no lookup leaves the machine and none waits for a timeout. Without dnsmasq, a
    // loopback port where nothing listens (lookups fail at once).
    let resolver = '';
    if (runKakitomeToo || runRspamd) {
      const host = randomLoopbackAddress();
      try {
        dns = await startDns({}, { address: host });
        resolver = dns.server;
      } catch (error) {
        resolver = `${host}:${await freeTcpPort(host)}`;
        notes.push(`kakitome: no dnsmasq (${(error as Error).message.split('\n')[0]}); its resolver is ${resolver}, where nothing answers`);
      }
    }
    let rspamd: RspamdTools | undefined;
    if (runRspamd) {
      try {
        rspamd = await findRspamd();
        console.log(`rspamd ${rspamd.version} as the milter of the postfix+rspamd peer (bench/smtp-inbound/rspamd.ts)`);
      } catch (error) {
        notes.push(`postfix+rspamd not run: ${(error as Error).message.split('\n')[0]}`);
      }
    }
    // kakitome scans every message (its default): a clamd of our own, as the tests run it.
    const clamdHost = randomLoopbackAddress();
    const clamdTcp = runKakitomeToo || runRspamd ? { host: clamdHost, port: await freeTcpPort(clamdHost) } : undefined;
    const clamd = clamdTcp ? await startClamd({ tcp: clamdTcp }) : undefined;
    contextClamd = clamd;
    if (clamd) console.log(`clamd pid ${clamd.pid()} (test/harness/clamd.ts: two signatures), for kakitome's antivirus step and rspamd's antivirus module (TCP ${clamdTcp!.host}:${clamdTcp!.port}); its CPU is counted as theirs`);
    const context: Context = { tools, base, resolver, dns, rspamd, clamd, clamdTcp, notes };
    const servers: Server[] = SERVERS.filter((server) => (server === 'postfix' ? runPostfix : server === 'kakitome' ? runKakitomeToo : rspamd !== undefined));
    // A server that failed is not run again; the other one goes on.
    const failed = new Set<Server>();
    for (let round = 1; round <= rounds && failed.size < servers.length; round++) {
      // Alternate the order, so neither side always runs on a cooler (or warmer) machine.
      for (const server of round % 2 ? servers : [...servers].reverse()) {
        if (failed.has(server)) continue;
        try {
          outcomes.push(server === 'kakitome' ? await benchKakitome(context, round) : await benchPostfix(context, round, server));
        } catch (error) {
          if (!(error instanceof BenchFailure)) throw error;
          failures.push(error.message);
          failed.add(server);
        }
      }
    }
  } finally {
    await contextClamd?.dispose();
    await dns?.stop();
    if (values.keep) console.log(`kept: ${base}`);
    else rmSync(base, { recursive: true, force: true, maxRetries: 3 });
  }

  console.log('');
  if (outcomes.length > 0) {
    console.log('round  server          messages  accept s  total s   msg/s  CPU s  CPU ms/msg  other CPU s  peak RSS');
    for (const outcome of outcomes) {
      console.log(
        [
          String(outcome.round).padStart(5),
          outcome.server.padEnd(14),
          String(outcome.delivered).padStart(9),
          outcome.acceptSeconds.toFixed(2).padStart(8),
          outcome.totalSeconds.toFixed(2).padStart(7),
          perSecond(outcome).toFixed(0).padStart(7),
          outcome.cpuSeconds.toFixed(1).padStart(5),
          ((outcome.cpuSeconds * 1000) / outcome.delivered).toFixed(2).padStart(10),
          outcome.otherCpuSeconds.toFixed(1).padStart(11),
          outcome.peakRss.padStart(9),
        ].join('  '),
      );
    }
    const of = (server: Server) => outcomes.filter((outcome) => outcome.server === server);
    const ratiosAgainst = (peer: Server) =>
      of('kakitome').flatMap((kakitome) => of(peer).filter((other) => other.round === kakitome.round).map((other) => perSecond(kakitome) / perSecond(other)));
    if (rounds > 1) {
      for (const server of SERVERS) {
        if (of(server).length > 0) console.log(`median ${server}: ${median(of(server).map(perSecond)).toFixed(0)} msg/s over ${of(server).length} round(s)`);
      }
    }
    for (const peer of ['postfix', 'postfix+rspamd'] as const) {
      const ratios = ratiosAgainst(peer);
      if (ratios.length === 0) continue;
      console.log(`ratio kakitome/${peer} (msg/s, accepted and delivered): ${ratios.length > 1 ? `median ${median(ratios).toFixed(2)}× (rounds: ${ratios.map((ratio) => ratio.toFixed(2)).join(', ')})` : `${ratios[0]!.toFixed(2)}×`}`);
    }
    console.log('msg/s = messages / total s (smtp-source start → last message in the mailbox)');
    console.log('CPU s = CPU time (user + system, all processes and threads) the server used in that time; other CPU s = what');
    console.log('  the rest of the machine used meanwhile: smtp-source, this script, kernel threads (writeback, journal) — about');
    console.log('  1 s for kakitome and 3 s for Postfix with 5000 messages here; much more means other work disturbed the run');
    console.log('peak RSS: kakitome = VmHWM of its one serve process at the end of the run; Postfix is ~70 processes and has no');
    console.log('  single peak, so its column is the Σ of their PSS (shared pages counted once) at the end of its run');
    const last = of('postfix').at(-1);
    if (last?.memory) console.log(`  (postfix, round ${last.round}: ${last.memory.processes} processes, Σ RSS ${mb(last.memory.rssBytes)} counting shared pages in each)`);
  }
  for (const note of notes) console.log(`note: ${note}`);
  for (const failure of failures) console.error(`\nFAILED ${failure}`);
  return failures.length > 0 ? 1 : 0;
}

process.exit(await main());
