// A private Postfix instance as the benchmark peer: its own config, queue, data and
// mailbox directories in a temporary directory, its master daemon run in the foreground
// as a child of the benchmark, listening on one loopback address and port. The job is
// the same as kakitome's port 25: receive mail for a local (virtual) domain from an
// untrusted client and store it in the user's mailbox (a Maildir), with no filters —
// or, for the "postfix+rspamd" peer, with rspamd as its milter (./rspamd.ts).
//
// Every setting is written with its reason into the generated main.cf and master.cf,
// so a kept directory (--keep) documents itself.
import { closeSync, existsSync, openSync, readSync, readdirSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../test/harness/processes.ts';
import { assertLoopback } from '../../test/harness/loopback.ts';
import { familyCpuSeconds, familyMemory, startDaemon } from './daemon.ts';
import { probeSmtp } from './smtp-source.ts';

export const INSTALL_HINT =
  'install it (as root) with:\n' +
  "  echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections\n" +
  '  DEBIAN_FRONTEND=noninteractive apt-get install -y postfix\n' +
  '"No configuration" leaves /etc/postfix/main.cf absent, so no system MTA starts on port 25;\n' +
  'the benchmark runs its own private instance and never uses the system one.';

/** Where the Postfix programs are; throws with INSTALL_HINT when something is missing. */
export interface PostfixTools {
  postfix: string;
  postconf: string;
  master: string;
  smtpSource: string;
  version: string;
}

function firstExisting(candidates: readonly string[]): string | undefined {
  return candidates.find((path) => existsSync(path));
}

function onPath(name: string): string[] {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean);
  return [...dirs, '/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin'].map((dir) => join(dir, name));
}

export async function findPostfix(): Promise<PostfixTools> {
  const missing: string[] = [];
  const smtpSource = firstExisting(onPath('smtp-source'));
  const postfix = firstExisting(onPath('postfix'));
  const postconf = firstExisting(onPath('postconf'));
  if (!smtpSource) missing.push('smtp-source');
  if (!postfix) missing.push('postfix');
  if (!postconf) missing.push('postconf');
  if (!smtpSource || !postfix || !postconf) {
    throw new Error(`${missing.join(', ')} not found (Debian package "postfix"); ${INSTALL_HINT}`);
  }
  const defaults = await run(postconf, ['-d', '-h', 'daemon_directory', 'mail_version'], { timeoutMs: 10_000 });
  const [daemonDirectory, version] = defaults.stdout.trim().split('\n');
  const master = firstExisting([join(daemonDirectory ?? '', 'master'), '/usr/lib/postfix/sbin/master']);
  if (defaults.code !== 0 || !master || !version) {
    throw new Error(`cannot find Postfix's master daemon (postconf -d said: ${defaults.stdout}${defaults.stderr}); ${INSTALL_HINT}`);
  }
  const owner = await run('getent', ['passwd', 'postfix'], { timeoutMs: 10_000 });
  if (owner.code !== 0) throw new Error(`the system user "postfix" is missing (the Debian package creates it); ${INSTALL_HINT}`);
  return { postfix, postconf, master, smtpSource, version };
}

/** uid and gid of the Maildir owner: nobody/nogroup (virtual_uid_maps must be ≥ virtual_minimum_uid, 100). */
export const MAILBOX_UID = 65534;
export const MAILBOX_GID = 65534;

export interface PostfixSettings {
  dir: string;
  host: string;
  port: number;
  domain: string;
  /** The one mailbox user, local@domain. */
  user: string;
  /** A milter (rspamd's proxy worker, bench/smtp-inbound/rspamd.ts) every message goes through before 250. */
  milter?: { host: string; port: number };
}

/** Paths inside the instance directory. */
export function postfixPaths(dir: string) {
  return {
    config: join(dir, 'etc'),
    queue: join(dir, 'queue'),
    data: join(dir, 'data'),
    mail: join(dir, 'mail'),
    log: join(dir, 'maillog'),
  };
}

