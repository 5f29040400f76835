// Helpers for the end-to-end tests of the MRA (POP3 on 110 with STLS, POP3S on 995):
// a POP3 dialogue over the harness's raw session that records both sides for failure
// messages, multi-line replies with dot-unstuffing (RFC 1939 §3), RFC 2449 response
// codes, the APOP digest (RFC 1939 §7), delivery of test mail over port 25, and curl
// pointed at the instance's hostname while pinned to loopback.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { rawSession, type RawSession } from '../harness/clients.ts';
import { assertLoopback } from '../harness/loopback.ts';
import { childEnv, makeTempDir, removeDir, run, type RunResult } from '../harness/processes.ts';
import type { Instance } from '../harness/instance.ts';
import { message, SmtpClient, tag, type MessageOptions } from './smtp.ts';

export const E2E_PY_DIR = fileURLToPath(new URL('./py/', import.meta.url));

export interface Pop3Reply {
  ok: boolean;
  /** The status line without CRLF: "+OK 2 320", "-ERR [AUTH] …". */
  line: string;
  /** The RFC 2449 response code of a -ERR (or +OK) line: "AUTH", "SYS/TEMP", "IN-USE"… */
  code?: string;
  /** For multi-line replies: the lines after the status line, dot-unstuffed, without CRLF. */
  lines?: string[];
  /** For multi-line replies: the un-stuffed body with CRLF line ends (what RETR/TOP return). */
  body?: string;
}

export type Pop3Port = 'pop3' | 'pop3s';

export interface Pop3ConnectOptions {
  /** Default pop3s (implicit TLS). */
  port?: Pop3Port;
  /** Appear as another client (127.0.0.2…). */
  localAddress?: string;
  timeoutMs?: number;
}

const STATUS_LINE = /^[^\r\n]*\r\n/;
// The body of a multi-line reply: whole lines up to the first line that is a lone ".".
const MULTI_LINE_BODY = /^(?:[^\r\n]*\r\n)*?\.\r\n/;

const show = (text: string) => JSON.stringify(text.length > 300 ? `${text.slice(0, 240)}…(${text.length} chars)…${text.slice(-40)}` : text);

export function parseStatus(line: string): Pop3Reply {
  const ok = line.startsWith('+OK');
  const reply: Pop3Reply = { ok, line };
  const code = /^(?:\+OK|-ERR) \[([^\]]+)\]/.exec(line)?.[1];
  if (code) reply.code = code;
  return reply;
}

/** RFC 1939 §3: a line of a multi-line reply that starts with "." had one more "." put in front. */
export function unstuff(line: string): string {
  return line.startsWith('.') ? line.slice(1) : line;
}

/** RFC 5321 §4.5.2 / RFC 1939 §3 transparency: "." doubled at the start of every line (CRLF text). */
export function dotStuff(text: string): string {
  return text.replace(/^\./gm, '..');
}

/** RFC 1939 §7: the hex MD5 of the greeting's timestamp (with its angle brackets) followed by the secret. */
export function apopDigest(timestamp: string, secret: string): string {
  return createHash('md5').update(timestamp + secret, 'utf8').digest('hex');
}

/** base64("\0user\0password"), the RFC 4616 PLAIN initial response without authorisation identity. */
export function plainResponse(user: string, password: string, authzid = ''): string {
  return Buffer.from(`${authzid}\0${user}\0${password}`, 'utf8').toString('base64');
}

/** The octets a reply body stands for. */
export const octets = (text: string) => Buffer.byteLength(text, 'utf8');

/** A POP3 client that sends exact bytes and records the dialogue ("C: …", "S: …"). */
export class Pop3Client {
  readonly session: RawSession;
  readonly greeting: Pop3Reply;
  private readonly log: string[];

  private constructor(session: RawSession, greeting: Pop3Reply, log: string[]) {
    this.session = session;
    this.greeting = greeting;
    this.log = log;
  }

