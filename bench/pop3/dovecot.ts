// A private Dovecot instance as the benchmark peer: its own dovecot.conf, base_dir,
// state_dir, log file, self-signed certificate and Maildir in a temporary directory,
// serving POP3S (implicit TLS) on one loopback address and port. The master runs in the
// foreground (`dovecot -F -c FILE`) as a child of the benchmark; the system Dovecot
// (/etc/dovecot) is never read or used.
//
// Every setting is written with its reason into the generated dovecot.conf, so a kept
// directory (--keep) documents itself.
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertLoopback } from '../../test/harness/loopback.ts';
import { run } from '../../test/harness/processes.ts';
import { childrenOf, statusBytes, type ProcessInfo } from '../smtp-inbound/procfs.ts';
import { familyCpuSeconds, familyMemory, startDaemon } from '../smtp-inbound/daemon.ts';
import { withLfLineEnds, type BenchMessage } from './mailbox.ts';
import { probePop3s } from './pop3-client.ts';

export const INSTALL_HINT =
  'install it (as root) with:\n' +
  '  DEBIAN_FRONTEND=noninteractive apt-get install -y dovecot-pop3d\n' +
  '  systemctl disable --now dovecot 2>/dev/null || true   # the benchmark runs its own private instance\n' +
  'In containers policy-rc.d usually keeps the system instance from starting at all.';

export interface DovecotTools {
  dovecot: string;
  version: string;
}

export async function findDovecot(): Promise<DovecotTools> {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/bin', '/usr/local/sbin'];
  const dovecot = dirs.map((dir) => join(dir, 'dovecot')).find((path) => existsSync(path));
  if (!dovecot) throw new Error(`dovecot not found (Debian package "dovecot-pop3d"); ${INSTALL_HINT}`);
  if (!existsSync('/usr/lib/dovecot/pop3') && !existsSync('/usr/libexec/dovecot/pop3')) {
    throw new Error(`Dovecot's pop3 server is missing (Debian package "dovecot-pop3d"); ${INSTALL_HINT}`);
  }
  for (const user of ['dovecot', 'dovenull']) {
    const found = await run('getent', ['passwd', user], { timeoutMs: 10_000 });
    if (found.code !== 0) throw new Error(`the system user "${user}" is missing (the Debian package dovecot-core creates it); ${INSTALL_HINT}`);
  }
  const version = await run(dovecot, ['--version'], { timeoutMs: 10_000 });
  return { dovecot, version: version.stdout.trim().split(' ')[0] ?? '?' };
}

/** Owner of the Maildir: nobody/nogroup (Dovecot refuses to access mail as root, and first_valid_uid must allow it). */
export const MAIL_UID = 65534;
export const MAIL_GID = 65534;

export interface DovecotSettings {
  dir: string;
  host: string;
  port: number;
  /** The login name, local@domain; the Maildir is mail/<local>. */
  user: string;
  password: string;
  /** `taskset -c CPU` for the master and with it every Dovecot process; undefined: not pinned. */
  cpu: number | undefined;
}

export function dovecotPaths(dir: string) {
  return {
    config: join(dir, 'dovecot.conf'),
    run: join(dir, 'run'),
    state: join(dir, 'state'),
    log: join(dir, 'dovecot.log'),
    cert: join(dir, 'tls', 'cert.pem'),
    key: join(dir, 'tls', 'key.pem'),
    users: join(dir, 'users'),
    mail: join(dir, 'mail'),
  };
}

export function maildirOf(settings: DovecotSettings): string {
  return join(dovecotPaths(settings.dir).mail, settings.user.split('@')[0]!);
}

type Setting = readonly [name: string, value: string, why: string];