/** The Maildir `new/` directory of `user` (virtual_mailbox_maps: domain/local/). */
export function maildirNew(settings: PostfixSettings): string {
  const [local, domain] = settings.user.split('@') as [string, string];
  return join(postfixPaths(settings.dir).mail, domain, local, 'new');
}

type Setting = readonly [name: string, value: string, why: string];

/** smtpd_milters: none, or rspamd's milter with the settings rspamd documents for Postfix. */
function milterSettings(settings: PostfixSettings): Setting[] {
  if (!settings.milter) return [['smtpd_milters', '', 'no milters'], ['non_smtpd_milters', '', 'no milters']];
  assertLoopback(settings.milter.host, 'milter address');
  return [
    ['smtpd_milters', `inet:${settings.milter.host}:${settings.milter.port}`, 'rspamd checks SPF, DKIM, DMARC and ARC of every message before smtpd answers the final "."'],
    ['non_smtpd_milters', '', 'no locally submitted mail here'],
    ['milter_protocol', '6', "rspamd's documented setting for Postfix 2.6+"],
    ['milter_mail_macros', 'i {mail_addr} {client_addr} {client_name} {auth_authen}', "rspamd's documented setting: the envelope and client for SPF"],
    ['milter_default_action', 'tempfail', 'when rspamd cannot be reached the message is not accepted unchecked (the default, stated): like kakitome, checks are not optional'],
  ];
}