  /** Connects to the instance's pop3s (default) or pop3 port and reads the greeting. TLS is verified: the instance's certificate, its hostname. */
  static async connect(instance: Instance, options: Pop3ConnectOptions = {}): Promise<Pop3Client> {
    const port = options.port ?? 'pop3s';
    const session = await rawSession(instance.host, instance.ports[port], {
      tls: port === 'pop3s',
      ca: readFileSync(instance.certPath),
      servername: instance.hostname,
      localAddress: options.localAddress,
      timeoutMs: options.timeoutMs,
    });
    const log = [`-- connected to ${port} (${instance.host}:${instance.ports[port]})${options.localAddress ? ` from ${options.localAddress}` : ''} --`];
    let line: string;
    try {
      line = (await session.expect(STATUS_LINE)).replace(/\r\n$/, '');
    } catch (error) {
      session.close();
      throw new Error(`no POP3 greeting: ${(error as Error).message}`);
    }
    log.push(`S: ${line}`);
    return new Pop3Client(session, parseStatus(line), log);
  }

  /** The APOP timestamp of the greeting ("<…>"), if any. */
  timestamp(): string | undefined {
    return /<[^<>\s]*>/.exec(this.greeting.line)?.[0];
  }

  send(line: string): void {
    this.log.push(`C: ${line.length > 200 ? show(line) : line}`);
    this.session.send(line);
  }

  sendRaw(data: string): void {
    this.log.push(`C (raw, one write): ${show(data)}`);
    this.session.sendRaw(data);
  }

  private failure(error: unknown): Error {
    return new Error(`${(error as Error).message}\n--- dialogue ---\n${this.dialogue()}`);
  }

  /** Reads one single-line reply. */
  async reply(timeoutMs?: number): Promise<Pop3Reply> {
    let raw: string;
    try {
      raw = await this.session.expect(STATUS_LINE, timeoutMs);
    } catch (error) {
      throw this.failure(error);
    }
    const line = raw.replace(/\r\n$/, '');
    this.log.push(`S: ${line}`);
    return parseStatus(line);
  }

  /** Reads one reply that is multi-line when positive (LIST, UIDL, RETR, TOP, CAPA without argument). */
  async multiReply(timeoutMs = 10_000): Promise<Pop3Reply> {
    const status = await this.reply(timeoutMs);
    if (!status.ok) return status;
    let raw: string;
    try {
      raw = await this.session.expect(MULTI_LINE_BODY, timeoutMs);
    } catch (error) {
      throw this.failure(error);
    }
    const lines = raw.split('\r\n').slice(0, -2).map(unstuff); // drop the "." line and the empty tail
    this.log.push(`S: (${lines.length} lines${lines.length ? `, first ${show(lines[0]!)}` : ''})`, 'S: .');
    return { ...status, lines, body: lines.map((l) => `${l}\r\n`).join('') };
  }

  async cmd(line: string, timeoutMs?: number): Promise<Pop3Reply> {
    this.send(line);
    return this.reply(timeoutMs);
  }

  async multi(line: string, timeoutMs?: number): Promise<Pop3Reply> {
    this.send(line);
    return this.multiReply(timeoutMs);
  }

  assertOk(reply: Pop3Reply, why: string): void {
    assert.ok(reply.ok, `${why}: expected +OK, got "${reply.line}"\n--- dialogue ---\n${this.dialogue()}`);
  }

  /** Asserts -ERR, and the response code when given ("AUTH", "SYS/TEMP", "IN-USE"). */
  assertErr(reply: Pop3Reply, why: string, code?: string): void {
    assert.ok(!reply.ok && reply.line.startsWith('-ERR'), `${why}: expected -ERR${code ? ` [${code}]` : ''}, got "${reply.line}"\n--- dialogue ---\n${this.dialogue()}`);
    if (code) assert.equal(reply.code, code, `${why}: expected the response code [${code}] in "${reply.line}"\n--- dialogue ---\n${this.dialogue()}`);
  }

  async expectOk(line: string, why = line): Promise<Pop3Reply> {
    const reply = await this.cmd(line);
    this.assertOk(reply, why);
    return reply;
  }

  async expectErr(line: string, why = line, code?: string): Promise<Pop3Reply> {
    const reply = await this.cmd(line);
    this.assertErr(reply, why, code);
    return reply;
  }

  async expectMultiOk(line: string, why = line): Promise<Required<Pop3Reply>> {
    const reply = await this.multi(line);
    this.assertOk(reply, why);
    return reply as Required<Pop3Reply>;
  }

