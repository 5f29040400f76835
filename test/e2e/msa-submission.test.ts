// The MSA (issue 5): submission on 587 (STARTTLS, then AUTH) and 465 (implicit TLS).
// AUTH only inside TLS (538 5.7.11 before), nothing accepted without authentication
// (530 5.7.0), the same 535 5.7.8 for a wrong password and an unknown user, a lockout
// shared with POP3 (454 4.7.0), sender rules for the envelope (553 5.7.1) and the header
// From (550 5.7.1 at the end of DATA, nothing sent), Message-ID and Date added (RFC 6409
// §8), bare CR/LF refused (554 5.6.0), the hourly rate limit (450 4.7.1), no client
// address in the Received header, and POP-before-SMTP (same address only, for that
// user's addresses only, exact expiry, surviving a restart) — with the raw client,
// Python's smtplib (starttls + login, implicit TLS) and swaks (--auth --tls,
// --tls-on-connect).
//
// Every test talks to a local recipient, so the result is in the store at once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startInstance, type Instance } from '../harness/instance.ts';
import { pop3Fetch, smtpSend, swaks } from '../harness/clients.ts';
import { messagesOf, subjectOf, waitForSubject } from './mailbox.ts';
import { openMaildrop, Pop3Client } from './pop3.ts';
import { SmtpClient, tag } from './smtp.ts';
import {
  A_HOST,
  authLogin,
  authPlain,
  closeInstance,
  headerSection,
  headerValues,
  loggedIn,
  PASSWORD,
  plain,
  queueIdOf,
  setToml,
  submissionClient,
  submissionMessage,
  type TomlValue,
  watchFailures,
} from './two-instances.ts';

const ALICE = 'alice@a.test';
const CAROL = 'carol@a.test';
const DAVE = 'dave@a.test';
const SALES = 'sales@a.test'; // alias → alice
const OPS = 'ops@a.test'; // alias → carol
const USERS = [ALICE, CAROL, DAVE].map((address) => ({ address, password: PASSWORD }));

// Each test that may fail a login uses its own client address, so the per-address
// lockout ([auth] max_failures_per_ip = 3) of one test never touches another.
let nextHost = 10;
const freshClientAddress = () => `127.0.1.${nextHost++}`;

async function msaInstance(settings: Record<string, TomlValue> = {}): Promise<Instance> {
  return startInstance({
    listen: A_HOST,
    domain: 'a.test',
    hostname: 'mail.a.test',
    users: USERS,
    aliases: { [SALES]: ALICE, [OPS]: CAROL },
    editConfig: (toml) => setToml(toml, settings),
  });
}

const AUTH_LINE = (reply: { lines: string[] }) => reply.lines.find((line) => /^250[ -]AUTH\b/i.test(line));
const hasExtension = (reply: { lines: string[] }, name: string) => reply.lines.some((line) => new RegExp(`^250[ -]${name}\\b`, 'i').test(line));

/** Sends a valid message alice → carol in an open, authorised session: it must get 250 2.0.0 and reach carol's mailbox. */
async function assertSubmittedAndDelivered(instance: Instance, client: SmtpClient, from = ALICE, subject = tag('msa')): Promise<string> {
  const reply = await client.deliver(from, [CAROL], submissionMessage({ from, to: CAROL, subject }));
  client.assertReply(reply, '250 2.0.0', `submission of ${subject}`);
  queueIdOf(reply);
  await waitForSubject(instance, CAROL, subject);
  return subject;
}

async function assertNotDelivered(instance: Instance, address: string, subject: string): Promise<void> {
  const subjects = (await messagesOf(instance, address)).map((m) => subjectOf(m));
  assert.ok(!subjects.includes(subject), `${address} received "${subject}", which was refused`);
}