export function mainCf(settings: PostfixSettings): string {
  const paths = postfixPaths(settings.dir);
  const [local, domain] = settings.user.split('@') as [string, string];
  void local;
  const entries: Setting[] = [
    ['compatibility_level', '3.6', 'the safe defaults of Postfix 3.6+ (the installed 3.7 asks for this level; no backwards-compatibility warnings)'],
    // Private instance: nothing under /etc/postfix or /var/spool/postfix is read or written.
    ['config_directory', paths.config, 'this file and master.cf; the daemons get it from master via MAIL_CONFIG'],
    ['queue_directory', paths.queue, 'a private queue (created by `postfix -c DIR check`); on the same disk as kakitome\'s data'],
    ['data_directory', paths.data, 'private caches and locks; must be owned by mail_owner (postfix)'],
    ['maillog_file', paths.log, 'log to a file through postlogd (no syslog in a container); see master.cf "postlog"'],
    ['maillog_file_prefixes', settings.dir, 'maillog_file must start with one of these (default /var, /dev/stdout), or Postfix refuses to start'],
    // Identity: fixed names, so nothing depends on the machine's hostname or DNS.
    ['myhostname', `postfix.${domain}`, 'fixed name: no gethostname()/DNS to find a fully qualified name'],
    ['mydomain', domain, 'fixed, as myhostname'],
    ['myorigin', '$myhostname', 'only used for locally submitted mail, which this benchmark sends none of'],
    ['smtpd_banner', '$myhostname ESMTP', 'no software name or version in the greeting, as kakitome'],
    // Network: one loopback address, IPv4, no DNS anywhere.
    ['inet_interfaces', '127.0.0.1', 'must name an address configured on an interface: Postfix refuses other 127/8 addresses here ("no local interface found"); the smtpd service binds its own 127.x address in master.cf'],
    ['inet_protocols', 'ipv4', 'the benchmark uses IPv4 loopback only'],
    ['smtpd_peername_lookup', 'no', 'no reverse DNS of the client (logged as "unknown"); there is no DNS here, and kakitome does none either'],
    ['smtp_dns_support_level', 'disabled', 'no DNS in the SMTP client (the replacement of disable_dns_lookups); the client is not used anyway, see default_transport'],
    ['default_transport', 'error:benchmark peer delivers nothing off this host', 'mail for other domains is refused in the session (relay restrictions); should any be queued, it fails here instead of reaching out'],
    ['relay_transport', '$default_transport', 'as default_transport'],
    // Roles: no local(8) domains, one virtual mailbox domain.
    ['mydestination', '', 'no local(8) domains: the only local domain is the virtual one below, like kakitome\'s domain table'],
    ['relay_domains', '', 'relays for no one'],
    ['mynetworks', '', 'no trusted clients: like kakitome, loopback is not trusted, so permit_mynetworks matches nothing'],
    ['alias_maps', '', 'local(8) is never used; do not read /etc/aliases'],
    ['alias_database', '', 'as alias_maps'],
    ['virtual_mailbox_domains', domain, 'the local domain; its mail is delivered by virtual(8)'],
    ['virtual_mailbox_base', paths.mail, 'mailboxes live under this directory'],
    ['virtual_mailbox_maps', `texthash:${join(paths.config, 'vmailbox')}`, `the one user; "${domain}/${local}/" (trailing slash) is a Maildir. texthash: needs no postmap`],
    ['virtual_uid_maps', `static:${MAILBOX_UID}`, 'all mailboxes owned by nobody'],
    ['virtual_gid_maps', `static:${MAILBOX_GID}`, 'and nogroup'],
    ['virtual_minimum_uid', '100', 'the default, stated: virtual_uid_maps must not map to a system uid below it'],
    // Policy: the same refusals kakitome makes on port 25, at RCPT time.
    ['smtpd_relay_restrictions', 'reject_unauth_destination', 'anything not for bench.test is refused with 5xx (554 in kakitome); no AUTH, no trusted networks'],
    ['smtpd_recipient_restrictions', '', 'nothing more (the default)'],
    ['smtpd_reject_unlisted_recipient', 'yes', 'unknown users of bench.test are refused at RCPT (550 5.1.1), as kakitome does (the default, stated)'],
    ['smtpd_client_connection_count_limit', '1000', 'per-client session limit (anvil): well above the 20 parallel sessions, which all come from one address'],
    ['smtpd_client_connection_rate_limit', '0', 'no per-client connection rate limit (the default, stated)'],
    ['smtpd_client_message_rate_limit', '0', 'no per-client message rate limit (the default, stated)'],
    ['default_process_limit', '100', 'at least 20 smtpd plus cleanup and virtual processes at once (the default, stated)'],
    ['virtual_destination_concurrency_limit', '20', 'up to 20 parallel virtual(8) deliveries to the one domain (the default, stated)'],
    // No filters, or one milter that checks sender authentication.
    ['content_filter', '', 'no content filter'],
    ...milterSettings(settings),
    ['header_checks', '', 'no header or body checks'],
    ['body_checks', '', 'no body checks'],
    ['smtpd_tls_security_level', 'none', 'no STARTTLS offered (kakitome offers it, but smtp-source never uses it, so neither side does TLS)'],
    ['biff', 'no', 'no comsat notifications (local(8) only; stated for completeness)'],
  ];
  const lines = [
    '# Postfix peer of the kakitome smtp-inbound benchmark (bench/smtp-inbound.ts).',
    '# Generated; every setting says why it is there. Left at their defaults on purpose:',
    '# in_flow_delay (1s: smtpd slows down when the queue manager falls behind; that is',
    '# how Postfix protects its queue, and delivery time is timed too), the queue manager',
    '# limits, and the fsync of every queue file before the 250 reply (not configurable).',
    '',
  ];
  for (const [name, value, why] of entries) lines.push(`# ${why}`, `${name} = ${value}`.trimEnd(), '');
  return lines.join('\n');
}

/**
 * master.cf: the services this job needs, none chrooted. Debian's stock master.cf
 * chroots smtpd, cleanup and friends into the queue directory, which would need copies
 * of /etc files there; kakitome does not chroot, and the chroot costs nothing per message.
 */
