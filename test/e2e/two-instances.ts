// Two kakitome instances that send mail to each other through real DNS, for the
// end-to-end tests of the MSA and the outbound queue (issue 5):
//
//   A  127.0.0.2  domain a.test  hostname mail.a.test
//   B  127.0.0.3  domain b.test  hostname mail.b.test
//
// Both listen with the SAME port offset, so `outbound.smtp_port` (25 + offset) reaches
// either, and both resolve through one dnsmasq fixture serving MX a.test → mail.a.test
// (A 127.0.0.2) and MX b.test → mail.b.test (A 127.0.0.3), plus any extra records a
// test asks for (null MX domains, hosts where nothing listens).
//
// Also here: editing the generated kakitome.toml in place (setToml), submitting over
// 587/465 with the raw SMTP client (AUTH PLAIN/LOGIN), the queue id of a 250, the
// `kakitome queue` commands, and reading DSNs.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { afterEach, type TestContext } from 'node:test';
import { afterTest, keepTestDirs } from '../harness/cleanup.ts';
import { startDns, type DnsFixture, type DnsRecords } from '../harness/dns.ts';
import { startInstance, type Instance, type UserSpec } from '../harness/instance.ts';
import { isTcpPortFree, pickPortOffset, portsForOffset } from '../harness/ports.ts';
import { PortTakenError } from '../harness/serve-process.ts';
import { subjectOf, type StoredMessage } from './mailbox.ts';
import { SmtpClient, type Reply } from './smtp.ts';

export const A_HOST = '127.0.0.2';
export const B_HOST = '127.0.0.3';
export const PASSWORD = 'correct horse battery staple';
export const ALICE = 'alice@a.test';
export const BOB = 'bob@b.test';

// ---------------------------------------------------------------------------
// Editing the generated config

export type TomlValue = string | number | boolean | readonly string[];

function tomlLiteral(value: TomlValue): string {
  if (typeof value === 'string') return JSON.stringify(value); // a TOML basic string for plain text
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return `[${value.map((item) => JSON.stringify(item)).join(', ')}]`;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Sets `table.key = value` for each entry ("outbound.hold": "1h"): the key's line is
 * replaced inside its table when present, added at the end of the table otherwise, and
 * the table is appended when the file has none. Never duplicates a table or a key.
 */
export function setToml(toml: string, settings: Record<string, TomlValue>): string {
  let lines = toml.split('\n');
  for (const [path, value] of Object.entries(settings)) {
    const dot = path.lastIndexOf('.');
    if (dot <= 0) throw new Error(`setToml: "${path}" is not table.key`);
    const table = path.slice(0, dot);
    const key = path.slice(dot + 1);
    const assignment = `${key} = ${tomlLiteral(value)}`;
    const headerPattern = new RegExp(`^\\s*\\[\\s*${escapeRegExp(table)}\\s*\\]\\s*(?:#.*)?$`);
    const header = lines.findIndex((line) => headerPattern.test(line));
    if (header < 0) {
      while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
      lines = [...lines, '', `[${table}]`, assignment, ''];
      continue;
    }
    let end = lines.findIndex((line, i) => i > header && /^\s*\[/.test(line));
    if (end < 0) end = lines.length;
    const keyPattern = new RegExp(`^\\s*${escapeRegExp(key)}\\s*=`);
    const existing = lines.findIndex((line, i) => i > header && i < end && keyPattern.test(line));
    if (existing >= 0) {
      lines[existing] = assignment;
    } else {
      let last = end - 1;
      while (last > header && lines[last]!.trim() === '') last--;
      lines.splice(last + 1, 0, assignment);
    }
  }
  return lines.join('\n');
}

/** Routes mail for `domain` to `hop` ("host:port") in the generated [outbound.transport] table (setToml cannot: the key has dots). */
export function setTransport(toml: string, domain: string, hop: string): string {
  assert.match(toml, /^\[outbound\.transport\]$/m, 'init writes an [outbound.transport] table');
  return toml.replace(/^\[outbound\.transport\]\n/m, `[outbound.transport]\n${JSON.stringify(domain)} = ${JSON.stringify(hop)}\n`);
}

/** Rewrites a (stopped or running) instance's config file; takes effect at the next restart. */
export async function updateConfig(instance: Instance, settings: Record<string, TomlValue>): Promise<void> {
  await writeFile(instance.configPath, setToml(await readFile(instance.configPath, 'utf8'), settings));
}

// ---------------------------------------------------------------------------
// DNS: the harness's dnsmasq records, plus null MX (RFC 7505), which the harness's
// name check does not let through ("." is the root, the null MX target).

// ---------------------------------------------------------------------------
// The pair

export interface SideOptions {
  users?: UserSpec[];
  aliases?: Record<string, string | string[]>;
  /** Config settings ("outbound.hold": "1h"), applied after the common ones. */
  config?: Record<string, TomlValue>;
}

export interface PairOptions {
  a?: SideOptions;
  b?: SideOptions;
  /** More DNS records (merged over the pair's). */
  records?: DnsRecords;
  nullMx?: string[];
  /** Stop everything when this test (or suite hook's context) ends. */
  t?: TestContext;
}

export interface Pair {
  a: Instance;
  b: Instance;
  dns: DnsFixture;
  offset: number;
  /** Stops both instances and the DNS fixture; removes their directories unless `keep` (or KAKITOME_KEEP_TEST_DIRS=1). */
  close(keep?: boolean): Promise<void>;
}

/** The settings both instances get: deliver to the other one's port from their own address, retry fast. */
export function outboundSettings(offset: number, host: string): Record<string, TomlValue> {
  return {
    'outbound.smtp_port': portsForOffset(offset).smtp,
    'outbound.source_ip': host,
    'outbound.retry_initial': '1s',
    'outbound.retry_max': '2s',
    'outbound.connect_timeout': '3s',
  };
}

/** A port offset whose five listener ports are free on every one of `hosts`. */
export async function sharedPortOffset(hosts: readonly string[]): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const offset = await pickPortOffset(hosts[0]);
    const ports = Object.values(portsForOffset(offset));
    const free = await Promise.all(hosts.slice(1).flatMap((host) => ports.map((port) => isTcpPortFree(port, host))));
    if (free.every(Boolean)) return offset;
  }
  throw new Error(`no port offset free on all of ${hosts.join(', ')}`);
}

