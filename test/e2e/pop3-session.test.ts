// The POP3 session as a client sees it on port 110 (STLS) and 995 (implicit TLS): the
// greeting and its APOP timestamp, CAPA before and after TLS, no password in clear,
// the STLS injection rule, USER/PASS, SASL PLAIN and APOP with identical failure
// replies, the per-IP and per-account lockout, and the session limits (line length,
// error count, idle time).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomLoopbackAddress } from '../harness/loopback.ts';
import { startInstance, type Instance } from '../harness/instance.ts';
import { appendToml } from './smtp.ts';
import { apopDigest, deliver, openMaildropEventually, Pop3Client, testMessage, type Pop3Reply } from './pop3.ts';

const ALICE = 'alice@example.test';
const BOB = 'bob@example.test'; // has an APOP secret
const CAROL = 'carol@example.test'; // has none
const PASSWORD = 'alice-and-friends-login-pw';
const BOB_SECRET = 'bob-apop-secret-1234';
const users = [ALICE, BOB, CAROL].map((address) => ({ address, password: PASSWORD }));

/** The capability names (first word of each CAPA line), upper-cased. */
const capabilityNames = (lines: readonly string[]) => lines.map((line) => line.split(' ')[0]!.toUpperCase());
/** The SASL mechanisms CAPA announces ("SASL PLAIN SCRAM-SHA-256"), upper-cased. */
const saslMechanisms = (lines: readonly string[]) =>
  lines.filter((line) => /^SASL(?: |$)/i.test(line)).flatMap((line) => line.split(' ').slice(1).map((m) => m.toUpperCase()));

const ALWAYS = ['TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING'];

function assertAlwaysListed(client: Pop3Client, capa: string[], where: string): void {
  const names = capabilityNames(capa);
  for (const name of ALWAYS) assert.ok(names.includes(name), `CAPA ${where} lacks ${name}: ${JSON.stringify(capa)}\n${client.dialogue()}`);
}

async function setApopSecret(instance: Instance, address: string, secret: string): Promise<void> {
  const result = await instance.cli(['user', 'apop', address, '--secret-stdin'], { stdin: `${secret}\n` });
  assert.equal(result.code, 0, `kakitome user apop ${address} failed: ${result.stderr}`);
}

/** A failed login's reply, from a fresh pop3s connection. */
async function failedLogin(instance: Instance, localAddress: string, attempt: (client: Pop3Client) => Promise<Pop3Reply>, why: string): Promise<string> {
  const client = await Pop3Client.connect(instance, { localAddress });
  try {
    const reply = await attempt(client);
    client.assertErr(reply, why, 'AUTH');
    return reply.line;
  } finally {
    await client.end();
  }
}