export function masterCf(settings: PostfixSettings): string {
  return [
    '# Postfix peer of the kakitome smtp-inbound benchmark. Generated.',
    '# service type  private unpriv  chroot  wakeup  maxproc command',
    '# The SMTP server on its own loopback address and port; maxproc "-" = default_process_limit.',
    `${settings.host}:${settings.port} inet n - n - - smtpd`,
    '# Queue: cleanup writes (and fsyncs) the queue file before smtpd answers 250; qmgr schedules.',
    'pickup    unix  n       -       n       60      1       pickup',
    'cleanup   unix  n       -       n       -       0       cleanup',
    'qmgr      unix  n       -       n       300     1       qmgr',
    'rewrite   unix  -       -       n       -       -       trivial-rewrite',
    'bounce    unix  -       -       n       -       0       bounce',
    'defer     unix  -       -       n       -       0       bounce',
    'trace     unix  -       -       n       -       0       bounce',
    'verify    unix  -       -       n       -       1       verify',
    'flush     unix  n       -       n       1000?   0       flush',
    'proxymap  unix  -       -       n       -       -       proxymap',
    'showq     unix  n       -       n       -       -       showq',
    'error     unix  -       -       n       -       -       error',
    'retry     unix  -       -       n       -       -       error',
    'discard   unix  -       -       n       -       -       discard',
    'anvil     unix  -       -       n       -       1       anvil',
    'scache    unix  -       -       n       -       1       scache',
    '# Delivery to the Maildir: virtual(8) runs as root and writes as virtual_uid_maps.',
    'virtual   unix  -       n       n       -       -       virtual',
    '# maillog_file is written by postlogd.',
    'postlog   unix-dgram n  -       n       -       1       postlogd',
    '# No smtp/relay/lmtp client services: nothing leaves this host (default_transport = error).',
    '',
  ].join('\n');
}

export interface PostfixPeer {
  settings: PostfixSettings;
  masterPid: number;
  /** Messages in the user's Maildir (new/; nothing moves them to cur/). Reads the directory: ~3 ms for 5000 files. */
  delivered(): number;
  /**
   * Deliveries logged so far ("status=sent" in maillog, written by virtual(8) after the
   * Maildir file is in place): reads only what was appended since the last call, so
   * polling it every few ms takes no CPU from Postfix, unlike a directory listing.
   */
  progress(): number;
  /** Queue files not yet delivered (incoming, active, deferred, hold, maildrop). */
  queued(): number;
  /** The last lines of maillog. */
  logTail(lines?: number): Promise<string>;
  /** CPU seconds used so far by master and every process it started (exited ones included). */
  cpuSeconds(): number;
  /** Resident memory of master and its children now: Σ RSS and Σ PSS. */
  memory(): { processes: number; rssBytes: number; pssBytes: number };
  stop(): Promise<void>;
}

function countFiles(dir: string): number {
  let count = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) count += entry.isDirectory() ? countFiles(join(dir, entry.name)) : 1;
  return count;
}

/**
 * `postfix check` logs its errors only to syslog (and to stderr only when that is a
 * terminal): in a container without /dev/log it fails silently with status 1. To show
 * why, run it again under script(1), which gives it a terminal.
 */
async function postfixCommand(tools: PostfixTools, config: string, command: string): Promise<void> {
  const result = await run(tools.postfix, ['-c', config, command], { timeoutMs: 60_000 });
  if (result.code === 0) return;
  const shell = `${tools.postfix} -c '${config}' ${command}`;
  const again = await run('script', ['-qec', shell, '/dev/null'], { timeoutMs: 60_000 }).catch((error: Error) => ({ stdout: error.message, stderr: '' }));
  throw new Error(`postfix -c ${config} ${command} failed (exit ${result.code}):\n${(result.stdout + result.stderr + again.stdout + again.stderr).trim()}`);
}