export function pairRecords(extra: DnsRecords = {}): DnsRecords {
  return {
    ...extra,
    mx: { 'a.test': { exchange: 'mail.a.test', priority: 10 }, 'b.test': { exchange: 'mail.b.test', priority: 10 }, ...extra.mx },
    a: { 'mail.a.test': A_HOST, 'mail.b.test': B_HOST, ...extra.a },
  };
}

/** Starts the DNS fixture, then A and B (same port offset; a taken port → another offset). */
export async function startPair(options: PairOptions = {}): Promise<Pair> {
  const records = pairRecords(options.records);
  for (const domain of options.nullMx ?? []) records.mx = { ...records.mx, [domain]: { exchange: '.', priority: 0 } };
  const dns = await startDns(records);
  try {
    for (let attempt = 1; ; attempt++) {
      const offset = await sharedPortOffset([A_HOST, B_HOST]);
      const side = (host: string, domain: string, opts: SideOptions = {}) =>
        startInstance({
          listen: host,
          domain,
          hostname: `mail.${domain}`,
          portOffset: offset,
          dns: dns.server,
          users: opts.users,
          aliases: opts.aliases,
          editConfig: (toml) => setToml(toml, { ...outboundSettings(offset, host), ...opts.config }),
        });
      let a: Instance | undefined;
      try {
        a = await side(A_HOST, 'a.test', options.a);
        const b = await side(B_HOST, 'b.test', options.b);
        const pair: Pair = {
          a,
          b,
          dns,
          offset,
          close: async (keep = false) => {
            await Promise.allSettled([closeInstance(a!, keep), closeInstance(b, keep)]);
            await dns.stop();
          },
        };
        if (options.t) afterTest(options.t, async (passed) => pair.close(!passed));
        return pair;
      } catch (error) {
        if (a) await closeInstance(a);
        if (!(error instanceof PortTakenError) || attempt >= 3) throw error;
      }
    }
  } catch (error) {
    await dns.stop();
    throw error;
  }
}

/** Stops an instance; removes its directory unless `keep` or KAKITOME_KEEP_TEST_DIRS=1 (then it is named on stderr). */
export async function closeInstance(instance: Instance | undefined, keep = false): Promise<void> {
  if (!instance) return;
  try {
    if (keep || keepTestDirs()) {
      await instance.stop();
      process.stderr.write(`kakitome instance directory kept: ${instance.dir}\n`);
    } else {
      await instance.close();
    }
  } catch {
    await instance.kill().catch(() => {});
  }
}