describe('submission on 587 and 465', () => {
  let msa: Instance;
  const failed = watchFailures();
  before(async () => {
    msa = await msaInstance({ 'auth.max_failures_per_ip': 3 });
  });
  after(async () => closeInstance(msa, failed()));

  test('587 before TLS: STARTTLS offered, AUTH neither offered nor accepted (538 5.7.11), MAIL refused (530 5.7.0)', async () => {
    const { client, ehlo } = await submissionClient(msa, { tls: false, localAddress: freshClientAddress() });
    try {
      assert.ok(hasExtension(ehlo, 'STARTTLS'), `EHLO before TLS must offer STARTTLS:\n${ehlo.lines.join('\n')}`);
      assert.equal(AUTH_LINE(ehlo), undefined, `EHLO before TLS must not offer AUTH:\n${ehlo.lines.join('\n')}`);
      await client.expectCmd(`AUTH PLAIN ${plain(ALICE, PASSWORD)}`, '538 5.7.11', 'AUTH PLAIN in clear text');
      await client.expectCmd('AUTH LOGIN', '538 5.7.11', 'AUTH LOGIN in clear text');
      await client.expectCmd(`MAIL FROM:<${ALICE}>`, '530 5.7.0', 'MAIL without TLS and AUTH');
    } finally {
      await client.quit();
    }
  });

  test('587 after STARTTLS: AUTH PLAIN LOGIN offered, MAIL before AUTH refused (530 5.7.0)', async () => {
    const { client, ehlo } = await submissionClient(msa, { localAddress: freshClientAddress() });
    try {
      const auth = AUTH_LINE(ehlo);
      assert.ok(auth && /\bPLAIN\b/.test(auth) && /\bLOGIN\b/.test(auth), `EHLO inside TLS must offer AUTH PLAIN LOGIN:\n${ehlo.lines.join('\n')}`);
      assert.ok(!hasExtension(ehlo, 'STARTTLS'), `STARTTLS offered again inside TLS:\n${ehlo.lines.join('\n')}`);
      await client.expectCmd(`MAIL FROM:<${ALICE}>`, '530 5.7.0', 'MAIL without AUTH');
      await client.expectCmd(`RCPT TO:<${CAROL}>`, /^5\d\d /, 'RCPT without a transaction');
    } finally {
      await client.quit();
    }
  });

  test('AUTH PLAIN with an initial response: 235 2.7.0, then a message is queued and delivered locally at once', async () => {
    const client = await loggedIn(msa, ALICE, PASSWORD, { localAddress: freshClientAddress() });
    try {
      await assertSubmittedAndDelivered(msa, client);
    } finally {
      await client.quit();
    }
  });

  test('AUTH PLAIN after the 334 continuation and AUTH LOGIN: 235 2.7.0', async () => {
    const host = freshClientAddress();
    const first = (await submissionClient(msa, { localAddress: host })).client;
    try {
      first.assertReply(await authPlain(first, ALICE, PASSWORD, { initialResponse: false }), '235 2.7.0', 'AUTH PLAIN with 334 continuation');
      await assertSubmittedAndDelivered(msa, first);
    } finally {
      await first.quit();
    }
    const second = (await submissionClient(msa, { localAddress: host })).client;
    try {
      second.assertReply(await authLogin(second, CAROL, PASSWORD), '235 2.7.0', 'AUTH LOGIN');
      await assertSubmittedAndDelivered(msa, second, CAROL);
    } finally {
      await second.quit();
    }
  });

  test('AUTH cancelled with "*" gets 501; PLAIN with another authorization identity does not log in as it', async () => {
    const { client } = await submissionClient(msa, { localAddress: freshClientAddress() });
    try {
      await client.expectCmd('AUTH LOGIN', '334', 'AUTH LOGIN');
      await client.expectCmd('*', /^501 /, 'RFC 4954 §4: "*" cancels the exchange');
      // RFC 4616: authzid "carol", authenticated as alice: alice may not act as carol.
      const impersonation = await client.cmd(`AUTH PLAIN ${plain(ALICE, PASSWORD, CAROL)}`);
      if (impersonation.code === 235) {
        await client.expectCmd(`MAIL FROM:<${CAROL}>`, '553 5.7.1', 'alice authenticated with authzid carol, sending as carol');
      } else {
        client.assertReply(impersonation, /^5\d\d /, 'AUTH PLAIN with a foreign authorization identity');
      }
    } finally {
      await client.quit();
    }
  });

  test('a wrong password and an unknown user get the same 535 5.7.8', async () => {
    const { client } = await submissionClient(msa, { localAddress: freshClientAddress() });
    try {
      const wrong = await authPlain(client, ALICE, 'not the password at all');
      client.assertReply(wrong, '535 5.7.8', 'wrong password');
      const unknown = await authPlain(client, 'nobody@a.test', PASSWORD);
      client.assertReply(unknown, '535 5.7.8', 'unknown user');
      assert.equal(unknown.last, wrong.last, 'the refusal must not tell an unknown user from a wrong password');
      await client.expectCmd(`MAIL FROM:<${ALICE}>`, '530 5.7.0', 'MAIL after failed AUTH');
    } finally {
      await client.quit();
    }
  });

  test('lockout is shared with POP3: after 3 failures from one address (POP3 and SMTP) even the right password gets 454 4.7.0', async () => {
    const host = freshClientAddress();
    for (let i = 0; i < 2; i++) {
      const pop = await Pop3Client.connect(msa, { localAddress: host });
      try {
        pop.assertErr(await pop.login(DAVE, `wrong password ${i}`), 'POP3 login with a wrong password');
      } finally {
        await pop.end();
      }
    }
    const { client } = await submissionClient(msa, { localAddress: host });
    try {
      client.assertReply(await authPlain(client, DAVE, 'still the wrong password'), '535 5.7.8', 'third failure, over SMTP');
    } finally {
      await client.quit();
    }
    const locked = (await submissionClient(msa, { localAddress: host })).client;
    try {
      locked.assertReply(await authPlain(locked, DAVE, PASSWORD), '454 4.7.0', 'right password from a locked-out address');
      locked.assertReply(await authLogin(locked, ALICE, PASSWORD), '454 4.7.0', 'another account from a locked-out address');
    } finally {
      await locked.quit();
    }
    const pop = await Pop3Client.connect(msa, { localAddress: host });
    try {
      pop.assertErr(await pop.login(DAVE, PASSWORD), 'POP3 login from the locked-out address', 'SYS/TEMP');
    } finally {
      await pop.end();
    }
    // Another client address is not locked out.
    const other = await loggedIn(msa, DAVE, PASSWORD, { localAddress: freshClientAddress() });
    await other.quit();
  });

  test('465 is TLS from the first byte and offers AUTH at once', async () => {
    const { client, ehlo } = await submissionClient(msa, { port: 'submissions', localAddress: freshClientAddress() });
    try {
      assert.ok(client.session.encrypted(), 'port 465 must be TLS');
      const auth = AUTH_LINE(ehlo);
      assert.ok(auth && /\bPLAIN\b/.test(auth) && /\bLOGIN\b/.test(auth), `EHLO on 465 must offer AUTH PLAIN LOGIN:\n${ehlo.lines.join('\n')}`);
      assert.ok(!hasExtension(ehlo, 'STARTTLS'), `STARTTLS offered on 465:\n${ehlo.lines.join('\n')}`);
      await client.expectCmd(`MAIL FROM:<${ALICE}>`, '530 5.7.0', 'MAIL without AUTH on 465');
      await client.expectCmd('RSET', '250');
      client.assertReply(await authLogin(client, ALICE, PASSWORD), '235 2.7.0', 'AUTH LOGIN on 465');
      await assertSubmittedAndDelivered(msa, client);
    } finally {
      await client.quit();
    }
  });

  test('envelope sender: own address or an alias of the user; anything else and <> get 553 5.7.1', async () => {
    const client = await loggedIn(msa, ALICE, PASSWORD, { localAddress: freshClientAddress() });
    try {
      await client.expectCmd(`MAIL FROM:<${ALICE}>`, '250', 'own address');
      await client.expectCmd('RSET', '250');
      await client.expectCmd(`MAIL FROM:<${SALES}>`, '250', 'an alias that delivers to alice');
      await client.expectCmd('RSET', '250');
      await client.expectCmd(`MAIL FROM:<${CAROL}>`, '553 5.7.1', "another user's address");
      await client.expectCmd(`MAIL FROM:<${OPS}>`, '553 5.7.1', "an alias of another user");
      await client.expectCmd('MAIL FROM:<bob@b.test>', '553 5.7.1', 'an address in another domain');
      await client.expectCmd('MAIL FROM:<>', '553 5.7.1', 'the null sender');
      // The alias works for a whole message, too.
      await assertSubmittedAndDelivered(msa, client, SALES);
    } finally {
      await client.quit();
    }
  });

  test('header From: must be one of the user\'s addresses, else 550 5.7.1 at the end of DATA and nothing is delivered', async () => {
    const client = await loggedIn(msa, ALICE, PASSWORD, { localAddress: freshClientAddress() });
    const refused: string[] = [];
    try {
      const cases: { why: string; headerFrom: string; headers?: string[] }[] = [
        { why: "another user's address", headerFrom: `<${CAROL}>` },
        { why: 'a display name over a foreign address', headerFrom: `"Alice" <${CAROL}>` },
        { why: 'a foreign domain', headerFrom: '<ceo@b.test>' },
        { why: 'own address plus a foreign one', headerFrom: `<${ALICE}>, <${CAROL}>` },
      ];
      for (const c of cases) {
        const subject = tag('spoof');
        refused.push(subject);
        const reply = await client.deliver(ALICE, [CAROL], submissionMessage({ from: ALICE, to: CAROL, subject, headerFrom: c.headerFrom, headers: c.headers }));
        client.assertReply(reply, '550 5.7.1', `header From ${c.why}`);
      }
      // Own address with a display name, and an alias of the user, are fine.
      for (const headerFrom of [`"Alice A." <${ALICE}>`, `Sales <${SALES}>`]) {
        const subject = tag('from-ok');
        const reply = await client.deliver(ALICE, [CAROL], submissionMessage({ from: ALICE, to: CAROL, subject, headerFrom }));
        client.assertReply(reply, '250 2.0.0', `header From ${headerFrom}`);
        await waitForSubject(msa, CAROL, subject);
      }
    } finally {
      await client.quit();
    }
    for (const subject of refused) await assertNotDelivered(msa, CAROL, subject);
  });

  test('Message-ID and Date are added when missing (RFC 6409 §8), kept when present', async () => {
    const client = await loggedIn(msa, ALICE, PASSWORD, { localAddress: freshClientAddress() });
    const bare = tag('bare');
    const complete = tag('complete');
    try {
      client.assertReply(
        await client.deliver(ALICE, [CAROL], submissionMessage({ from: ALICE, to: CAROL, subject: bare, noDate: true, noMessageId: true })),
        '250 2.0.0',
        'message without Message-ID and Date',
      );
      client.assertReply(await client.deliver(ALICE, [CAROL], submissionMessage({ from: ALICE, to: CAROL, subject: complete })), '250 2.0.0', 'complete message');
    } finally {
      await client.quit();
    }
    const messages = await waitForSubject(msa, CAROL, complete);
    const added = messages.find((m) => subjectOf(m) === bare);
    assert.ok(added, 'the message without Message-ID and Date was not delivered');
    const ids = headerValues(added, 'Message-ID');
    assert.equal(ids.length, 1, `expected one Message-ID:\n${headerSection(added)}`);
    assert.match(ids[0]!, /^<[^<>@\s]+@[^<>@\s]+>$/, 'Message-ID is <left@right>');
    const dates = headerValues(added, 'Date');
    assert.equal(dates.length, 1, `expected one Date:\n${headerSection(added)}`);
    assert.ok(!Number.isNaN(Date.parse(dates[0]!)), `Date is not a date: ${dates[0]}`);
    assert.ok(Math.abs(Date.parse(dates[0]!) - Date.now()) < 5 * 60_000, `Date is not now: ${dates[0]}`);
    const kept = messages.find((m) => subjectOf(m) === complete)!;
    assert.deepEqual(headerValues(kept, 'Message-ID'), [`<${complete}@client.test>`], 'an existing Message-ID is kept as it is');
    assert.equal(headerValues(kept, 'Date').length, 1, 'an existing Date is not doubled');
  });

  test('bare LF or bare CR in the content: 554 5.6.0, nothing delivered', async () => {
    const client = await loggedIn(msa, ALICE, PASSWORD, { localAddress: freshClientAddress() });
    const subjects: string[] = [];
    try {
      for (const [name, bad] of [['bare LF', 'one\ntwo'], ['bare CR', 'one\rtwo'], ['LF dot LF', 'one\n.\nMAIL FROM:<x@b.test>']] as const) {
        const subject = tag('bare');
        subjects.push(subject);
        const reply = await client.deliver(ALICE, [CAROL], submissionMessage({ from: ALICE, to: CAROL, subject, body: bad }));
        client.assertReply(reply, '554 5.6.0', name);
      }
      await assertSubmittedAndDelivered(msa, client); // the session goes on, and what came before is not there
    } finally {
      await client.quit();
    }
    for (const subject of subjects) await assertNotDelivered(msa, CAROL, subject);
  });

  test('the Received header of submitted mail does not name the client address; 250 names the queue id', async () => {
    const host = '127.0.1.250';
    const client = await loggedIn(msa, ALICE, PASSWORD, { localAddress: host });
    const subject = tag('received');
    try {
      const reply = await client.deliver(ALICE, [CAROL], submissionMessage({ from: ALICE, to: CAROL, subject }));
      const id = queueIdOf(reply);
      assert.match(id, /^[A-Za-z0-9._-]{6,}$/, `a queue id: ${id}`);
    } finally {
      await client.quit();
    }
    const message = (await waitForSubject(msa, CAROL, subject)).find((m) => subjectOf(m) === subject)!;
    const received = headerValues(message, 'Received');
    assert.ok(received.some((value) => /\bby mail\.a\.test\b/.test(value)), `no Received header by mail.a.test:\n${headerSection(message)}`);
    assert.ok(!headerSection(message).includes(host), `the client address ${host} leaks into the header:\n${headerSection(message)}`);
  });

  test("Python smtplib: starttls + login on 587, SMTP_SSL + login on 465; without login it is refused", async () => {
    const subject587 = tag('smtplib587');
    const sent = await smtpSend({
      host: msa.host, port: msa.ports.submission, security: 'starttls', trust: { cafile: msa.certPath },
      user: ALICE, password: PASSWORD, from: ALICE, to: [CAROL], message: submissionMessage({ from: ALICE, to: CAROL, subject: subject587 }),
    });
    assert.ok(sent.ok, `smtplib starttls+login failed: ${JSON.stringify(sent)}`);
    assert.ok(sent.ehlo?.features.includes('auth'), `smtplib saw no AUTH after STARTTLS: ${JSON.stringify(sent.ehlo)}`);
    await waitForSubject(msa, CAROL, subject587);

    const subject465 = tag('smtplib465');
    const sent465 = await smtpSend({
      host: msa.host, port: msa.ports.submissions, security: 'tls', trust: { cafile: msa.certPath },
      user: CAROL, password: PASSWORD, from: CAROL, to: [ALICE], message: submissionMessage({ from: CAROL, to: ALICE, subject: subject465 }),
    });
    assert.ok(sent465.ok, `smtplib SMTP_SSL+login failed: ${JSON.stringify(sent465)}`);
    await waitForSubject(msa, ALICE, subject465);

    const refused = await smtpSend({
      host: msa.host, port: msa.ports.submission, security: 'starttls', trust: { cafile: msa.certPath },
      from: ALICE, to: [CAROL], message: submissionMessage({ from: ALICE, to: CAROL, subject: tag('nologin') }),
    });
    assert.equal(refused.ok, false, 'smtplib without login was accepted');
    assert.equal(refused.error?.code, 530, `expected 530 without login: ${JSON.stringify(refused)}`);
  });

  test('swaks --auth PLAIN --tls on 587 and --auth LOGIN --tls-on-connect on 465', async () => {
    const common = (port: number, subject: string, auth: string) => [
      '--server', `${msa.host}:${port}`, '--helo', 'laptop.client.test', '--timeout', '15',
      '--auth', auth, '--auth-user', ALICE, '--auth-password', PASSWORD,
      '--from', ALICE, '--to', CAROL, '--header', `Subject: ${subject}`,
    ];
    const subject587 = tag('swaks587');
    const s587 = await swaks([...common(msa.ports.submission, subject587, 'PLAIN'), '--tls']);
    assert.equal(s587.code, 0, `swaks --tls --auth PLAIN failed:\n${s587.transcript}`);
    assert.match(s587.transcript, /^<[-~]\s+235 2\.7\.0/m, `no 235 2.7.0:\n${s587.transcript}`);
    assert.match(s587.transcript, /^<[-~]\s+250 2\.0\.0 ok: queued as \S+/m, `no queued reply:\n${s587.transcript}`);
    await waitForSubject(msa, CAROL, subject587);

    const subject465 = tag('swaks465');
    const s465 = await swaks([...common(msa.ports.submissions, subject465, 'LOGIN'), '--tls-on-connect']);
    assert.equal(s465.code, 0, `swaks --tls-on-connect --auth LOGIN failed:\n${s465.transcript}`);
    assert.match(s465.transcript, /^<~\s+235 2\.7\.0/m, `no 235 2.7.0 inside TLS:\n${s465.transcript}`);
    await waitForSubject(msa, CAROL, subject465);

    // swaks refuses to send the password when the server offers no AUTH (before STARTTLS).
    const clear = await swaks([...common(msa.ports.submission, tag('swaks-clear'), 'PLAIN')]);
    assert.notEqual(clear.code, 0, `swaks without TLS should fail:\n${clear.transcript}`);
    assert.doesNotMatch(clear.transcript, /^\s*[-~]> AUTH PLAIN \S/m, `the password went out in clear text:\n${clear.transcript}`);
  });
});