export function dovecotConf(settings: DovecotSettings): string {
  const paths = dovecotPaths(settings.dir);
  const entries: Setting[] = [
    ['protocols', 'pop3', 'POP3 only: no imap, lmtp or submission services are started'],
    ['listen', settings.host, 'one loopback address (any 127/8 address works here, unlike Postfix\'s inet_interfaces)'],
    ['instance_name', `kakitome-bench-${settings.port}`, 'process titles and log prefixes of this instance, apart from any system Dovecot'],
    ['base_dir', paths.run, 'private runtime directory (sockets, master.pid): nothing under /run/dovecot'],
    ['state_dir', paths.state, 'private state directory: nothing under /var/lib/dovecot'],
    ['log_path', paths.log, 'every process logs to this file through the log process (no syslog in a container)'],
    ['default_internal_user', 'dovecot', 'the unprivileged user of auth, anvil, stats (created by the Debian package)'],
    ['default_login_user', 'dovenull', 'the user of pop3-login, the process that speaks TLS to the client (created by the Debian package)'],
    ['ssl', 'required', 'no login without TLS, as kakitome'],
    ['ssl_cert', `<${paths.cert}`, 'self-signed RSA 2048 / SHA-256, the same kind `kakitome init` makes'],
    ['ssl_key', `<${paths.key}`, ''],
    ['ssl_min_protocol', 'TLSv1.2', 'TLS 1.2 or later, as kakitome (the client asks for TLS 1.3 and one cipher suite on both sides anyway)'],
    ['disable_plaintext_auth', 'yes', 'USER/PASS only inside TLS (the default, stated)'],
    ['auth_mechanisms', 'plain', 'USER/PASS and SASL PLAIN (the default, stated)'],
    ['first_valid_uid', '100', `mail is owned by nobody (${MAIL_UID}): Dovecot refuses uid 0 whatever this says ("userdb returned 0 as uid")`],
    ['mail_location', `maildir:${paths.mail}/%n`, 'the user\'s Maildir, filled by the benchmark as Dovecot\'s own delivery would (LF line ends, ,S= and ,W= in the names)'],
    ['pop3_uidl_format', '%08Xu%08Xv', 'the default UIDL (uid and uidvalidity), stated'],
  ];
  const lines = [
    '# Dovecot peer of the kakitome pop3 benchmark (bench/pop3.ts). Generated; every setting',
    '# says why it is there. Everything else is Dovecot\'s built-in default, on purpose:',
    '# mail_fsync = optimized, mail_save_crlf = no, pop3_no_flag_updates = no (RETR sets \\Seen,',
    '# written at QUIT), service pop3-login { service_count = 1 } (one login process per',
    '# connection: the "high-security" mode, in which pop3-login does the TLS and proxies to',
    '# the pop3 process), no process_min_avail.',
    '',
  ];
  for (const [name, value, why] of entries) {
    if (why) lines.push(`# ${why}`);
    lines.push(`${name} = ${value}`, '');
  }
  lines.push(
    '# The user: a passwd-file with one SHA512-CRYPT entry (root:dovecot 0640: auth runs as dovecot).',
    'passdb {',
    '  driver = passwd-file',
    `  args = ${paths.users}`,
    '}',
    '# All mail owned by nobody/nogroup; home is unused by POP3 but Dovecot likes one.',
    'userdb {',
    '  driver = static',
    `  args = uid=${MAIL_UID} gid=${MAIL_GID} home=${paths.mail}/%n`,
    '}',
    '',
    '# POP3S only: the clear-text pop3 listener is off (port 0).',
    'service pop3-login {',
    '  inet_listener pop3 {',
    '    port = 0',
    '  }',
    '  inet_listener pop3s {',
    `    port = ${settings.port}`,
    '    ssl = yes',
    '  }',
    '}',
    '',
  );
  return lines.join('\n');
}

export interface DovecotPeer {
  settings: DovecotSettings;
  masterPid: number;
  /** The PEM certificate the client trusts. */
  cert: string;
  /** CPU seconds used so far by the master and every process it started (reaped ones included). */
  cpuSeconds(): number;
  /** Memory of the master and its children now. */
  memory(): { processes: number; rssBytes: number; pssBytes: number; pop3HwmBytes: number | undefined };
  /** Whether a session's pop3 or pop3-login process is still running (they exit after QUIT). */
  sessionProcesses(): ProcessInfo[];
  logTail(lines?: number): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Dovecot's name for a delivered Maildir file: unique base, ",S=" the file's size,
 * ",W=" the size with CRLF line ends (the POP3 size), as its own LDA/LMTP writes them,
 * so that LIST needs no reading of the messages (RFC 1939 sizes are CRLF sizes).
 */
function maildirName(index: number, lfSize: number, crlfSize: number): string {
  return `${1767600000 + index}.M${100000 + (index % 900000)}P${4000 + index}.bench,S=${lfSize},W=${crlfSize}`;
}

/** Writes the messages into the Maildir's new/, owned by the mail user (as a delivery agent would leave them). */
export function fillMaildir(settings: DovecotSettings, messages: readonly BenchMessage[]): { octetsOnDisk: number } {
  const maildir = maildirOf(settings);
  for (const sub of ['', 'cur', 'new', 'tmp']) {
    mkdirSync(join(maildir, sub), { recursive: true, mode: 0o700 });
    chownSync(join(maildir, sub), MAIL_UID, MAIL_GID);
  }
  chownSync(dirname(maildir), MAIL_UID, MAIL_GID);
  let octetsOnDisk = 0;
  messages.forEach((message, index) => {
    const lf = withLfLineEnds(message.data);
    const file = join(maildir, 'new', maildirName(index, lf.length, message.data.length));
    writeFileSync(file, lf, { mode: 0o600 });
    chownSync(file, MAIL_UID, MAIL_GID);
    octetsOnDisk += lf.length;
  });
  return { octetsOnDisk };
}

async function makeCertificate(certPath: string, keyPath: string): Promise<void> {
  mkdirSync(dirname(certPath), { recursive: true, mode: 0o700 });
  const result = await run('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-sha256', '-nodes', '-days', '30',
    '-subj', '/CN=dovecot.bench.test', '-keyout', keyPath, '-out', certPath,
  ], { timeoutMs: 60_000, missingHint: 'Debian package openssl' });
  if (result.code !== 0) throw new Error(`openssl req failed: ${result.stderr}`);
}

