// Sender authentication (issue 6), end to end between two instances — A (127.0.0.2,
// a.test) and B (127.0.0.3, b.test), see two-instances.ts — whose DNS is a dnsmasq
// fixture serving exactly the records `kakitome dns a.test` and `kakitome dns b.test`
// print (parsed by zone.ts), plus the A/PTR records of the hosts and a few domains of
// the outside world:
//
//   c.test   an honest third party: SPF passes for 127.0.0.4 and 127.0.0.5, no DMARC
//   q.test   SPF -all, DMARC p=quarantine
//   bl.test  a DNS block list listing 127.0.0.4 ("listed for testing")
//   broken.test  SERVFAIL (through a small proxy in front of dnsmasq, temperror test)
//
// What is checked:
// - mail submitted at A for B arrives with ONE Authentication-Results: mail.b.test
//   header: spf=pass, dkim=pass for the RSA and the Ed25519 signature, dmarc=pass,
//   sender-id=pass; the two DKIM-Signature fields are relaxed/relaxed and sign (and
//   oversign) From; and the stored message verifies with an independent verifier,
//   dkimpy (Debian python3-dkim), asking the same dnsmasq;
// - a forgery of a.test from 127.0.0.4 (SPF fail, DMARC p=reject) and a header-From
//   forgery with an unaligned passing SPF are refused in the session (550 5.7.1),
//   nothing is stored;
// - an Authentication-Results header that claims B's authserv-id, forged by the
//   sender, is removed: exactly one (B's own) remains;
// - DMARC p=quarantine: accepted and marked (X-Kakitome-Quarantine);
// - a DNS failure (SERVFAIL) while checking the sender: 451 4.7.x, nothing stored;
// - DNSBL: B with [dnsbl] zones = ["bl.test"] greets a listed client with 554 5.7.1
//   and the list's text, an unlisted one with 220; [dnsbl] allow lets it through;
// - `kakitome dkim rotate a.test`: after republishing, new mail is signed with the new
//   selectors and passes; the old key stays published (old mail still verifies) until
//   `kakitome dkim remove`.
//
// Republishing means a new dnsmasq (the fixture cannot change its records while it
// runs) on a new port, written into both configs, and a restart of both instances.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { startDns, type DnsFixture, type DnsRecords } from '../harness/dns.ts';
import type { Instance } from '../harness/instance.ts';
import { run } from '../harness/processes.ts';
import { messagesOf, subjectOf, waitForSubject, type StoredMessage } from './mailbox.ts';
import { message, SmtpClient, tag, type Reply } from './smtp.ts';
import { waitForStoredMessages } from './store-files.ts';
import {
  A_HOST,
  ALICE,
  B_HOST,
  BOB,
  headerSection,
  headerValues,
  PASSWORD,
  queueList,
  startPair,
  submit,
  updateConfig,
  watchFailures,
  type Pair,
} from './two-instances.ts';
import { dkimKeys, mergeRecords, parseZone, tagList, type ParsedZone } from './zone.ts';

const FORGER_HOST = '127.0.0.4'; // listed in bl.test; not allowed by a.test's SPF
const OTHER_HOST = '127.0.0.5'; // mail.c.test; not listed
const C_SENDER = 'sender@c.test';
const Q_SENDER = 'sender@q.test';
const BROKEN_SENDER = 'sender@broken.test';
const BROKEN_SUFFIX = 'broken.test';
const AUTHSERV_B = 'mail.b.test';

/** The world outside A and B: hosts, an honest domain, a quarantine domain, a block list. */
const WORLD: DnsRecords = {
  a: {
    'mail.a.test': A_HOST,
    'mail.b.test': B_HOST,
    'mail.c.test': OTHER_HOST,
    '4.0.0.127.bl.test': '127.0.0.2', // RFC 5782 §2.1: listed, A record 127.0.0.2
  },
  // Explicit PTRs: the block list's A record must not become 127.0.0.2's name.
  ptr: { [A_HOST]: 'mail.a.test', [B_HOST]: 'mail.b.test', [OTHER_HOST]: 'mail.c.test' },
  mx: {
    'c.test': { exchange: 'mail.c.test', priority: 10 },
    'q.test': { exchange: 'mail.c.test', priority: 10 },
  },
  txt: {
    'c.test': `v=spf1 ip4:${FORGER_HOST} ip4:${OTHER_HOST} -all`,
    'q.test': 'v=spf1 -all',
    '_dmarc.q.test': 'v=DMARC1; p=quarantine',
    '4.0.0.127.bl.test': 'listed for testing',
  },
};