describe('submission rate limit; the client address in Received when configured', () => {
  let msa: Instance;
  const failed = watchFailures();
  before(async () => {
    msa = await msaInstance({ 'submission.max_messages_per_hour': 2, 'submission.received_client_ip': true });
  });

  test('submission.received_client_ip = true names the client address in the Received header', async () => {
    const host = '127.0.1.251';
    const client = await loggedIn(msa, DAVE, PASSWORD, { localAddress: host });
    const subject = tag('received-ip');
    try {
      client.assertReply(await client.deliver(DAVE, [CAROL], submissionMessage({ from: DAVE, to: CAROL, subject })), '250 2.0.0', 'submission');
    } finally {
      await client.quit();
    }
    const message = (await waitForSubject(msa, CAROL, subject)).find((m) => subjectOf(m) === subject)!;
    const byUs = headerValues(message, 'Received').filter((value) => /\bby mail\.a\.test\b/.test(value));
    assert.ok(byUs.some((value) => value.includes(`[${host}]`)), `the configured client address is not in Received:\n${headerSection(message)}`);
  });

  after(async () => closeInstance(msa, failed()));

  test('the 3rd MAIL in an hour gets 450 4.7.1; another user is not affected', async () => {
    const client = await loggedIn(msa, ALICE, PASSWORD);
    try {
      await assertSubmittedAndDelivered(msa, client);
      await assertSubmittedAndDelivered(msa, client);
      await client.expectCmd(`MAIL FROM:<${ALICE}>`, '450 4.7.1', 'third message within the hour');
    } finally {
      await client.quit();
    }
    const again = await loggedIn(msa, ALICE, PASSWORD, { port: 'submissions' });
    try {
      await again.expectCmd(`MAIL FROM:<${SALES}>`, '450 4.7.1', 'the limit holds across sessions, ports and the user\'s aliases');
    } finally {
      await again.quit();
    }
    const carol = await loggedIn(msa, CAROL, PASSWORD);
    try {
      const subject = tag('carol');
      const reply = await carol.deliver(CAROL, [ALICE], submissionMessage({ from: CAROL, to: ALICE, subject }));
      carol.assertReply(reply, '250 2.0.0', 'another user under the limit');
      await waitForSubject(msa, ALICE, subject);
    } finally {
      await carol.quit();
    }
  });
});

