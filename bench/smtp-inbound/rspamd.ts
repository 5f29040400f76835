// rspamd as the checking half of the "Postfix that checks too" peer: Postfix hands every
// message to rspamd's proxy worker over the milter protocol (smtpd_milters), and rspamd
// checks SPF, DKIM, DMARC and ARC — the sender authentication kakitome does on port 25 —
// before Postfix answers the final "." of DATA — and, given a clamd, its antivirus module
// sends every message to the same clamd kakitome scans with. Nothing else: no Bayes, no fuzzy
// hashes (which would ask rspamd.com), no RBLs, no regexp rules, no Redis.
//
// A private instance in a temporary directory, run in the foreground as a child of the
// benchmark, its resolver the benchmark's loopback dnsmasq (NXDOMAIN for everything, as
// for kakitome). Every setting of the generated rspamd.conf says why it is there.
import { existsSync, readFileSync } from 'node:fs';
import { chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../test/harness/processes.ts';
import { assertLoopback } from '../../test/harness/loopback.ts';
import { isTcpPortFree } from '../../test/harness/ports.ts';
import { familyCpuSeconds, familyMemory, startDaemon, type FamilyMemory } from './daemon.ts';
import { childrenOf } from './procfs.ts';

export const RSPAMD_INSTALL_HINT =
  'install it (as root) with: DEBIAN_FRONTEND=noninteractive apt-get install -y rspamd\n' +
  '(in a container policy-rc.d keeps the system service from starting; the benchmark runs its own instance)';

const RSPAMD = '/usr/bin/rspamd';
/** Debian's rspamd package: its plugins and the Public Suffix List DMARC needs. */
const SHARE = '/usr/share/rspamd';
/** Debian's system user for rspamd; rspamd refuses to run as root. */
const RSPAMD_USER = '_rspamd';

export interface RspamdTools {
  rspamd: string;
  version: string;
  uid: number;
  gid: number;
}

/** Where rspamd is; throws with RSPAMD_INSTALL_HINT when something is missing. */
export async function findRspamd(): Promise<RspamdTools> {
  if (!existsSync(RSPAMD) || !existsSync(join(SHARE, 'plugins', 'dmarc.lua'))) throw new Error(`rspamd is not installed; ${RSPAMD_INSTALL_HINT}`);
  const version = await run(RSPAMD, ['--version'], { timeoutMs: 10_000 });
  const user = await run('getent', ['passwd', RSPAMD_USER], { timeoutMs: 10_000 });
  const fields = user.stdout.split(':');
  if (user.code !== 0 || fields.length < 4) throw new Error(`the system user ${RSPAMD_USER} is missing (the Debian package creates it); ${RSPAMD_INSTALL_HINT}`);
  return { rspamd: RSPAMD, version: version.stdout.trim().split(/\s+/).at(-1) ?? '?', uid: Number(fields[2]), gid: Number(fields[3]) };
}

export interface RspamdSettings {
  dir: string;
  /** The milter listener, on loopback. */
  host: string;
  port: number;
  /** The resolver, "host:port" on loopback. */
  dns: string;
  /** Scanning processes (rspamd_proxy workers with self_scan): one per CPU. */
  workers: number;
  /** The clamd kakitome scans with, over TCP: rspamd's antivirus module sends it every message, as kakitome does. */
  clamd?: { host: string; port: number };
}

type Setting = readonly [line: string, why: string];

export function rspamdConf(settings: RspamdSettings): string {
  const block = (name: string, why: string, entries: Setting[]) => [
    `# ${why}`,
    `${name} {`,
    ...entries.flatMap(([line, reason]) => [`  # ${reason}`, `  ${line}`]),
    '}',
    '',
  ];
  return [
    '# rspamd half of the Postfix + rspamd peer of the kakitome smtp-inbound benchmark',
    '# (bench/smtp-inbound/rspamd.ts). Generated; every setting says why it is there.',
    '# Written from scratch rather than on top of /etc/rspamd: the stock config enables',
    '# dozens of modules (Bayes and neural need Redis, fuzzy_check asks rspamd.com, RBLs',
    '# query public lists), and the comparison is about the checks kakitome makes.',
    '',
    ...block('options', 'process-wide options', [
      [`pidfile = "${join(settings.dir, 'rspamd.pid')}";`, 'private instance: nothing under /run or /var/lib/rspamd'],
      [`dns { nameserver = ["${settings.dns}"]; timeout = 1s; retransmits = 1; }`, "the benchmark's loopback dnsmasq, which answers NXDOMAIN: no lookup leaves the machine (kakitome uses the same one)"],
      [`url_tld = "${join(SHARE, 'effective_tld_names.dat')}";`, "the Public Suffix List (DMARC's organizational domains)"],
      ['filters = "dkim";', 'the C modules to load: only DKIM (SPF, DMARC and ARC are Lua plugins, below)'],
      ['local_addrs = [];', 'no address is "local": the loopback client is checked like any other, as in kakitome'],
      ['check_local = true;', 'the checks skip a "local" client (127/8 among them) unless told: check it (every module that has no setting of its own)'],
      [`hs_cache_dir = "${settings.dir}";`, 'compiled Hyperscan databases (rspamd compiles the TLD list at start, ~20 s)'],
    ]),
    ...block('logging', 'one log line per message at info, as kakitome writes one', [
      ['type = "file";', 'no syslog in a container'],
      [`filename = "${join(settings.dir, 'rspamd.log')}";`, 'in the instance directory'],
      ['level = "info";', 'the default'],
    ]),
    ...block('modules', 'where the Lua plugins are', [[`path = "${join(SHARE, 'plugins')}";`, "Debian's plugins directory"]]),
    // An empty rules file: the stock rspamd.lua loads hundreds of regexp rules.
    `# the Lua rules file: empty (the stock ${join(SHARE, 'rules', 'rspamd.lua')} loads hundreds of content rules)`,
    `lua = "${join(settings.dir, 'rules.lua')}";`,
    '',
    ...block('worker "rspamd_proxy"', 'the milter listener Postfix talks to; it scans itself (no separate normal worker)', [
      [`bind_socket = "${settings.host}:${settings.port}";`, 'one loopback address and port'],
      ['milter = yes;', "speak the milter protocol (Postfix's smtpd_milters)"],
      ['timeout = 120s;', "rspamd's recommended milter timeout"],
      ['upstream "local" { default = yes; self_scan = yes; }', 'scan in this process, not by forwarding to a normal worker'],
      [`count = ${settings.workers};`, 'one scanning process per CPU, as Postfix and kakitome may use every CPU'],
    ]),
    ...block('actions', 'the stock thresholds (nothing here comes near them: no content rules)', [
      ['reject = 15;', 'the default'],
      ['add_header = 6;', 'the default'],
      ['greylist = 4;', 'the default'],
    ]),
    '# The checks, with their stock settings.',
    '# RFC 6376 DKIM (C module, enabled by "filters" above); it reads check_local from its own section',
    'dkim { check_local = true; }',
    '# RFC 7208 SPF',
    'spf { }',
    '# RFC 7489 DMARC (needs the DKIM and SPF results)',
    'dmarc { }',
    '# RFC 8617 ARC (needs DKIM)',
    'arc { }',
    ...(settings.clamd ? [
      '# Antivirus: the same clamd as kakitome\'s, the message and its attachments (rspamd\'s defaults:',
      '# scan_mime_parts = true, text and image parts skipped); found: reject, as kakitome refuses.',
      `antivirus { clamav { type = "clamav"; servers = "${settings.clamd.host}:${settings.clamd.port}"; action = "reject"; symbol = "CLAM_VIRUS"; max_size = 40000000; timeout = 60; retransmits = 1; } }`,
    ] : []),
    '',
  ].join('\n');
}

export interface RspamdPeer {
  mainPid: number;
  /** CPU seconds used so far by the main process and every worker (exited ones included). */
  cpuSeconds(): number;
  /** Σ RSS and Σ PSS of the main process and its workers now. */
  memory(): FamilyMemory;
  /** Log lines of scanned messages so far ("rspamd_task_write_log"). */
  logTail(lines?: number): Promise<string>;
  stop(): Promise<void>;
}

/** The process title rspamd sets ("rspamd: rspamd_proxy process (…)"); '' once gone. */
function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

export async function startRspamd(tools: RspamdTools, settings: RspamdSettings, options: { readyTimeoutMs?: number } = {}): Promise<RspamdPeer> {
  assertLoopback(settings.host, 'rspamd listen address');
  assertLoopback(settings.dns.replace(/:\d+$/, ''), 'rspamd resolver');
  await mkdir(settings.dir, { recursive: true });
  const config = join(settings.dir, 'rspamd.conf');
  await writeFile(config, rspamdConf(settings));
  await writeFile(join(settings.dir, 'rules.lua'), '-- no content rules: see rspamd.conf\n');
  await chown(settings.dir, tools.uid, tools.gid);
  const log = join(settings.dir, 'rspamd.log');
  const logTail = async (lines = 20) => (await readFile(log, 'utf8').catch(() => '')).trimEnd().split('\n').slice(-lines).join('\n');
  // -f: foreground; -u/-g: the workers drop root, which rspamd insists on.
  const daemon = startDaemon(tools.rspamd, [
    '-f', '-u', RSPAMD_USER, '-g', RSPAMD_USER, '-c', config,
    '--var', `DBDIR=${settings.dir}`, '--var', `RUNDIR=${settings.dir}`, '--var', `LOGDIR=${settings.dir}`,
  ]);
  const mainPid = daemon.pid;

  // Ready when every scanning worker is up (rspamd binds the socket in the main process,
  // so a connect succeeds before the workers have loaded their maps).
  const deadline = Date.now() + (options.readyTimeoutMs ?? 120_000);
  for (;;) {
    if (daemon.exited()) throw new Error(`rspamd exited during startup (${daemon.child.exitCode ?? daemon.child.signalCode}):\n${daemon.output()}\n${await logTail()}`);
    // Each worker logs its (empty) Hyperscan load once it has its maps and rules.
    const workers = childrenOf(mainPid).filter((child) => commandLine(child.pid).includes('rspamd_proxy')).length;
    const loaded = (await logTail(10_000)).split('\n').filter((line) => line.includes('rspamd_re_cache_load_hyperscan')).length;
    // (The port is bound by the main process before it starts the workers.)
    if (workers >= settings.workers && loaded >= settings.workers && !(await isTcpPortFree(settings.port, settings.host))) break;
    if (Date.now() > deadline) {
      await daemon.stop();
      throw new Error(`rspamd did not start within ${(options.readyTimeoutMs ?? 120_000) / 1000} s:\n${daemon.output()}\n${await logTail()}`);
    }
    await sleep(250);
  }
  return {
    mainPid,
    cpuSeconds: () => familyCpuSeconds(mainPid),
    memory: () => familyMemory(mainPid),
    logTail,
    stop: daemon.stop,
  };
}