export async function startPostfix(tools: PostfixTools, settings: PostfixSettings, options: { lifetimeSeconds: number; readyTimeoutMs?: number }): Promise<PostfixPeer> {
  assertLoopback(settings.host, 'Postfix listen address');
  const paths = postfixPaths(settings.dir);
  const [local, domain] = settings.user.split('@') as [string, string];
  // The postfix user must be able to reach its queue. When it cannot, master exits 1
  // without a word anywhere (its log file cannot be created either), so check first.
  await chmod(settings.dir, 0o755);
  for (let dir = dirname(settings.dir); ; dir = dirname(dir)) {
    if (((await stat(dir)).mode & 0o001) === 0) {
      throw new Error(`${dir} is not searchable by others (mode ${((await stat(dir)).mode & 0o777).toString(8)}): Postfix's daemons, running as the postfix user, could not reach ${settings.dir}`);
    }
    if (dirname(dir) === dir) break;
  }
  for (const dir of [paths.config, paths.queue, paths.data, paths.mail]) await mkdir(dir, { recursive: true });
  await writeFile(join(paths.config, 'main.cf'), mainCf(settings));
  await writeFile(join(paths.config, 'master.cf'), masterCf(settings));
  await writeFile(join(paths.config, 'vmailbox'), `# virtual_mailbox_maps: address → Maildir path under virtual_mailbox_base\n${settings.user} ${domain}/${local}/\n`);
  await chown(paths.data, ...(await postfixOwner()));
  // virtual(8) creates domain/local/{new,cur,tmp} as the mailbox owner.
  await chown(paths.mail, MAILBOX_UID, MAILBOX_GID);
  // Creates the queue subdirectories with their owners and modes, and checks the config.
  await postfixCommand(tools, paths.config, 'check');

  // -d: stay in the foreground, attached to our stdout/stderr, and in our process group.
  // -e: master ends itself (and with it every child) after this long, even if the
  // benchmark is killed before it can stop it.
  // detached: its own process group, which master needs: on SIGTERM it signals its
  // group (kill(-pid)), and with -d it does not make one itself ("master_sigdeath:
  // kill process group: No such process" otherwise, and the children are left to
  // notice master's death on their own).
  const master = startDaemon(tools.master, ['-c', paths.config, '-d', '-e', String(options.lifetimeSeconds)], { MAIL_CONFIG: paths.config });
  const masterPid = master.pid;

  const logTail = async (lines = 20) => {
    const log = await readFile(paths.log, 'utf8').catch(() => '');
    return log.trimEnd().split('\n').slice(-lines).join('\n');
  };
  const stop = master.stop;

  // Ready when smtpd answers a greeting and EHLO on its port.
  const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000);
  for (;;) {
    if (master.exited()) throw new Error(`Postfix master exited during startup (${master.child.exitCode ?? master.child.signalCode}):\n${master.output()}\n${await logTail()}`);
    const probe = await probeSmtp(settings.host, settings.port, 2000).catch(() => undefined);
    if (probe?.ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Postfix did not answer on ${settings.host}:${settings.port} within the startup time:\n${master.output()}\n${await logTail()}`);
    }
    await sleep(100);
  }

  const sentInLog = logCounter(paths.log, 'status=sent');
  return {
    settings,
    masterPid,
    delivered: () => countFiles(maildirNew(settings)),
    progress: sentInLog,
    queued: () => ['incoming', 'active', 'deferred', 'hold', 'maildrop'].reduce((sum, name) => sum + countFiles(join(paths.queue, name)), 0),
    logTail,
    cpuSeconds: () => familyCpuSeconds(masterPid),
    memory: () => familyMemory(masterPid),
    stop,
  };
}

/** Counts lines of `file` holding `needle`, reading only the bytes appended since the last call. */
function logCounter(file: string, needle: string): () => number {
  let offset = 0;
  let partial = '';
  let count = 0;
  const buffer = Buffer.alloc(1 << 20);
  return () => {
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch {
      return count;
    }
    try {
      for (let bytes = readSync(fd, buffer, 0, buffer.length, offset); bytes > 0; bytes = readSync(fd, buffer, 0, buffer.length, offset)) {
        offset += bytes;
        const lines = (partial + buffer.toString('latin1', 0, bytes)).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) if (line.includes(needle)) count++;
      }
    } finally {
      closeSync(fd);
    }
    return count;
  };
}

async function postfixOwner(): Promise<[number, number]> {
  const passwd = await run('getent', ['passwd', 'postfix'], { timeoutMs: 10_000 });
  const fields = passwd.stdout.trim().split(':');
  return [Number(fields[2]), Number(fields[3])];
}