/** POP3S login (and QUIT) as `user` from `host`; returns when the login succeeded. */
async function popLoginAt(msa: Instance, user: string, host: string): Promise<number> {
  const pop = await openMaildrop(msa, user, PASSWORD, { localAddress: host });
  const at = Date.now();
  await pop.end();
  return at;
}

/** A submission session from `host` without AUTH (587 with STARTTLS, or 465). */
async function unauthenticatedAt(msa: Instance, host: string, port: 'submission' | 'submissions' = 'submission'): Promise<SmtpClient> {
  return (await submissionClient(msa, { localAddress: host, port })).client;
}

describe('POP-before-SMTP', () => {
  // Long enough that the check inside the grant never races the clock on a loaded
  // machine (a POP3 login and a new session take far less); the expiry check waits it out.
  const TTL_MS = 12_000;
  let msa: Instance;
  const failed = watchFailures();
  before(async () => {
    msa = await msaInstance({ 'pop_before_smtp.enabled': true, 'pop_before_smtp.ttl': `${TTL_MS / 1000}s` });
  });
  after(async () => closeInstance(msa, failed()));

  const popLogin = (user: string, host: string) => popLoginAt(msa, user, host);
  const unauthenticated = (host: string, port?: 'submission' | 'submissions') => unauthenticatedAt(msa, host, port);

  test('Python poplib then smtplib (no login) from the same address: accepted', async () => {
    const fetched = await pop3Fetch({ host: msa.host, port: msa.ports.pop3s, trust: { cafile: msa.certPath }, user: ALICE, password: PASSWORD, retrieve: false });
    assert.ok(fetched.stat, `poplib login failed: ${JSON.stringify(fetched)}`);
    const subject = tag('pbs-smtplib');
    const sent = await smtpSend({
      host: msa.host, port: msa.ports.submission, security: 'starttls', trust: { cafile: msa.certPath },
      from: ALICE, to: [CAROL], message: submissionMessage({ from: ALICE, to: CAROL, subject }),
    });
    assert.ok(sent.ok, `smtplib without login after a POP3 login was refused: ${JSON.stringify(sent)}`);
    await waitForSubject(msa, CAROL, subject);
  });

  test("from the POP3 client's address: that user's addresses only; from another address: 530 5.7.0", async () => {
    const X = '127.0.0.5';
    await popLogin(ALICE, X);
    const client = await unauthenticated(X);
    try {
      await client.expectCmd(`MAIL FROM:<${CAROL}>`, '553 5.7.1', "another user's address under alice's grant");
      await assertSubmittedAndDelivered(msa, client, ALICE);
      await assertSubmittedAndDelivered(msa, client, SALES);
    } finally {
      await client.quit();
    }
    const implicit = await unauthenticated(X, 'submissions');
    try {
      await assertSubmittedAndDelivered(msa, implicit, ALICE);
    } finally {
      await implicit.quit();
    }
    const other = await unauthenticated('127.0.0.4');
    try {
      await other.expectCmd(`MAIL FROM:<${ALICE}>`, '530 5.7.0', 'another client address');
    } finally {
      await other.quit();
    }
    const logged = msa.logs().some((line) => line.includes(X) && /pop[-_ ]?before[-_ ]?smtp/i.test(line));
    assert.ok(logged, `no log line records the POP-before-SMTP use from ${X}:\n${msa.logs().slice(-20).join('\n')}`);
  });

  test('the grant ends after ttl: accepted within it, refused after it in the same session and a new one', async () => {
    const X = '127.0.0.6';
    const loggedInAt = await popLogin(ALICE, X);
    const client = await unauthenticated(X);
    try {
      await client.expectCmd(`MAIL FROM:<${ALICE}>`, '250', 'within ttl');
      await client.expectCmd('RSET', '250');
      await sleep(Math.max(0, loggedInAt + TTL_MS + 300 - Date.now()));
      // The same session, after the grant expired: MAIL is refused.
      await client.expectCmd(`MAIL FROM:<${ALICE}>`, '530 5.7.0', 'after ttl, same session');
    } finally {
      await client.quit();
    }
    const fresh = await unauthenticated(X);
    try {
      await fresh.expectCmd(`MAIL FROM:<${ALICE}>`, '530 5.7.0', 'after ttl, new session');
    } finally {
      await fresh.quit();
    }
  });
});

describe('POP-before-SMTP across a restart', () => {
  // A ttl far longer than any restart: this asserts persistence, not timing.
  let msa: Instance;
  const failed = watchFailures();
  before(async () => {
    msa = await msaInstance({ 'pop_before_smtp.enabled': true, 'pop_before_smtp.ttl': '10m' });
  });
  after(async () => closeInstance(msa, failed()));

  test('the grant survives a restart of the server', async () => {
    const X = '127.0.0.7';
    await popLoginAt(msa, CAROL, X);
    await msa.restart();
    const client = await unauthenticatedAt(msa, X);
    try {
      await client.expectCmd(`MAIL FROM:<${CAROL}>`, '250', 'after a restart, within ttl');
    } finally {
      await client.quit();
    }
    const other = await unauthenticatedAt(msa, '127.0.0.8');
    try {
      await other.expectCmd(`MAIL FROM:<${CAROL}>`, '530 5.7.0', 'no grant for another address after the restart');
    } finally {
      await other.quit();
    }
  });
});
