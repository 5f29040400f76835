// Independent mail clients (swaks, curl, Python's smtplib/poplib, fetchmail) and a
// raw line client, returning what a user would see. Every helper refuses targets
// outside loopback and is bounded in time.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import { assertLoopback } from './loopback.ts';
import { childEnv, makeTempDir, removeDir, run, type RunResult } from './processes.ts';

export { rawSession, type RawSession, type RawSessionOptions } from './raw-session.ts';

const PY_DIR = fileURLToPath(new URL('./py/', import.meta.url));

export interface ClientOptions {
  stdin?: string | Buffer;
  timeoutMs?: number;
}

export interface SwaksResult {
  code: number | null;
  /** Everything swaks printed (stdout and stderr interleaved): the SMTP dialogue. */
  transcript: string;
}

/** The host part of "host", "host:port" or "[v6]:port". */
function hostOf(server: string): string {
  if (server.startsWith('[')) return server.slice(1, server.indexOf(']'));
  return server.split(':').length === 2 ? server.split(':')[0]! : server;
}

function optionValue(args: readonly string[], names: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (names.includes(arg)) return args[i + 1];
    const name = names.find((n) => n.startsWith('--') && arg.startsWith(`${n}=`));
    if (name) return arg.slice(name.length + 1);
  }
  return undefined;
}

/**
 * Runs swaks with ARGS. `--server` is required: without it swaks would look up the
 * recipient domain's MX in the system DNS and connect there.
 */
export async function swaks(args: readonly string[], options: ClientOptions = {}): Promise<SwaksResult> {
  const server = optionValue(args, ['--server', '-s']);
  if (server === undefined) throw new Error('swaks needs --server HOST:PORT (a loopback address)');
  assertLoopback(hostOf(server), 'swaks --server');
  const result = await run('sh', ['-c', 'exec swaks "$@" 2>&1', 'swaks', ...args], {
    stdin: options.stdin,
    timeoutMs: options.timeoutMs ?? 60_000,
  });
  if (result.code === 127) throw new Error('swaks is not installed (Debian package swaks, see .ci/run)');
  return { code: result.code, transcript: result.stdout };
}

/**
 * Runs curl with ARGS (never through a proxy, at most 30 s unless --max-time is given).
 * URLs are checked for a loopback host; write them with their scheme (smtp://, pop3s://…).
 */
export async function curl(args: readonly string[], options: ClientOptions = {}): Promise<RunResult> {
  for (const arg of args) {
    const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(arg) ? new URL(arg) : undefined;
    if (url) assertLoopback(url.hostname, 'curl URL host');
  }
  const limits = args.includes('--max-time') || args.includes('-m') ? [] : ['--max-time', '30'];
  return run('curl', ['--noproxy', '*', ...limits, ...args], {
    stdin: options.stdin,
    timeoutMs: options.timeoutMs ?? 40_000,
    missingHint: 'Debian package curl, see .ci/run',
  });
}

/** Runs test/harness/py/SCRIPT.py with ARGS under python3. */
export function python(script: string, args: readonly string[], options: ClientOptions = {}): Promise<RunResult> {
  const file = join(PY_DIR, script.endsWith('.py') ? script : `${script}.py`);
  return run('python3', [file, ...args], {
    stdin: options.stdin,
    timeoutMs: options.timeoutMs ?? 60_000,
    // No __pycache__ inside the source tree.
    env: childEnv({ PYTHONDONTWRITEBYTECODE: '1', PYTHONIOENCODING: 'utf-8' }),
    missingHint: 'Debian package python3, see .ci/run',
  });
}