  /** CAPA: the capability lines, as sent. */
  async capa(): Promise<string[]> {
    return (await this.expectMultiOk('CAPA')).lines;
  }

  /** STLS, +OK, then the TLS handshake (certificate and hostname verified). */
  async stls(): Promise<void> {
    await this.expectOk('STLS');
    await this.tlsHandshake();
  }

  /** The handshake after a +OK to STLS that was read separately. */
  async tlsHandshake(): Promise<void> {
    try {
      await this.session.startTls();
    } catch (error) {
      throw this.failure(error);
    }
    this.log.push('-- TLS established --');
  }

  /** USER then PASS; returns the first -ERR, or PASS's reply. */
  async login(user: string, password: string): Promise<Pop3Reply> {
    const userReply = await this.cmd(`USER ${user}`);
    if (!userReply.ok) return userReply;
    this.log.push('C: PASS ***');
    this.session.send(`PASS ${password}`);
    return this.reply();
  }

  async mustLogin(user: string, password: string): Promise<void> {
    this.assertOk(await this.login(user, password), `USER/PASS login of ${user}`);
  }

  /** AUTH PLAIN with the initial response on the command line (RFC 5034 §4), or after the "+ " continuation. */
  async authPlain(user: string, password: string, { initialResponse = true } = {}): Promise<Pop3Reply> {
    const response = plainResponse(user, password);
    if (initialResponse) return this.cmd(`AUTH PLAIN ${response}`);
    const go = await this.cmd('AUTH PLAIN');
    if (!go.line.startsWith('+ ') && go.line !== '+') return go;
    return this.cmd(response);
  }

  /** APOP with the digest of this connection's timestamp and `secret`. */
  async apop(user: string, secret: string): Promise<Pop3Reply> {
    const timestamp = this.timestamp();
    assert.ok(timestamp, `the greeting carries no APOP timestamp: "${this.greeting.line}"`);
    return this.cmd(`APOP ${user} ${apopDigest(timestamp, secret)}`);
  }

  /** STAT as [messages, octets]. */
  async stat(): Promise<[number, number]> {
    const reply = await this.expectOk('STAT');
    const match = /^\+OK (\d+) (\d+)(?: |$)/.exec(reply.line);
    assert.ok(match, `STAT reply is not "+OK n octets": "${reply.line}"`);
    return [Number(match[1]), Number(match[2])];
  }

  /** LIST as [n, octets] pairs. */
  async list(): Promise<[number, number][]> {
    return parsePairs((await this.expectMultiOk('LIST')).lines, 'LIST').map(([n, size]) => [n, Number(size)]);
  }

  /** UIDL as [n, uid] pairs. */
  async uidl(): Promise<[number, string][]> {
    return parsePairs((await this.expectMultiOk('UIDL')).lines, 'UIDL');
  }

  async retr(n: number): Promise<string> {
    return (await this.expectMultiOk(`RETR ${n}`)).body;
  }

  /** QUIT, its reply, and waits for the server to close. */
  async quit(): Promise<Pop3Reply> {
    const reply = await this.cmd('QUIT');
    await this.session.waitForClose(2000);
    this.session.close();
    return reply;
  }

  /** Ends politely when still connected (QUIT, wait for the close), so the maildrop lock is free for the next test. */
  async end(): Promise<void> {
    if (!(await this.session.waitForClose(0))) {
      try {
        this.session.send('QUIT');
        await this.session.waitForClose(1000);
      } catch {
        // already gone
      }
    }
    this.session.close();
  }

  close(): void {
    this.log.push('-- connection dropped by the client --');
    this.session.close();
  }

  dialogue(): string {
    const pending = this.session.pending();
    return this.log.join('\n') + (pending ? `\nS (unread): ${show(pending)}` : '');
  }
}

/** "n value" scan lines of LIST/UIDL. */
export function parsePairs(lines: readonly string[], what: string): [number, string][] {
  return lines.map((line) => {
    const match = /^(\d+) (\S+)$/.exec(line);
    assert.ok(match, `${what} line is not "n value": ${JSON.stringify(line)}`);
    return [Number(match[1]), match[2]!];
  });
}