describe('POP3 session (one instance: alice, bob with an APOP secret, carol without)', () => {
  let instance: Instance;

  before(async () => {
    instance = await startInstance({ users });
    await setApopSecret(instance, BOB, BOB_SECRET);
  });
  after(async () => {
    await instance?.close();
  });

  test('greeting on 110 and 995: +OK with a fresh APOP timestamp <…@hostname> per connection, no software name or version', async () => {
    const timestamps = new Set<string>();
    for (const port of ['pop3', 'pop3', 'pop3s', 'pop3s'] as const) {
      const client = await Pop3Client.connect(instance, { port, localAddress: randomLoopbackAddress() });
      try {
        client.assertOk(client.greeting, `greeting on ${port}`);
        const timestamp = client.timestamp();
        assert.ok(timestamp, `no <timestamp> in the ${port} greeting "${client.greeting.line}"`);
        assert.ok(timestamp.endsWith(`@${instance.hostname}>`), `APOP timestamp ${timestamp} does not end with @${instance.hostname}>`);
        assert.match(timestamp, /^<[\x21-\x7e]+@[\x21-\x7e]+>$/, 'the timestamp is a msg-id (RFC 1939 §7)');
        timestamps.add(timestamp);
        const text = client.greeting.line.replace(timestamp, '');
        assert.doesNotMatch(text, /kakitome|node|dovecot|courier|qpopper/i, `greeting names software: ${client.greeting.line}`);
        assert.doesNotMatch(text, /\d+\.\d+/, `greeting carries a version-like number: ${client.greeting.line}`);
      } finally {
        await client.end();
      }
    }
    assert.equal(timestamps.size, 4, `APOP timestamps repeat across connections: ${[...timestamps].join(' ')}`);
  });

  test('CAPA on 110 before TLS: TOP UIDL RESP-CODES AUTH-RESP-CODE PIPELINING STLS; neither USER nor SASL PLAIN', async () => {
    const client = await Pop3Client.connect(instance, { port: 'pop3' });
    try {
      const capa = await client.capa();
      assertAlwaysListed(client, capa, 'before TLS');
      const names = capabilityNames(capa);
      assert.ok(names.includes('STLS'), `CAPA before TLS lacks STLS: ${JSON.stringify(capa)}`);
      assert.ok(!names.includes('USER'), `CAPA lists USER before TLS: ${JSON.stringify(capa)}`);
      assert.ok(!saslMechanisms(capa).includes('PLAIN'), `CAPA offers SASL PLAIN before TLS: ${JSON.stringify(capa)}`);
      assert.ok(!saslMechanisms(capa).includes('LOGIN'), `CAPA offers SASL LOGIN before TLS: ${JSON.stringify(capa)}`);
    } finally {
      await client.end();
    }
  });

  test('before TLS on 110: USER, PASS and AUTH PLAIN (with and without initial response) get -ERR; STLS then logs in on the same connection', async () => {
    const client = await Pop3Client.connect(instance, { port: 'pop3', localAddress: randomLoopbackAddress() });
    try {
      await client.expectErr(`USER ${ALICE}`, 'USER before TLS');
      await client.expectErr(`PASS ${PASSWORD}`, 'PASS before TLS (the right password)');
      const plain = await client.authPlain(ALICE, PASSWORD);
      client.assertErr(plain, 'AUTH PLAIN with the right credentials before TLS');
      const bare = await client.cmd('AUTH PLAIN');
      client.assertErr(bare, 'AUTH PLAIN without initial response before TLS (no "+ " continuation: the password must not be sent)');
      await client.expectErr('STAT', 'STAT: not logged in');
      await client.stls();
      await client.mustLogin(ALICE, PASSWORD);
      await client.stat();
      assert.equal((await client.quit()).ok, true, 'QUIT');
    } finally {
      await client.end();
    }
  });

  test('STLS on 110: +OK, TLS with the instance certificate; then CAPA lists USER and SASL PLAIN, not STLS; a second STLS gets -ERR', async () => {
    const client = await Pop3Client.connect(instance, { port: 'pop3', localAddress: randomLoopbackAddress() });
    try {
      await client.stls();
      assert.ok(client.session.encrypted(), 'TLS is active after STLS');
      const capa = await client.capa();
      assertAlwaysListed(client, capa, 'after STLS');
      const names = capabilityNames(capa);
      assert.ok(names.includes('USER'), `CAPA after STLS lacks USER: ${JSON.stringify(capa)}`);
      assert.ok(saslMechanisms(capa).includes('PLAIN'), `CAPA after STLS lacks SASL PLAIN: ${JSON.stringify(capa)}`);
      assert.ok(!names.includes('STLS'), `CAPA still lists STLS after TLS: ${JSON.stringify(capa)}`);
      await client.expectErr('STLS', 'a second STLS');
      await client.mustLogin(ALICE, PASSWORD);
      await client.expectErr('STLS', 'STLS in TRANSACTION state');
      await client.stat();
    } finally {
      await client.end();
    }
  });

  test('STLS injection: commands pipelined in clear behind STLS are discarded; the first reply after the handshake answers the next command', async () => {
    const client = await Pop3Client.connect(instance, { port: 'pop3', localAddress: randomLoopbackAddress() });
    try {
      client.sendRaw(`STLS\r\nUSER ${ALICE}\r\nCAPA\r\n`);
      client.assertOk(await client.reply(), 'STLS');
      assert.equal(client.session.pending(), '', 'nothing but the STLS reply before the handshake');
      await client.tlsHandshake();
      // Replies come in order: had the injected USER or CAPA been run, their +OK would be
      // read here as the reply to PASS; and had USER been run, this PASS would log in.
      client.send(`PASS ${PASSWORD}`);
      const pass = await client.reply();
      client.assertErr(pass, 'PASS inside TLS without a USER inside TLS (the clear-text USER must have been discarded)');
      await client.expectErr('STAT', 'STAT: still not logged in');
      await client.mustLogin(ALICE, PASSWORD);
    } finally {
      await client.end();
    }
  });

  test('995: implicit TLS with the instance certificate; CAPA lists USER and SASL PLAIN, not STLS; STLS gets -ERR', async () => {
    const client = await Pop3Client.connect(instance, { port: 'pop3s' });
    try {
      assert.ok(client.session.encrypted(), 'TLS from the first byte');
      const capa = await client.capa();
      assertAlwaysListed(client, capa, 'on 995');
      const names = capabilityNames(capa);
      assert.ok(names.includes('USER'), `CAPA on 995 lacks USER: ${JSON.stringify(capa)}`);
      assert.ok(saslMechanisms(capa).includes('PLAIN'), `CAPA on 995 lacks SASL PLAIN: ${JSON.stringify(capa)}`);
      assert.ok(!names.includes('STLS'), `CAPA on 995 lists STLS: ${JSON.stringify(capa)}`);
      await client.expectErr('STLS', 'STLS on 995');
    } finally {
      await client.end();
    }
  });

  test('USER/PASS inside TLS: +OK; wrong password and unknown user get the same -ERR [AUTH] line; USER never tells whether the user exists', async () => {
    const from = randomLoopbackAddress();
    const ok = await Pop3Client.connect(instance, { localAddress: from });
    try {
      await ok.mustLogin(ALICE, PASSWORD);
      await ok.stat();
      ok.assertOk(await ok.quit(), 'QUIT');
    } finally {
      await ok.end();
    }
    const userReplies: string[] = [];
    const failures: string[] = [];
    for (const [user, password] of [[ALICE, 'not-the-password'], ['nobody-here@example.test', PASSWORD]] as const) {
      const client = await Pop3Client.connect(instance, { localAddress: from });
      try {
        const userReply = await client.cmd(`USER ${user}`);
        client.assertOk(userReply, `USER ${user} (whether or not the user exists)`);
        userReplies.push(userReply.line.replace(user, 'NAME'));
        const pass = await client.cmd(`PASS ${password}`);
        client.assertErr(pass, `PASS for ${user}`, 'AUTH');
        failures.push(pass.line);
      } finally {
        await client.end();
      }
    }
    assert.equal(userReplies[0], userReplies[1], 'USER replies differ for an existing and an unknown user');
    assert.equal(failures[0], failures[1], 'wrong password and unknown user must get identical replies');
  });

  test('AUTH PLAIN (RFC 5034) inside TLS: initial response and "+ " continuation; failures -ERR [AUTH] alike; "*" cancels; bad base64 -ERR', async () => {
    const from = randomLoopbackAddress();
    for (const initialResponse of [true, false]) {
      const client = await Pop3Client.connect(instance, { localAddress: from });
      try {
        const reply = await client.authPlain(ALICE, PASSWORD, { initialResponse });
        client.assertOk(reply, `AUTH PLAIN ${initialResponse ? 'with' : 'without'} initial response`);
        await client.stat();
        client.assertOk(await client.quit(), 'QUIT');
      } finally {
        await client.end();
      }
    }
    const failures: string[] = [];
    for (const [user, password, initialResponse] of [
      [ALICE, 'wrong-password', true],
      ['ghost@example.test', PASSWORD, true],
      [ALICE, 'wrong-password', false],
    ] as const) {
      failures.push(await failedLogin(instance, from, (c) => c.authPlain(user, password, { initialResponse }), `AUTH PLAIN ${user} with a wrong password or unknown user`));
    }
    assert.equal(new Set(failures).size, 1, `AUTH PLAIN failures differ: ${JSON.stringify(failures)}`);

    const client = await Pop3Client.connect(instance, { localAddress: randomLoopbackAddress() });
    try {
      const go = await client.cmd('AUTH PLAIN');
      assert.match(go.line, /^\+(?: |$)/, `AUTH PLAIN without initial response: expected a "+ " continuation, got "${go.line}"`);
      await client.expectErr('*', 'AUTH cancelled with "*"');
      await client.expectErr('AUTH PLAIN !!!not*base64!!!', 'AUTH PLAIN with an initial response that is not base64');
      await client.expectErr('STAT', 'STAT: not logged in after cancel and a bad response');
      await client.mustLogin(ALICE, PASSWORD); // the session is still usable
    } finally {
      await client.end();
    }
  });

  test('APOP (RFC 1939 §7) on 110 before TLS and on 995: the digest of the timestamp and the APOP secret logs in', async () => {
    for (const port of ['pop3', 'pop3s'] as const) {
      const client = await Pop3Client.connect(instance, { port, localAddress: randomLoopbackAddress() });
      try {
        assert.equal(client.session.encrypted(), port === 'pop3s');
        client.assertOk(await client.apop(BOB, BOB_SECRET), `APOP with the right digest on ${port}`);
        await client.stat();
        client.assertOk(await client.quit(), 'QUIT');
      } finally {
        await client.end();
      }
    }
  });

  test('APOP failures (wrong digest, no APOP secret, login password as secret, replayed digest, unknown user) all get the same -ERR [AUTH] as USER/PASS', async () => {
    const from = randomLoopbackAddress();
    const failures = new Map<string, string>();
    failures.set('USER/PASS wrong password', await failedLogin(instance, from, (c) => c.login(CAROL, 'wrong-password'), 'USER/PASS wrong password'));
    failures.set('APOP wrong digest', await failedLogin(instance, from, (c) => c.apop(BOB, 'not-the-apop-secret'), 'APOP with a wrong secret'));
    failures.set('APOP user without secret', await failedLogin(instance, from, (c) => c.apop(CAROL, PASSWORD), 'APOP for a user without an APOP secret (digest of the login password)'));
    failures.set('APOP login password', await failedLogin(instance, from, (c) => c.apop(BOB, PASSWORD), 'APOP with the login password instead of the APOP secret'));
    failures.set('APOP unknown user', await failedLogin(instance, from, (c) => c.apop('nobody-apop@example.test', BOB_SECRET), 'APOP for an unknown user'));
    // A digest is good for the connection whose timestamp it hashes, and no other.
    const first = await Pop3Client.connect(instance, { port: 'pop3', localAddress: from });
    const stolen = apopDigest(first.timestamp()!, BOB_SECRET);
    first.close();
    failures.set('APOP replayed digest', await failedLogin(instance, from, (c) => c.cmd(`APOP ${BOB} ${stolen}`), 'APOP with the digest made for another connection'));
    const lines = [...failures.values()];
    assert.equal(new Set(lines).size, 1, `auth failures differ:\n${[...failures].map(([why, line]) => `  ${why}: ${line}`).join('\n')}`);
  });

  test('pipelined login: USER, PASS, STAT and NOOP in one write get four replies in order', async () => {
    const client = await Pop3Client.connect(instance, { localAddress: randomLoopbackAddress() });
    try {
      client.sendRaw(`USER ${ALICE}\r\nPASS ${PASSWORD}\r\nSTAT\r\nNOOP\r\n`);
      const replies = [await client.reply(), await client.reply(), await client.reply(), await client.reply()];
      replies.forEach((reply, i) => client.assertOk(reply, ['USER', 'PASS', 'STAT', 'NOOP'][i]!));
      assert.match(replies[2]!.line, /^\+OK \d+ \d+(?: |$)/, 'the third reply is STAT\'s');
    } finally {
      await client.end();
    }
  });

  test('AUTHORIZATION state: STAT, LIST, RETR, DELE, NOOP get -ERR; QUIT gets +OK and closes', async () => {
    const client = await Pop3Client.connect(instance, { localAddress: randomLoopbackAddress() });
    try {
      for (const command of ['STAT', 'LIST', 'RETR 1', 'DELE 1', 'UIDL', 'TOP 1 0', 'RSET', 'NOOP']) {
        await client.expectErr(command, `${command} before login`);
      }
      client.assertOk(await client.cmd('QUIT'), 'QUIT in AUTHORIZATION');
      assert.ok(await client.session.waitForClose(2000), 'closed after QUIT');
    } finally {
      await client.end();
    }
  });

  test('a command line over 255 octets gets -ERR (RFC 2449 §4)', async () => {
    const client = await Pop3Client.connect(instance, { localAddress: randomLoopbackAddress() });
    try {
      client.send(`USER ${'a'.repeat(300)}@example.test`);
      const reply = await client.reply();
      client.assertErr(reply, 'a 320-octet USER line');
      client.send(`NOOP ${'x'.repeat(2000)}`);
      // An over-long line is an error like any other (src/mra/pop3/session.ts): -ERR, and the session goes on.
      client.assertErr(await client.reply(), 'a 2000-octet line');
      assert.ok((await client.multi('CAPA')).ok, `the session goes on after an over-long line\n${client.dialogue()}`);
    } finally {
      await client.end();
    }
  });

  test('about 10 errors in a session: the connection is closed (9 errors are tolerated, 11 are not)', async () => {
    const client = await Pop3Client.connect(instance, { localAddress: randomLoopbackAddress() });
    try {
      for (let i = 1; i <= 9; i++) await client.expectErr(`XYZZY${i}`, `unknown command #${i}`);
      assert.ok((await client.multi('CAPA')).ok, 'after 9 errors the session still works');
      let closed = false;
      for (let i = 10; i <= 11 && !closed; i++) {
        client.send(`XYZZY${i}`);
        closed = await client.session.waitForClose(1000);
      }
      assert.ok(closed, `still open after 11 errors\n${client.dialogue()}`);
      const errors = client.session.transcript().match(/^-ERR/gm)?.length ?? 0;
      assert.ok(errors >= 10, `closed after only ${errors} -ERR replies (10 or 11 expected)\n${client.dialogue()}`);
    } finally {
      await client.end();
    }
  });
});