function parseScriptOutput<T>(script: string, result: RunResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`${script} printed no JSON (exit ${result.code})\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  }
}

/** How a client trusts the server: a CA/cert file (chain checked, not the name), or not at all. */
export type TlsTrust = { cafile: string } | { insecure: true };

function trustArgs(trust: TlsTrust | undefined): string[] {
  if (!trust) return [];
  return 'cafile' in trust ? ['--cafile', trust.cafile] : ['--insecure'];
}

export interface ClientError {
  type: string;
  message: string;
  /** The SMTP reply code, for SMTP errors. */
  code?: number;
}

export interface SmtpSendOptions {
  host: string;
  port: number;
  security?: 'none' | 'starttls' | 'tls';
  trust?: TlsTrust;
  helo?: string;
  user?: string;
  password?: string;
  from: string;
  to: string[];
  /** RFC 5322 text, sent as bytes exactly as given (smtplib dot-stuffs it): use CRLF line ends, a bare LF is refused. */
  message: string | Buffer;
}

export interface SmtpSendResult {
  ok: boolean;
  ehlo?: { code: number; features: string[] };
  /** Recipient → [code, text] for every refused recipient. */
  refused?: Record<string, [number, string]>;
  /** The step that failed: connect, ehlo, starttls, auth, send. */
  step?: string;
  error?: ClientError;
}

/** Sends one message with Python's smtplib. */
export async function smtpSend(options: SmtpSendOptions): Promise<SmtpSendResult> {
  assertLoopback(options.host, 'SMTP host');
  const args = ['--host', options.host, '--port', String(options.port), '--security', options.security ?? 'none', ...trustArgs(options.trust)];
  if (options.helo) args.push('--helo', options.helo);
  if (options.user !== undefined) args.push('--user', options.user, '--password', options.password ?? '');
  args.push('--mail-from', options.from, ...options.to.flatMap((rcpt) => ['--rcpt', rcpt]));
  return parseScriptOutput('smtp_send.py', await python('smtp_send', args, { stdin: options.message }));
}

export interface Pop3FetchOptions {
  host: string;
  port: number;
  /** Default tls (POP3S). */
  security?: 'none' | 'stls' | 'tls';
  trust?: TlsTrust;
  auth?: 'user' | 'apop';
  user: string;
  /** The password, or the APOP secret with auth 'apop'. */
  password: string;
  retrieve?: boolean;
  deleteAll?: boolean;
}

export interface Pop3FetchResult {
  welcome?: string;
  capa?: string[];
  capa_tls?: string[];
  stat?: [number, number];
  list?: [number, number][];
  uidl?: [number, string][];
  messages?: { n: number; text: string }[];
  deleted?: number[];
  quit?: string;
  step?: string;
  error?: ClientError;
}

/** Logs in with Python's poplib and reads STAT, LIST, UIDL and (by default) every message. */
export async function pop3Fetch(options: Pop3FetchOptions): Promise<Pop3FetchResult> {
  assertLoopback(options.host, 'POP3 host');
  const args = [
    '--host', options.host, '--port', String(options.port),
    '--security', options.security ?? 'tls', '--auth', options.auth ?? 'user',
    '--user', options.user, '--password', options.password,
    ...trustArgs(options.trust),
  ];
  if (options.retrieve === false) args.push('--no-retr');
  if (options.deleteAll) args.push('--delete');
  return parseScriptOutput('pop3_fetch.py', await python('pop3_fetch', args));
}

export interface FetchmailOptions {
  host: string;
  port: number;
  /** tls = POP3S; stls = STLS required; none = plain POP3. */
  security: 'none' | 'stls' | 'tls';
  /** The certificate to trust; without it fetchmail is told not to check certificates. */
  cafile?: string;
  /** The name the certificate must carry (kakitome's hostname); we connect by IP. */
  servername?: string;
  auth?: 'password' | 'apop';
  user: string;
  password: string;
  keep?: boolean;
  timeoutMs?: number;
}

export interface FetchmailResult {
  /** fetchmail's exit status: 0 mail retrieved, 1 no mail, 3 authentication failed, … */
  code: number | null;
  transcript: string;
  /** The retrieved messages, in order, as fetchmail hands them to an MDA: LF line ends, its own Received: header on top. */
  messages: string[];
}

const quoteRc = (text: string) => `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** Runs fetchmail once (verbose) against a POP3 server; messages go to files, not to local mail. */
export async function fetchmail(options: FetchmailOptions): Promise<FetchmailResult> {
  assertLoopback(options.host, 'fetchmail host');
  const home = await makeTempDir('kakitome-fetchmail');
  try {
    const inbox = join(home, 'inbox');
    const tls = options.security === 'none' ? ['sslproto ""']
      // sslproto without ssl makes fetchmail require STLS (fetchmail >= 6.4).
      : [options.security === 'tls' ? 'ssl sslproto "tls1.2+"' : 'sslproto "tls1.2+"',
        options.cafile ? `sslcertck sslcertfile ${quoteRc(options.cafile)}` : 'no sslcertck',
        options.servername ? `sslcommonname ${quoteRc(options.servername)}` : ''];
    const rc = [
      'set no syslog',
      // In a fetchmailrc APOP is a protocol of its own, not an auth method.
      options.auth === 'apop'
        ? `poll ${options.host} service ${options.port} protocol apop timeout 15`
        : `poll ${options.host} service ${options.port} protocol pop3 auth password timeout 15`,
      `  user ${quoteRc(options.user)} there with password ${quoteRc(options.password)}`,
      `  ${tls.join(' ')}`,
      `  ${options.keep === false ? 'nokeep' : 'keep'} fetchall`,
      `  mda ${quoteRc(`python3 ${join(PY_DIR, 'save_message.py')} ${inbox}`)}`,
    ].join('\n');
    const rcFile = join(home, 'fetchmailrc');
    await writeFile(rcFile, `${rc}\n`);
    await chmod(rcFile, 0o600); // fetchmail refuses a readable rc file
    const result = await run('sh', ['-c', 'exec fetchmail "$@" 2>&1', 'fetchmail', '--nodetach', '--verbose', '--fetchmailrc', rcFile], {
      env: childEnv({ HOME: home, PYTHONDONTWRITEBYTECODE: '1' }),
      timeoutMs: options.timeoutMs ?? 60_000,
    });
    if (result.code === 127) throw new Error('fetchmail is not installed (Debian package fetchmail, see .ci/run)');
    const files = (await readdir(inbox).catch(() => [])).sort();
    const messages = await Promise.all(files.map((file) => readFile(join(inbox, file), 'utf8')));
    return { code: result.code, transcript: result.stdout, messages };
  } finally {
    await removeDir(home);
  }
}