async function passwordHash(password: string): Promise<string> {
  const result = await run('openssl', ['passwd', '-6', '-stdin'], { stdin: `${password}\n`, timeoutMs: 30_000, missingHint: 'Debian package openssl' });
  if (result.code !== 0) throw new Error(`openssl passwd failed: ${result.stderr}`);
  return `{SHA512-CRYPT}${result.stdout.trim()}`;
}

/** Writes the instance (config, certificate, user) and starts the master; the Maildir must be filled before. */
export async function startDovecot(tools: DovecotTools, settings: DovecotSettings, options: { readyTimeoutMs?: number } = {}): Promise<DovecotPeer> {
  assertLoopback(settings.host, 'Dovecot listen address');
  const paths = dovecotPaths(settings.dir);
  // The unprivileged processes (auth as dovecot, pop3 as nobody) must reach their files.
  await chmod(settings.dir, 0o755);
  for (let dir = dirname(settings.dir); ; dir = dirname(dir)) {
    if (((await stat(dir)).mode & 0o001) === 0) {
      throw new Error(`${dir} is not searchable by others (mode ${((await stat(dir)).mode & 0o777).toString(8)}): Dovecot's unprivileged processes could not reach ${settings.dir}`);
    }
    if (dirname(dir) === dir) break;
  }
  await makeCertificate(paths.cert, paths.key);
  await writeFile(paths.users, `${settings.user}:${await passwordHash(settings.password)}::::::\n`, { mode: 0o640 });
  chownSync(paths.users, 0, Number((await run('getent', ['group', 'dovecot'], { timeoutMs: 10_000 })).stdout.split(':')[2] ?? 0));
  mkdirSync(paths.state, { recursive: true });
  chmodSync(paths.mail, 0o755);
  await writeFile(paths.config, dovecotConf(settings));
  const cert = await readFile(paths.cert, 'utf8');

  // -F: foreground, as our child. taskset execs dovecot, so the pid is the master's, and
  // every process the master starts inherits its CPU affinity.
  const command = settings.cpu === undefined ? [tools.dovecot] : ['taskset', '-c', String(settings.cpu), tools.dovecot];
  // Its own process group: a Ctrl-C of the benchmark reaches the benchmark, which stops Dovecot in order.
  const master = startDaemon(command[0]!, [...command.slice(1), '-F', '-c', paths.config]);
  const masterPid = master.pid;

  const logTail = async (lines = 20) => {
    const log = await readFile(paths.log, 'utf8').catch(() => '');
    return log.trimEnd().split('\n').slice(-lines).join('\n');
  };
  const children = (): ProcessInfo[] => childrenOf(masterPid);
  // The master signals its children and waits for them; stragglers get SIGKILL by pid.
  const stop = master.stop;

  const target = { host: settings.host, port: settings.port, ca: cert, cipherSuite: 'TLS_AES_256_GCM_SHA384' };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000);
  for (;;) {
    if (master.exited()) throw new Error(`Dovecot exited during startup (${master.child.exitCode ?? master.child.signalCode}):\n${master.output()}\n${await logTail()}`);
    const probe = await probePop3s(target, 2000).catch(() => undefined);
    if (probe?.ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Dovecot did not answer on ${settings.host}:${settings.port} within the startup time:\n${master.output()}\n${await logTail()}`);
    }
    await sleep(100);
  }

  return {
    settings,
    masterPid,
    cert,
    cpuSeconds: () => familyCpuSeconds(masterPid),
    memory: () => {
      const pop3 = children().find((child) => child.comm === 'pop3');
      return { ...familyMemory(masterPid), pop3HwmBytes: pop3 ? statusBytes(pop3.pid, 'VmHWM') : undefined };
    },
    sessionProcesses: () => children().filter((child) => child.comm === 'pop3' || child.comm === 'pop3-login'),
    logTail,
    stop,
  };
}