/**
 * Call inside a describe(): returns whether any test of that suite failed so far, so
 * its after() hook can keep the instance directories of a failed suite.
 */
export function watchFailures(): () => boolean {
  let failed = false;
  afterEach((t) => {
    // TestContext.passed exists at run time in Node 24 but not in @types/node.
    if ((t as unknown as { passed?: boolean }).passed === false) failed = true;
  });
  return () => failed;
}

// ---------------------------------------------------------------------------
// Submission (587 with STARTTLS, 465 with implicit TLS) over the raw SMTP client

export type SubmissionPort = 'submission' | 'submissions';

export interface SubmitConnectOptions {
  port?: SubmissionPort;
  localAddress?: string;
  helo?: string;
  /** Default true: STARTTLS on 587 right after EHLO (nothing to do on 465). */
  tls?: boolean;
}

/** Connects to 587 (STARTTLS done, EHLO again) or 465, and has sent EHLO. Returns the client and the last EHLO reply. */
export async function submissionClient(instance: Instance, options: SubmitConnectOptions = {}): Promise<{ client: SmtpClient; ehlo: Reply }> {
  const port = options.port ?? 'submission';
  const client = await SmtpClient.connect(instance.host, instance.ports[port], {
    tls: port === 'submissions',
    localAddress: options.localAddress,
    timeoutMs: 10_000,
  });
  try {
    client.assertReply(client.greeting!, /^220 /, `greeting on ${port}`);
    const helo = options.helo ?? 'laptop.client.test';
    let ehlo = await client.ehlo(helo);
    if (port === 'submission' && options.tls !== false) {
      await client.startTls();
      ehlo = await client.ehlo(helo);
    }
    return { client, ehlo };
  } catch (error) {
    client.close();
    throw error;
  }
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/** base64("authzid\0user\0password"): RFC 4616 PLAIN, by default without an authorisation identity. */
export function plain(user: string, password: string, authzid = ''): string {
  return b64(`${authzid}\0${user}\0${password}`);
}

/** AUTH PLAIN with the initial response (RFC 4954 §4), or after the 334 continuation. */
export async function authPlain(client: SmtpClient, user: string, password: string, { initialResponse = true } = {}): Promise<Reply> {
  if (initialResponse) return client.cmd(`AUTH PLAIN ${plain(user, password)}`);
  const go = await client.cmd('AUTH PLAIN');
  if (go.code !== 334) return go;
  return client.cmd(plain(user, password));
}

/** AUTH LOGIN: user name and password after their 334 prompts. */
export async function authLogin(client: SmtpClient, user: string, password: string): Promise<Reply> {
  const first = await client.cmd('AUTH LOGIN');
  if (first.code !== 334) return first;
  const second = await client.cmd(b64(user));
  if (second.code !== 334) return second;
  return client.cmd(b64(password));
}

/** Connects, TLS, AUTH PLAIN (asserted 235 2.7.0). */
export async function loggedIn(instance: Instance, user: string, password = PASSWORD, options: SubmitConnectOptions = {}): Promise<SmtpClient> {
  const { client } = await submissionClient(instance, options);
  try {
    client.assertReply(await authPlain(client, user, password), '235 2.7.0', `AUTH PLAIN as ${user}`);
  } catch (error) {
    client.close();
    throw error;
  }
  return client;
}

/** The queue id of "250 2.0.0 ok: queued as ID". */
export function queueIdOf(reply: Reply): string {
  const match = /^250 2\.0\.0 ok: queued as (\S+)/.exec(reply.last);
  assert.ok(match, `expected "250 2.0.0 ok: queued as ID", got "${reply.last}"`);
  return match[1]!;
}

export interface Submitted {
  id: string;
  subject: string;
}

/** A message from `from` (header and envelope) with Date and Message-ID unless told otherwise. */
export function submissionMessage(opts: { from: string; to: string | string[]; subject: string; body?: string; headers?: string[]; headerFrom?: string; noDate?: boolean; noMessageId?: boolean }): string {
  const to = Array.isArray(opts.to) ? opts.to : [opts.to];
  const lines = [
    `From: ${opts.headerFrom ?? `<${opts.from}>`}`,
    `To: ${to.map((address) => `<${address}>`).join(', ')}`,
    `Subject: ${opts.subject}`,
    ...(opts.noMessageId ? [] : [`Message-ID: <${opts.subject}@client.test>`]),
    ...(opts.noDate ? [] : [`Date: ${new Date().toUTCString().replace('GMT', '+0000')}`]),
    ...(opts.headers ?? []),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    opts.body ?? `body of ${opts.subject}`,
  ];
  return lines.join('\r\n');
}

/** Submits one message as `user` (logged in) and returns its queue id. */
export async function submit(instance: Instance, user: string, to: string | string[], subject: string, options: SubmitConnectOptions & { password?: string } = {}): Promise<Submitted> {
  const client = await loggedIn(instance, user, options.password ?? PASSWORD, options);
  try {
    const recipients = Array.isArray(to) ? to : [to];
    const reply = await client.deliver(user, recipients, submissionMessage({ from: user, to: recipients, subject }));
    client.assertReply(reply, '250 2.0.0', `submission of "${subject}"`);
    return { id: queueIdOf(reply), subject };
  } finally {
    await client.quit();
  }
}

// ---------------------------------------------------------------------------
// The queue commands

export interface QueueOutput {
  code: number | null;
  stdout: string;
  stderr: string;
}

export async function queueCli(instance: Instance, args: readonly string[]): Promise<QueueOutput> {
  const result = await instance.cli(['queue', ...args]);
  return { code: result.code, stdout: result.stdout, stderr: result.stderr };
}

/** `queue list`, asserted to succeed. */
export async function queueList(instance: Instance): Promise<string> {
  const result = await queueCli(instance, ['list']);
  assert.equal(result.code, 0, `kakitome queue list failed (exit ${result.code})\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  return result.stdout;
}

/** Polls `queue list` until `done(output)` holds; returns the last output, or fails with it after timeoutMs. */
export async function waitForQueue(instance: Instance, done: (output: string) => boolean, what: string, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let output = '';
  for (;;) {
    output = await queueList(instance);
    if (done(output)) return output;
    if (Date.now() >= deadline) assert.fail(`queue list did not show ${what} within ${timeoutMs} ms; last output:\n${output}`);
    await sleep(250);
  }
}

/** The lines of `queue list` output that concern queue id `id` (its line and any indented continuation lines). */
export function queueEntry(output: string, id: string): string | undefined {
  const lines = output.split('\n');
  const start = lines.findIndex((line) => line.includes(id));
  if (start < 0) return undefined;
  const entry = [lines[start]!];
  for (let i = start + 1; i < lines.length && /^\s+\S/.test(lines[i]!); i++) entry.push(lines[i]!);
  return entry.join('\n');
}

export const QUEUE_EMPTY = /queue is empty/i;

// ---------------------------------------------------------------------------
// Reading stored messages

/** The header section, unfolded. */
export function headerSection(message: StoredMessage | string): string {
  const text = typeof message === 'string' ? message : message.content;
  const end = text.indexOf('\r\n\r\n');
  return (end < 0 ? text : text.slice(0, end)).replace(/\r\n[ \t]+/g, ' ');
}

/** Every value of header field `name` (unfolded). */
export function headerValues(message: StoredMessage | string, name: string): string[] {
  const pattern = new RegExp(`^${escapeRegExp(name)}:[ \\t]*(.*)$`, 'gim');
  return [...headerSection(message).matchAll(pattern)].map((match) => match[1]!.trim());
}

/** Whether a stored message is an RFC 3464 DSN: multipart/report; report-type=delivery-status. */
export function isDsn(message: StoredMessage): boolean {
  return headerValues(message, 'Content-Type').some((value) => /^multipart\/report\s*;/i.test(value) && /report-type\s*=\s*"?delivery-status"?/i.test(value));
}

/** The DSNs in a mailbox that name `recipient` as a Final-Recipient (or Original-Recipient). */
export function dsnsFor(messages: readonly StoredMessage[], recipient: string): StoredMessage[] {
  const pattern = new RegExp(`^(?:Final|Original)-Recipient:\\s*rfc822\\s*;\\s*<?${escapeRegExp(recipient)}>?\\s*$`, 'im');
  return messages.filter((m) => isDsn(m) && pattern.test(m.content));
}

export function describeMessages(messages: readonly StoredMessage[]): string {
  return messages.map((m) => `--- uid ${m.uid}: ${subjectOf(m) ?? '(no subject)'} ---\n${m.content.slice(0, 1500)}`).join('\n');
}