/** Connects, logs in with USER/PASS over pop3s and returns the client in TRANSACTION state. */
export async function openMaildrop(instance: Instance, user: string, password: string, options: Pop3ConnectOptions = {}): Promise<Pop3Client> {
  const client = await Pop3Client.connect(instance, options);
  client.assertOk(client.greeting, 'greeting');
  if ((options.port ?? 'pop3s') === 'pop3') await client.stls();
  await client.mustLogin(user, password);
  return client;
}

/**
 * Like openMaildrop, but a login refused with [IN-USE] is tried again for up to
 * timeoutMs: the server notices a dropped connection (and releases the lock) a moment
 * after the client went away.
 */
export async function openMaildropEventually(instance: Instance, user: string, password: string, timeoutMs = 3000): Promise<Pop3Client> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = await Pop3Client.connect(instance);
    const reply = await client.login(user, password);
    if (reply.ok) return client;
    client.close();
    if (reply.code !== 'IN-USE' || Date.now() >= deadline) {
      assert.fail(`login of ${user} refused: "${reply.line}"\n--- dialogue ---\n${client.dialogue()}`);
    }
    await sleep(100);
  }
}

export interface TestMessage {
  subject: string;
  /** The message as sent (CRLF, no trailing CRLF): what the mailbox holds after kakitome's Authentication-Results and Received headers, plus CRLF. */
  text: string;
}

/** A message for `to` with a unique subject. */
export function testMessage(to: string, options: Partial<MessageOptions> & { prefix?: string } = {}): TestMessage {
  const subject = options.subject ?? tag(options.prefix ?? 'pop3');
  return { subject, text: message({ ...options, to, subject }) };
}

/**
 * Delivers the messages to `to` over port 25 (one SMTP session, dot-stuffed on the
 * wire). Each 250 means the message is in the maildrop (the MDA commits before the
 * listener may say 250, src/mda/deliver.ts), so nothing is waited for after it.
 * Returns them in delivery order.
 */
export async function deliver(instance: Instance, to: string, messages: readonly TestMessage[]): Promise<TestMessage[]> {
  const smtp = await SmtpClient.to(instance);
  try {
    await smtp.ehlo('sender.remote.example');
    for (const m of messages) {
      await smtp.mustDeliver('sender@remote.example', [to], dotStuff(m.text));
    }
  } finally {
    await smtp.quit();
  }
  return [...messages];
}

/** The header section of a message and its blank line (what TOP n 0 returns). */
export function headerOf(text: string): string {
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end >= 0, 'message without a blank line after its header');
  return text.slice(0, end + 4);
}

/**
 * curl against the instance's pop3s (or pop3) port by the certificate's hostname,
 * resolved to the instance's loopback address with --resolve, the certificate trusted
 * with --cacert: the way a user's client would check it.
 */
export async function curlPop3(instance: Instance, path: string, user: string, password: string, { port = 'pop3s' as Pop3Port, extra = [] as string[] } = {}): Promise<RunResult> {
  assertLoopback(instance.host, 'curl --resolve address');
  const portNumber = instance.ports[port];
  const scheme = port === 'pop3s' ? 'pop3s' : 'pop3';
  const args = [
    '--noproxy', '*', '--max-time', '20', '--silent', '--show-error',
    '--cacert', instance.certPath,
    '--resolve', `${instance.hostname}:${portNumber}:${instance.host}`,
    '--user', `${user}:${password}`,
    ...extra,
    `${scheme}://${instance.hostname}:${portNumber}/${path}`,
  ];
  return run('curl', args, { timeoutMs: 30_000, missingHint: 'Debian package curl, see .ci/run' });
}

/** Runs test/e2e/py/SCRIPT.py under python3 and parses the JSON it prints. */
export async function pythonJson<T>(script: string, args: readonly string[], timeoutMs = 60_000): Promise<T> {
  const result = await run('python3', [join(E2E_PY_DIR, script), ...args], {
    timeoutMs,
    env: childEnv({ PYTHONDONTWRITEBYTECODE: '1', PYTHONIOENCODING: 'utf-8' }),
    missingHint: 'Debian package python3, see .ci/run',
  });
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`${script} printed no JSON (exit ${result.code})\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  }
}