describe('POP3 limits and lockout (an instance of their own each)', () => {
  test('[pop3] idle_timeout = "2s": an idle session is closed with the autologout line, and its DELE marks delete nothing', async (t) => {
    const instance = await startInstance({ t, users: [{ address: ALICE, password: PASSWORD }], editConfig: appendToml('[pop3]\nidle_timeout = "2s"') });
    await deliver(instance, ALICE, [testMessage(ALICE, { prefix: 'idle' })]);
    const client = await Pop3Client.connect(instance);
    try {
      await client.mustLogin(ALICE, PASSWORD);
      client.assertOk(await client.cmd('DELE 1'), 'DELE 1');
      const closed = await client.session.waitForClose(30_000); // hang guard
      assert.ok(closed, `an idle session was not closed\n${client.dialogue()}`);
      // Closed by the idle timer, not for another reason: its own line came first (RFC 1939 §3 autologout, RFC 2449 [SYS/TEMP]).
      assert.match(client.session.transcript(), /^-ERR \[SYS\/TEMP\] autologout/m, `no autologout line before the close\n${client.dialogue()}`);
    } finally {
      await client.end();
    }
    const again = await openMaildropEventually(instance, ALICE, PASSWORD);
    try {
      assert.equal((await again.stat())[0], 1, 'the message marked in the timed-out session is still there');
    } finally {
      await again.end();
    }
  });

  test('max_failures_per_ip = 3: after 3 failures that address is refused with [SYS/TEMP] even with the right password (any user); another address logs in', async (t) => {
    const instance = await startInstance({ t, users: [{ address: ALICE, password: PASSWORD }], editConfig: appendToml('[auth]\nmax_failures_per_ip = 3') });
    const ALICE_SECRET = 'alice-apop-secret-9012';
    await setApopSecret(instance, ALICE, ALICE_SECRET);
    const guesser = '127.0.0.2';
    for (let i = 1; i <= 3; i++) await failedLogin(instance, guesser, (c) => c.login(ALICE, `guess-${i}`), `failure #${i} from ${guesser}`);

    const refusals: string[] = [];
    for (const [what, attempt] of [
      ['USER/PASS, right password', (c: Pop3Client) => c.login(ALICE, PASSWORD)],
      ['AUTH PLAIN, right password', (c: Pop3Client) => c.authPlain(ALICE, PASSWORD)],
      ['APOP, right secret', (c: Pop3Client) => c.apop(ALICE, ALICE_SECRET)],
      ['unknown user', (c: Pop3Client) => c.login('ghost@example.test', PASSWORD)],
    ] as const) {
      const client = await Pop3Client.connect(instance, { localAddress: guesser });
      try {
        const reply = await attempt(client);
        client.assertErr(reply, `${what} from the locked-out ${guesser}`, 'SYS/TEMP');
        refusals.push(reply.line.replace('ghost@example.test', ALICE));
      } finally {
        await client.end();
      }
    }
    assert.equal(new Set(refusals).size, 1, `refusals differ: ${JSON.stringify(refusals)}`);
    assert.equal(refusals[0], refusals[3], 'a locked-out address must get the same reply for an existing and an unknown user');

    const other = await Pop3Client.connect(instance, { localAddress: '127.0.0.3' });
    try {
      await other.mustLogin(ALICE, PASSWORD);
      await other.stat();
    } finally {
      await other.end();
    }
  });

  test('max_failures_per_account = 5: failures from many addresses lock the account everywhere; an unknown account behaves identically; other accounts unaffected', async (t) => {
    const instance = await startInstance({
      t,
      users: [ALICE, BOB].map((address) => ({ address, password: PASSWORD })),
      editConfig: appendToml('[auth]\nmax_failures_per_account = 5'),
    });
    const GHOST = 'ghost@example.test';
    for (const user of [ALICE, GHOST]) {
      for (let i = 1; i <= 5; i++) {
        // One failure from each address: no address reaches its own limit.
        await failedLogin(instance, `127.0.${user === ALICE ? 1 : 2}.${i + 10}`, (c) => c.login(user, `guess-${i}`), `failure #${i} for ${user}`);
      }
    }
    const refusals: string[] = [];
    for (const [user, from] of [[ALICE, '127.0.3.1'], [GHOST, '127.0.3.2']] as const) {
      const client = await Pop3Client.connect(instance, { localAddress: from });
      try {
        const reply = await client.login(user, PASSWORD);
        client.assertErr(reply, `${user} (right password for alice) from the fresh address ${from}`, 'SYS/TEMP');
        refusals.push(reply.line.replace(user, 'NAME'));
      } finally {
        await client.end();
      }
    }
    assert.equal(refusals[0], refusals[1], 'a locked existing account and a locked unknown account must look the same');

    const bob = await Pop3Client.connect(instance, { localAddress: '127.0.3.1' });
    try {
      await bob.mustLogin(BOB, PASSWORD);
    } finally {
      await bob.end();
    }
  });
});