// ---------------------------------------------------------------------------
// Authentication-Results (RFC 8601)

interface ResInfo {
  method: string;
  result: string;
  /** "smtp.mailfrom" → "alice@a.test", "header.a" → "rsa-sha256", … (lower-case keys). */
  props: Map<string, string>;
}

interface AuthResults {
  authservId: string;
  results: ResInfo[];
  raw: string;
}

/** Removes RFC 5322 comments (nested parentheses) outside quoted strings. */
function stripComments(value: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === '\\' && (quoted || depth > 0)) {
      if (depth === 0) out += ch + (value[i + 1] ?? '');
      i++;
    } else if (quoted) {
      out += ch;
      if (ch === '"') quoted = false;
    } else if (ch === '(') {
      depth++;
    } else if (ch === ')' && depth > 0) {
      depth--;
    } else if (depth === 0) {
      if (ch === '"') quoted = true;
      out += ch;
    }
  }
  return out;
}

function splitOutsideQuotes(value: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    if (ch === separator && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

function parseAuthResults(raw: string): AuthResults {
  const [head = '', ...rest] = splitOutsideQuotes(stripComments(raw), ';').map((part) => part.trim());
  const authservId = (head.split(/\s+/)[0] ?? '').toLowerCase();
  const results: ResInfo[] = [];
  for (const part of rest) {
    if (part === '' || /^none$/i.test(part)) continue;
    const tokens = part.split(/\s+/).filter(Boolean);
    const first = /^([A-Za-z0-9_-]+)(?:\/\d+)?\s*=\s*(\S+)$/.exec(tokens.shift() ?? '');
    if (!first) continue;
    const props = new Map<string, string>();
    for (const token of tokens) {
      const eq = token.indexOf('=');
      if (eq > 0) props.set(token.slice(0, eq).toLowerCase(), token.slice(eq + 1).replace(/^"|"$/g, ''));
    }
    results.push({ method: first[1]!.toLowerCase(), result: first[2]!.toLowerCase(), props });
  }
  return { authservId, results, raw };
}

/** Every Authentication-Results field of a stored message, parsed. */
function authResultsOf(stored: StoredMessage): AuthResults[] {
  return headerValues(stored, 'Authentication-Results').map(parseAuthResults);
}

/** The one A-R field with B's authserv-id (asserted: exactly one). */
function bAuthResults(stored: StoredMessage): AuthResults {
  const ours = authResultsOf(stored).filter((ar) => ar.authservId === AUTHSERV_B);
  assert.equal(ours.length, 1, `exactly one Authentication-Results: ${AUTHSERV_B} header expected, found ${ours.length}:\n${headerSection(stored)}`);
  return ours[0]!;
}

function resultsFor(ar: AuthResults, method: string): ResInfo[] {
  return ar.results.filter((r) => r.method === method);
}

function assertResult(ar: AuthResults, method: string, expected: string, stored: StoredMessage): ResInfo {
  const found = resultsFor(ar, method);
  assert.ok(found.length > 0, `no ${method}= result in Authentication-Results: ${ar.raw}\n--- stored header ---\n${headerSection(stored)}`);
  const match = found.find((r) => r.result === expected);
  assert.ok(match, `expected ${method}=${expected}, got ${found.map((r) => `${method}=${r.result}`).join(', ')} in: ${ar.raw}`);
  return match;
}

// ---------------------------------------------------------------------------
// DKIM-Signature fields and the independent verifier (dkimpy)

interface Signature {
  tags: Map<string, string>;
  raw: string;
}

function dkimSignatures(stored: StoredMessage): Signature[] {
  return headerValues(stored, 'DKIM-Signature').map((raw) => ({ raw, tags: tagList(raw) }));
}

interface DkimpyResult {
  index: number;
  verified: boolean;
  error?: string;
  d?: string;
  s?: string;
  a?: string;
}

// Debian's python3-dkim is installed for the system interpreter; a python3 earlier on
// PATH (pyenv, a virtualenv) would not see it.
const SYSTEM_PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

// Verifies every DKIM-Signature of the message on stdin (dkim.DKIM.verify(idx=i)) with
// keys looked up in the fixture only (dnspython, no system resolver). Prints JSON.
const DKIMPY_VERIFY = String.raw`
import json, sys
try:
    import dkim
    import dns.resolver, dns.rdatatype
except ImportError as error:
    print(json.dumps({"missing": str(error)}))
    sys.exit(3)
host, port = sys.argv[1], int(sys.argv[2])
resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = [host]
resolver.port = port
queries = []
def txt(name, timeout=5):
    name = name.decode("ascii") if isinstance(name, bytes) else name
    queries.append(name)
    try:
        answer = resolver.resolve(name, "TXT", lifetime=timeout, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return None
    if answer.rrset is None:
        return None
    for rdata in answer.rrset:
        return b"".join(rdata.strings)
    return None
message = sys.stdin.buffer.read()
count = sum(1 for name, _ in dkim.DKIM(message).headers if name.lower() == b"dkim-signature")
results = []
for index in range(count):
    verifier = dkim.DKIM(message, minkey=1024)
    entry = {"index": index}
    try:
        entry["verified"] = bool(verifier.verify(idx=index, dnsfunc=txt))
    except Exception as error:
        entry["verified"] = False
        entry["error"] = type(error).__name__ + ": " + str(error)
    for key in ("d", "s", "a"):
        value = (verifier.signature_fields or {}).get(key.encode())
        if value is not None:
            entry[key] = value.decode("ascii", "replace")
    results.append(entry)
print(json.dumps({"signatures": results, "queries": queries}))
`;

async function dkimpyVerify(stored: StoredMessage, dns: DnsFixture): Promise<DkimpyResult[]> {
  const result = await run(SYSTEM_PYTHON, ['-c', DKIMPY_VERIFY, dns.host, String(dns.port)], {
    stdin: stored.bytes,
    timeoutMs: 30_000,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  if (result.code === 3) assert.fail(`dkimpy is not installed for ${SYSTEM_PYTHON} (Debian python3-dkim and python3-nacl, see .ci/run): ${result.stdout}`);
  assert.equal(result.code, 0, `dkimpy failed (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  return (JSON.parse(result.stdout) as { signatures: DkimpyResult[] }).signatures;
}

/** Asserts dkimpy verifies an RSA and an Ed25519 signature of d=a.test; returns the selectors by algorithm. */
async function assertDkimpyVerifiesBoth(stored: StoredMessage, dns: DnsFixture): Promise<Map<string, string>> {
  const results = await dkimpyVerify(stored, dns);
  const shown = `dkimpy results: ${JSON.stringify(results, null, 1)}\n--- stored header ---\n${headerSection(stored)}`;
  const selectors = new Map<string, string>();
  for (const algorithm of ['rsa-sha256', 'ed25519-sha256']) {
    const signature = results.find((r) => r.a === algorithm && r.d === 'a.test');
    assert.ok(signature, `no ${algorithm} signature of d=a.test; ${shown}`);
    assert.equal(signature.verified, true, `dkimpy does not verify the ${algorithm} signature; ${shown}`);
    selectors.set(algorithm, signature.s!);
  }
  return selectors;
}

// ---------------------------------------------------------------------------
// A DNS proxy in front of dnsmasq that answers SERVFAIL for one domain (dnsmasq itself
// only answers or says NXDOMAIN), to make a temperror.

interface ServfailProxy {
  server: string;
  close(): Promise<void>;
}

/** The QNAME of a DNS query (RFC 1035 §4.1.2) and where its question ends, or undefined. */
function question(query: Buffer): { name: string; end: number } | undefined {
  if (query.length < 12 || query.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let offset = 12;
  for (;;) {
    const length = query[offset];
    if (length === undefined || length > 63) return undefined;
    offset++;
    if (length === 0) break;
    labels.push(query.subarray(offset, offset + length).toString('latin1').toLowerCase());
    offset += length;
  }
  const end = offset + 4;
  return end <= query.length ? { name: labels.join('.'), end } : undefined;
}

function servfailFor(query: Buffer, questionEnd: number): Buffer {
  const reply = Buffer.from(query.subarray(0, questionEnd));
  reply[2] = 0x80 | (query[2]! & 0x79); // QR, the query's opcode and RD
  reply[3] = 0x80 | 2; // RA, RCODE 2 = SERVFAIL
  reply.writeUInt16BE(0, 6);
  reply.writeUInt16BE(0, 8);
  reply.writeUInt16BE(0, 10);
  return reply;
}

async function startServfailProxy(upstream: DnsFixture, failing: string): Promise<ServfailProxy> {
  const socket = createSocket('udp4');
  const pending = new Set<UdpSocket>();
  socket.on('message', (query, client) => {
    const q = question(query);
    if (q && (q.name === failing || q.name.endsWith(`.${failing}`))) {
      socket.send(servfailFor(query, q.end), client.port, client.address);
      return;
    }
    const forward = createSocket('udp4');
    pending.add(forward);
    const done = () => {
      clearTimeout(timer);
      if (pending.delete(forward)) forward.close();
    };
    const timer = setTimeout(done, 5000);
    forward.on('error', done);
    forward.on('message', (answer) => {
      socket.send(answer, client.port, client.address);
      done();
    });
    forward.send(query, upstream.port, upstream.host);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  return {
    server: `127.0.0.1:${socket.address().port}`,
    close: async () => {
      for (const forward of pending) forward.close();
      pending.clear();
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------
// Port 25 sessions from other loopback addresses

async function smtpFrom(instance: Instance, localAddress: string): Promise<SmtpClient> {
  return SmtpClient.to(instance, { localAddress, timeoutMs: 10_000 });
}

/** A complete transaction on B's port 25 from `localAddress`; returns the final reply (or the first refusal) and the client. */
async function sendToB(pair: Pair, localAddress: string, envelopeFrom: string, body: string): Promise<{ reply: Reply; client: SmtpClient }> {
  const client = await smtpFrom(pair.b, localAddress);
  client.assertReply(client.greeting!, /^220 /, `greeting for ${localAddress}`);
  await client.ehlo(localAddress === OTHER_HOST ? 'mail.c.test' : 'client.c.test');
  const reply = await client.deliver(envelopeFrom, [BOB], body);
  return { reply, client };
}

/**
 * Called after the refused session has ended (QUIT answered): a refusal is the server's
 * last word on that transaction, and a message is in a mailbox only once committed,
 * before a 250 (src/mda/deliver.ts), so there is nothing left to wait for.
 */
async function assertNothingStored(pair: Pair, subject: string): Promise<void> {
  const stored = (await messagesOf(pair.b, BOB)).filter((m) => subjectOf(m) === subject);
  assert.equal(stored.length, 0, `a refused message was stored at B:\n${stored.map((m) => headerSection(m)).join('\n---\n')}`);
}

const storedWith = (messages: readonly StoredMessage[], subject: string) => messages.find((m) => subjectOf(m) === subject)!;

// ---------------------------------------------------------------------------

describe('sender authentication between two instances (SPF, DKIM, DMARC, DNSBL)', () => {
  let pair: Pair;
  let fixture: DnsFixture | undefined;
  const failed = watchFailures();

  /** `kakitome dns DOMAIN` of an instance, parsed (strictly: it must be zone syntax only). */
  async function published(instance: Instance): Promise<ParsedZone> {
    const out = await instance.cli(['dns', instance.domain]);
    assert.equal(out.code, 0, `kakitome dns ${instance.domain} failed (exit ${out.code}):\n${out.stdout}\n${out.stderr}`);
    return parseZone(out.stdout);
  }

  /** Serves what both instances publish (plus WORLD) from a new dnsmasq, and restarts both on it. */
  async function publish(): Promise<{ a: ParsedZone; b: ParsedZone }> {
    const zones = { a: await published(pair.a), b: await published(pair.b) };
    const next = await startDns(mergeRecords(zones.a.records, zones.b.records, WORLD));
    try {
      await Promise.all([pair.a, pair.b].map(async (instance) => {
        await updateConfig(instance, { 'dns.servers': [next.server] });
        await instance.restart();
      }));
    } catch (error) {
      await next.stop();
      throw error;
    }
    await fixture?.stop();
    fixture = next;
    return zones;
  }

  /** Submits at A (587, STARTTLS, AUTH) for bob@b.test and returns the message as stored at B. */
  async function deliveredAtoB(subject: string): Promise<StoredMessage> {
    await submit(pair.a, ALICE, BOB, subject);
    try {
      return storedWith(await waitForSubject(pair.b, BOB, subject, 20_000), subject);
    } catch (error) {
      const queue = await queueList(pair.a).catch((e: Error) => e.message);
      const attempts = pair.a.logs().filter((line) => line.includes('delivery attempt')).slice(-5).join('\n');
      const bLog = pair.b.logs().slice(-15).join('\n');
      throw new Error(`${(error as Error).message}\n--- A: queue list ---\n${queue}\n--- A: last delivery attempts ---\n${attempts}\n--- B: last log lines ---\n${bLog}`);
    }
  }

  let first: Promise<StoredMessage> | undefined;
  /** The first message A→B (with the keys made by init), delivered once for the tests that look at it. */
  const firstMessage = () => (first ??= deliveredAtoB(tag('first')));

  before(async () => {
    pair = await startPair({
      a: { users: [{ address: ALICE, password: PASSWORD }] },
      b: { users: [{ address: BOB, password: PASSWORD }] },
    });
    // startPair's own fixture knows only MX and A records; from here on the instances
    // resolve through what they publish themselves.
    await publish();
    await pair.dns.stop();
  });
  after(async () => {
    await fixture?.stop();
    if (pair) await pair.close(failed());
  });

  test('mail from A arrives at B with one Authentication-Results: spf, dkim (RSA and Ed25519), dmarc pass', { timeout: 60_000 }, async (t) => {
    const stored = await firstMessage();
    const ar = bAuthResults(stored);
    t.diagnostic(`Authentication-Results: ${ar.raw}`);
    const spf = assertResult(ar, 'spf', 'pass', stored);
    assert.match(spf.props.get('smtp.mailfrom') ?? '', /(^|@)a\.test$/i, `spf smtp.mailfrom: ${ar.raw}`);

    const dkim = resultsFor(ar, 'dkim');
    const passes = dkim.filter((r) => r.result === 'pass');
    assert.ok(passes.length >= 2, `two dkim=pass results expected (RSA and Ed25519): ${ar.raw}`);
    for (const r of passes) {
      const domain = r.props.get('header.d') ?? r.props.get('header.i')?.replace(/^.*@/, '');
      assert.equal(domain?.toLowerCase(), 'a.test', `dkim=pass for d=a.test: ${ar.raw}`);
    }
    // RFC 8601 §2.7.1: each dkim result names its signature's algorithm (header.a).
    const algorithms = passes.map((r) => r.props.get('header.a'));
    assert.ok(algorithms.every(Boolean), `every dkim=pass result carries header.a: ${ar.raw}`);
    assert.deepEqual([...new Set(algorithms)].sort(), ['ed25519-sha256', 'rsa-sha256'], `header.a of the dkim=pass results: ${ar.raw}`);
    assert.ok(!dkim.some((r) => r.result !== 'pass'), `every DKIM signature passes: ${ar.raw}`);

    const dmarc = assertResult(ar, 'dmarc', 'pass', stored);
    assert.equal(dmarc.props.get('header.from')?.toLowerCase(), 'a.test', `dmarc header.from: ${ar.raw}`);
    // Sender ID (RFC 4406): the PRA (From: alice@a.test) against a.test's v=spf1 record.
    assertResult(ar, 'sender-id', 'pass', stored);
    assert.equal(headerValues(stored, 'X-Kakitome-Quarantine').length, 0, 'a passing message is not marked for quarantine');
  });

  test('A signs with RSA-SHA256 and Ed25519, relaxed/relaxed, From signed and oversigned', { timeout: 60_000 }, async () => {
    const stored = await firstMessage();
    const signatures = dkimSignatures(stored).filter((s) => s.tags.get('d')?.toLowerCase() === 'a.test');
    assert.deepEqual(signatures.map((s) => s.tags.get('a')).sort(), ['ed25519-sha256', 'rsa-sha256'], `two signatures of d=a.test:\n${headerSection(stored)}`);
    for (const signature of signatures) {
      assert.equal(signature.tags.get('c'), 'relaxed/relaxed', `c= of ${signature.raw}`);
      const signed = (signature.tags.get('h') ?? '').toLowerCase().split(':');
      const froms = signed.filter((name) => name === 'from').length;
      assert.ok(froms >= 2, `From signed and oversigned (h= lists it more often than it occurs): ${signature.raw}`);
      for (const name of ['to', 'subject', 'date', 'message-id']) assert.ok(signed.includes(name), `h= includes ${name}: ${signature.raw}`);
    }
  });

  test('the stored message verifies with dkimpy (python3-dkim): both signatures, keys from the published records', { timeout: 60_000 }, async () => {
    const stored = await firstMessage();
    const selectors = await assertDkimpyVerifiesBoth(stored, fixture!);
    const keys = dkimKeys((await published(pair.a)).records, 'a.test');
    for (const selector of selectors.values()) assert.ok(keys.has(selector), `selector ${selector} is one that \`kakitome dns a.test\` prints`);
  });

  test('a forgery of a.test from 127.0.0.4 (SPF fail, DMARC p=reject) is refused in the session: 550 5.7.1', { timeout: 60_000 }, async (t) => {
    const subject = tag('forged');
    const { reply, client } = await sendToB(pair, FORGER_HOST, ALICE, message({ from: ALICE, to: BOB, subject }));
    try {
      t.diagnostic(reply.lines.join(' / '));
      client.assertReply(reply, '550 5.7.1', 'MAIL FROM and From: alice@a.test from a host a.test does not list');
      assert.match(reply.lines.join('\n'), /spf|dmarc/i, `the refusal names its reason\n--- dialogue ---\n${client.dialogue()}`);
    } finally {
      await client.quit();
    }
    await assertNothingStored(pair, subject);
  });

  test('a header From forgery with a passing but unaligned SPF (c.test) is refused by DMARC: 550 5.7.1', { timeout: 60_000 }, async (t) => {
    const subject = tag('from-forged');
    const { reply, client } = await sendToB(pair, OTHER_HOST, C_SENDER, message({ from: ALICE, to: BOB, subject }));
    try {
      t.diagnostic(reply.lines.join(' / '));
      client.assertReply(reply, '550 5.7.1', 'From: alice@a.test, envelope c.test, no signature');
      assert.match(reply.lines.join('\n'), /dmarc/i, `the refusal names DMARC\n--- dialogue ---\n${client.dialogue()}`);
    } finally {
      await client.quit();
    }
    await assertNothingStored(pair, subject);
  });

  test('Authentication-Results headers claiming B\'s authserv-id, forged by the sender, are removed', { timeout: 60_000 }, async (t) => {
    const subject = tag('forged-ar');
    const forged = [
      `Authentication-Results: ${AUTHSERV_B}; spf=pass smtp.mailfrom=forged-1@a.test; dkim=pass header.d=a.test; dmarc=pass header.from=a.test`,
      `Authentication-Results: ${AUTHSERV_B} 1; dkim=pass header.i=@forged-2.test`,
      `authentication-results:\r\n\t${AUTHSERV_B.toUpperCase()};\r\n\tdmarc=pass header.from=forged-3.test`,
    ];
    const { reply, client } = await sendToB(pair, OTHER_HOST, C_SENDER, message({ from: C_SENDER, to: BOB, subject, headers: forged }));
    try {
      client.assertReply(reply, '250 2.0.0', 'an honest message from c.test carrying forged Authentication-Results');
    } finally {
      await client.quit();
    }
    const stored = storedWith(await waitForSubject(pair.b, BOB, subject), subject);
    const ar = bAuthResults(stored);
    t.diagnostic(`Authentication-Results: ${ar.raw}`);
    assert.doesNotMatch(headerSection(stored), /forged-\d/, `every forged Authentication-Results is gone:\n${headerSection(stored)}`);
    assertResult(ar, 'spf', 'pass', stored); // c.test lists 127.0.0.5
    assert.ok(!resultsFor(ar, 'dkim').some((r) => r.result === 'pass'), `no signature, no dkim=pass: ${ar.raw}`);
    assert.ok(!resultsFor(ar, 'dmarc').some((r) => r.result === 'pass'), `c.test has no DMARC record: ${ar.raw}`);
  });

  test('DMARC p=quarantine: accepted, marked X-Kakitome-Quarantine, dmarc=fail recorded, filed in Junk by the spam filter', { timeout: 60_000 }, async (t) => {
    const subject = tag('quarantine');
    const { reply, client } = await sendToB(pair, OTHER_HOST, Q_SENDER, message({ from: Q_SENDER, to: BOB, subject }));
    try {
      client.assertReply(reply, '250 2.0.0', 'q.test fails SPF and DMARC, but asks only for quarantine');
    } finally {
      await client.quit();
    }
    // [spam.scores] spf_fail 1 + dmarc_fail 1 + senderid_fail 0.5 + dmarc_quarantine 3 ≥ junk_score 3: Junk, not INBOX.
    const junk = await waitForStoredMessages(pair.b, BOB, (ms) => ms.some((m) => subjectOf(m) === subject), { mailbox: 'Junk' });
    const stored = storedWith(junk, subject);
    assert.match(headerSection(stored), /^X-Spam-Status: Yes, score=5\.50 required=3\.00 tests=SPF_FAIL=1\.00,DMARC_FAIL=1\.00,SENDERID_FAIL=0\.50,DMARC_QUARANTINE=3\.00\r?$/m);
    assert.ok(!(await messagesOf(pair.b, BOB)).some((m) => subjectOf(m) === subject), 'not in INBOX');
    const ar = bAuthResults(stored);
    t.diagnostic(`Authentication-Results: ${ar.raw}`);
    assertResult(ar, 'spf', 'fail', stored);
    assertResult(ar, 'dmarc', 'fail', stored);
    assert.equal(headerValues(stored, 'X-Kakitome-Quarantine').length, 1, `marked for quarantine:\n${headerSection(stored)}`);
  });

  test('a DNS failure (SERVFAIL) while checking the sender: 451 4.7.x, nothing stored', { timeout: 90_000 }, async (t) => {
    const proxy = await startServfailProxy(fixture!, BROKEN_SUFFIX);
    const direct = fixture!.server;
    try {
      await updateConfig(pair.b, { 'dns.servers': [proxy.server] });
      await pair.b.restart();
      const subject = tag('temperror');
      const { reply, client } = await sendToB(pair, OTHER_HOST, BROKEN_SENDER, message({ from: BROKEN_SENDER, to: BOB, subject }));
      try {
        t.diagnostic(reply.lines.join(' / '));
        client.assertReply(reply, /^451 4\.7\.\d{1,3}\b/, 'SPF/DMARC lookups for broken.test fail with SERVFAIL');
      } finally {
        await client.quit();
      }
      await assertNothingStored(pair, subject);
    } finally {
      await updateConfig(pair.b, { 'dns.servers': [direct] });
      await pair.b.restart();
      await proxy.close();
    }
  });

  test('DNSBL: a listed client gets 554 5.7.1 with the list\'s text, an unlisted one 220; [dnsbl] allow skips the list', { timeout: 120_000 }, async (t) => {
    try {
      await updateConfig(pair.b, { 'dnsbl.zones': ['bl.test'] });
      await pair.b.restart();

      // 127.0.0.4 is listed: refused at the greeting, or at the latest at RCPT.
      const listedSubject = tag('listed');
      const client = await smtpFrom(pair.b, FORGER_HOST);
      let refusal: Reply | undefined;
      try {
        refusal = client.greeting!.code === 220 ? undefined : client.greeting;
        for (const line of ['EHLO client.c.test', `MAIL FROM:<${C_SENDER}>`, `RCPT TO:<${BOB}>`]) {
          if (refusal) break;
          const reply = await client.cmd(line);
          if (reply.code >= 400) refusal = reply;
        }
        assert.ok(refusal, `a client listed in bl.test was not refused\n--- dialogue ---\n${client.dialogue()}`);
        t.diagnostic(refusal.lines.join(' / '));
        client.assertReply(refusal, '554 5.7.1', 'a client listed in bl.test');
        const text = refusal.lines.join('\n');
        assert.match(text, /bl\.test/, `the refusal names the list\n--- dialogue ---\n${client.dialogue()}`);
        assert.match(text, /listed for testing/, `the refusal carries the list's TXT text\n--- dialogue ---\n${client.dialogue()}`);
        // And it cannot send anyway.
        const attempt = await client.deliver(C_SENDER, [BOB], message({ from: C_SENDER, to: BOB, subject: listedSubject })).catch(() => undefined);
        if (attempt) assert.notEqual(attempt.code, 250, `a listed client could send\n--- dialogue ---\n${client.dialogue()}`);
      } finally {
        await client.quit();
      }
      assert.ok(fixture!.queries().some((q) => q.name === '4.0.0.127.bl.test'), 'B asked bl.test about 127.0.0.4 (RFC 5782 §2.1 reversed octets)');
      await assertNothingStored(pair, listedSubject);

      // 127.0.0.5 is not listed.
      const unlistedSubject = tag('unlisted');
      const unlisted = await sendToB(pair, OTHER_HOST, C_SENDER, message({ from: C_SENDER, to: BOB, subject: unlistedSubject }));
      try {
        unlisted.client.assertReply(unlisted.reply, '250 2.0.0', 'a client not listed in bl.test');
      } finally {
        await unlisted.client.quit();
      }

      // [dnsbl] allow: the listed client is let through.
      await updateConfig(pair.b, { 'dnsbl.allow': [`${FORGER_HOST}/32`] });
      await pair.b.restart();
      const allowedSubject = tag('allowed');
      const allowed = await sendToB(pair, FORGER_HOST, C_SENDER, message({ from: C_SENDER, to: BOB, subject: allowedSubject }));
      try {
        allowed.client.assertReply(allowed.reply, '250 2.0.0', 'a listed client in [dnsbl] allow');
      } finally {
        await allowed.client.quit();
      }
      await waitForSubject(pair.b, BOB, allowedSubject);
    } finally {
      await updateConfig(pair.b, { 'dnsbl.zones': [], 'dnsbl.allow': [] });
      await pair.b.restart();
    }
  });

  test('kakitome dkim rotate a.test: new selectors sign and pass once published; the old key stays published', { timeout: 120_000 }, async () => {
    const old = await firstMessage();
    const oldSelectors = new Set(dkimSignatures(old).map((s) => s.tags.get('s')!));
    const keysBefore = dkimKeys((await published(pair.a)).records, 'a.test');

    const rotation = await pair.a.cli(['dkim', 'rotate', 'a.test']);
    assert.equal(rotation.code, 0, `kakitome dkim rotate a.test failed (exit ${rotation.code}):\n${rotation.stdout}\n${rotation.stderr}`);

    const zones = await publish();
    const keysAfter = dkimKeys(zones.a.records, 'a.test');
    for (const selector of keysBefore.keys()) assert.ok(keysAfter.has(selector), `the old key ${selector} is still published after the rotation`);
    const added = [...keysAfter.keys()].filter((selector) => !keysBefore.has(selector));
    assert.deepEqual(added.map((s) => tagList(keysAfter.get(s)!).get('k') ?? 'rsa').sort(), ['ed25519', 'rsa'], `a new RSA and Ed25519 key are published: ${added.join(', ')}`);

    const stored = await deliveredAtoB(tag('rotated'));
    const ar = bAuthResults(stored);
    assert.ok(resultsFor(ar, 'dkim').filter((r) => r.result === 'pass').length >= 2, `two dkim=pass results after rotation: ${ar.raw}`);
    assertResult(ar, 'dmarc', 'pass', stored);
    const selectors = await assertDkimpyVerifiesBoth(stored, fixture!);
    for (const selector of selectors.values()) {
      assert.ok(!oldSelectors.has(selector), `s=${selector} is a new selector (old: ${[...oldSelectors].join(', ')})`);
      assert.ok(added.includes(selector), `s=${selector} is one of the new published keys (${added.join(', ')})`);
    }
    // Mail signed before the rotation still verifies: its keys are still in DNS.
    await assertDkimpyVerifiesBoth(old, fixture!);
  });

  test('kakitome dkim remove: a retired key leaves `kakitome dns`; an active one cannot be removed', { timeout: 120_000 }, async () => {
    // Its own rotation, so there is a retired key to remove whether or not the rotate test ran.
    const signingSelectors = async (what: string) => [...new Set(dkimSignatures(await deliveredAtoB(tag(what))).map((s) => s.tags.get('s')!))];
    const oldSelectors = await signingSelectors('before-retire');
    const rotation = await pair.a.cli(['dkim', 'rotate', 'a.test']);
    assert.equal(rotation.code, 0, `kakitome dkim rotate a.test failed (exit ${rotation.code}):\n${rotation.stdout}\n${rotation.stderr}`);
    await publish();
    const active = await signingSelectors('active');
    assert.equal(active.filter((selector) => oldSelectors.includes(selector)).length, 0, `after the rotation A still signs with a retired key: ${active.join(', ')}`);
    const refused = await pair.a.cli(['dkim', 'remove', 'a.test', active[0]!]);
    assert.notEqual(refused.code, 0, `removing the active key ${active[0]} must fail:\n${refused.stdout}\n${refused.stderr}`);
    for (const selector of oldSelectors) {
      const removed = await pair.a.cli(['dkim', 'remove', 'a.test', selector]);
      assert.equal(removed.code, 0, `kakitome dkim remove a.test ${selector}:\n${removed.stdout}\n${removed.stderr}`);
    }
    const keys = dkimKeys((await published(pair.a)).records, 'a.test');
    for (const selector of oldSelectors) assert.ok(!keys.has(selector), `the removed key ${selector} is still in \`kakitome dns\``);
    for (const selector of active) assert.ok(keys.has(selector), `the active key ${selector} stays published`);
  });
});
