// POP3 with clients no one here wrote: Python's poplib (USER/PASS over STLS and POP3S,
// APOP, CAPA, TOP, UIDL), curl (pop3s://, and pop3:// with STLS required) and
// fetchmail (APOP in plain POP3, POP3S, STLS), each fetching mail delivered over port
// 25 and compared with what was sent.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { curl, fetchmail, pop3Fetch, type Pop3FetchResult } from '../harness/clients.ts';
import { startInstance, type Instance } from '../harness/instance.ts';
import { curlPop3, deliver, headerOf, octets, openMaildrop, pythonJson, testMessage, type TestMessage } from './pop3.ts';

const PASSWORD = 'clients-test-password';
const ALICE = 'alice@example.test'; // poplib, fetchmail STLS (kept)
const BOB = 'bob@example.test'; // APOP
const BOB_SECRET = 'bob-apop-secret-5678';
const CAROL = 'carol@example.test'; // fetchmail over POP3S, not kept
const DAVE = 'dave@example.test'; // curl
const users = [ALICE, BOB, CAROL, DAVE].map((address) => ({ address, password: PASSWORD }));

const DOT_BODY = ['first line', '.', '.leading dot', '..two dots', 'last line'].join('\r\n');

function assertMessages(result: Pop3FetchResult, sent: readonly TestMessage[], why: string): void {
  assert.equal(result.error, undefined, `${why}: poplib failed at ${result.step}: ${JSON.stringify(result.error)}`);
  assert.deepEqual(result.stat, [sent.length, result.list!.reduce((sum, [, size]) => sum + size, 0)], `${why}: STAT`);
  assert.equal(result.messages?.length, sent.length, `${why}: messages retrieved`);
  for (const [i, m] of sent.entries()) {
    const text: string = result.messages![i]!.text;
    assert.match(text, /^Authentication-Results: [^\r\n]*(?:\r\n[ \t][^\r\n]*)*\r\nReceived: /, `${why}: message ${i + 1} starts with kakitome's Authentication-Results: and Received: headers`);
    assert.ok(text.endsWith(`${m.text}\r\n`), `${why}: message ${i + 1} is not what was sent\n--- sent ---\n${m.text}\n--- retrieved ---\n${text}`);
    assert.equal(octets(text), result.list![i]![1], `${why}: LIST size of message ${i + 1} = octets retrieved`);
  }
  assert.match(result.quit ?? '', /^\+OK/, `${why}: QUIT`);
}

/** A fetched message as fetchmail hands it to the MDA: LF line ends, fetchmail's Received: on top. */
function assertFetched(messages: readonly string[], sent: readonly TestMessage[], transcript: string, why: string): void {
  assert.equal(messages.length, sent.length, `${why}: fetchmail delivered ${messages.length} of ${sent.length} messages\n${transcript}`);
  for (const [i, m] of sent.entries()) {
    const expected = `${m.text.replace(/\r\n/g, '\n')}\n`;
    assert.ok(messages[i]!.endsWith(expected), `${why}: message ${i + 1} is not what was sent\n--- sent ---\n${expected}\n--- fetched ---\n${messages[i]}`);
    assert.match(messages[i]!, /^Received: /m, `${why}: message ${i + 1} has Received: headers`);
  }
}

describe('POP3 with real clients (poplib, curl, fetchmail)', () => {
  let instance: Instance;
  let aliceMail: TestMessage[];
  let bobMail: TestMessage[];
  let carolMail: TestMessage[];
  let daveMail: TestMessage[];

  before(async () => {
    instance = await startInstance({ users });
    const apop = await instance.cli(['user', 'apop', BOB, '--secret-stdin'], { stdin: `${BOB_SECRET}\n` });
    assert.equal(apop.code, 0, `kakitome user apop: ${apop.stderr}`);
    aliceMail = await deliver(instance, ALICE, [
      testMessage(ALICE, { prefix: 'alice-plain' }),
      testMessage(ALICE, { prefix: 'alice-dots', body: DOT_BODY }),
      testMessage(ALICE, { prefix: 'alice-top', body: ['b1', 'b2', 'b3', 'b4'].join('\r\n') }),
    ]);
    bobMail = await deliver(instance, BOB, [testMessage(BOB, { prefix: 'bob-1' }), testMessage(BOB, { prefix: 'bob-dots', body: DOT_BODY })]);
    carolMail = await deliver(instance, CAROL, [testMessage(CAROL, { prefix: 'carol-1' }), testMessage(CAROL, { prefix: 'carol-2', body: DOT_BODY })]);
    daveMail = await deliver(instance, DAVE, [testMessage(DAVE, { prefix: 'dave-1' }), testMessage(DAVE, { prefix: 'dave-dots', body: DOT_BODY })]);
  });
  after(async () => {
    await instance?.close();
  });

  const trust = () => ({ cafile: instance.certPath });

  test('poplib over STLS (110): CAPA without USER before TLS, with USER after; USER/PASS; STAT, LIST, UIDL, RETR', async () => {
    const result = await pop3Fetch({ host: instance.host, port: instance.ports.pop3, security: 'stls', trust: trust(), user: ALICE, password: PASSWORD });
    assertMessages(result, aliceMail, 'poplib STLS');
    const before = result.capa!.map((c) => c.toUpperCase());
    const inside = result.capa_tls!.map((c) => c.toUpperCase());
    assert.ok(before.includes('STLS') && !before.includes('USER'), `CAPA before STLS: ${JSON.stringify(result.capa)}`);
    assert.ok(inside.includes('USER') && !inside.includes('STLS'), `CAPA after STLS: ${JSON.stringify(result.capa_tls)}`);
    for (const name of ['TOP', 'UIDL', 'RESP-CODES', 'PIPELINING']) assert.ok(inside.includes(name), `CAPA after STLS lacks ${name}`);
  });

  test('poplib over POP3S (995): USER/PASS; the same messages and UIDs as over STLS', async () => {
    const stls = await pop3Fetch({ host: instance.host, port: instance.ports.pop3, security: 'stls', trust: trust(), user: ALICE, password: PASSWORD, retrieve: false });
    const result = await pop3Fetch({ host: instance.host, port: instance.ports.pop3s, security: 'tls', trust: trust(), user: ALICE, password: PASSWORD });
    assertMessages(result, aliceMail, 'poplib POP3S');
    assert.deepEqual(result.uidl, stls.uidl, 'UIDL over 995 = UIDL over STLS');
    assert.ok(result.uidl!.every(([, uid]) => /^[\x21-\x7e]{1,70}$/.test(uid)), `UIDs: ${JSON.stringify(result.uidl)}`);
  });

  test('poplib APOP on plain 110 with the APOP secret', async () => {
    const result = await pop3Fetch({ host: instance.host, port: instance.ports.pop3, security: 'none', auth: 'apop', user: BOB, password: BOB_SECRET });
    assertMessages(result, bobMail, 'poplib APOP');
    assert.match(result.welcome!, new RegExp(`<[^<>\\s]+@${instance.hostname.replace(/\./g, '\\.')}>`), 'the greeting carries the APOP timestamp');
  });

  test('poplib refusals: USER in clear on 110 is refused before the password is sent; a wrong password over 995 gets -ERR [AUTH]; APOP with the login password fails', async () => {
    const clear = await pop3Fetch({ host: instance.host, port: instance.ports.pop3, security: 'none', user: ALICE, password: PASSWORD });
    assert.equal(clear.step, 'user', `plain USER must be refused at USER: ${JSON.stringify(clear)}`);
    assert.match(clear.error?.message ?? '', /^-ERR/, `plain USER: ${JSON.stringify(clear.error)}`);
    assert.ok(!clear.capa!.map((c) => c.toUpperCase()).includes('USER'), `CAPA in clear lists USER: ${JSON.stringify(clear.capa)}`);

    const wrong = await pop3Fetch({ host: instance.host, port: instance.ports.pop3s, trust: trust(), user: ALICE, password: 'wrong-password' });
    assert.equal(wrong.step, 'pass', `wrong password: ${JSON.stringify(wrong)}`);
    assert.match(wrong.error?.message ?? '', /^-ERR \[AUTH\]/, `wrong password: ${JSON.stringify(wrong.error)}`);

    const apop = await pop3Fetch({ host: instance.host, port: instance.ports.pop3, security: 'none', auth: 'apop', user: BOB, password: PASSWORD });
    assert.equal(apop.step, 'auth', `APOP with the login password: ${JSON.stringify(apop)}`);
    assert.match(apop.error?.message ?? '', /^-ERR \[AUTH\]/, `APOP with the login password: ${JSON.stringify(apop.error)}`);
  });

  test('poplib TOP, LIST n, UIDL n (header-first client) over POP3S agree with RETR', async () => {
    interface TopResult {
      capa?: Record<string, string[]>;
      stat?: [number, number];
      list?: [number, number][];
      uidl?: [number, string][];
      single?: Record<string, { list: string; uidl: string; top0: string; top: string }>;
      noop?: string;
      quit?: string;
      step?: string;
      error?: { type: string; message: string };
    }
    const result = await pythonJson<TopResult>('poplib_top.py', ['--host', instance.host, '--port', String(instance.ports.pop3s), '--security', 'tls', '--cafile', instance.certPath, '--user', ALICE, '--password', PASSWORD, '--lines', '2']);
    assert.equal(result.error, undefined, `poplib failed at ${result.step}: ${JSON.stringify(result.error)}`);
    for (const name of ['TOP', 'UIDL', 'USER', 'SASL']) assert.ok(Object.keys(result.capa!).map((c) => c.toUpperCase()).includes(name), `CAPA on 995 lacks ${name}: ${JSON.stringify(result.capa)}`);
    const full = await openMaildrop(instance, ALICE, PASSWORD);
    try {
      for (const [n, size] of result.list!) {
        const retrieved = await full.retr(n);
        const single = result.single![String(n)]!;
        assert.match(single.list, new RegExp(`^\\+OK ${n} ${size}(?: |$)`), `LIST ${n}`);
        const uid = result.uidl!.find(([m]) => m === n)![1];
        assert.match(single.uidl, new RegExp(`^\\+OK ${n} ${uid.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`), `UIDL ${n}`);
        assert.equal(single.top0, headerOf(retrieved), `TOP ${n} 0 = header + blank line`);
        const body = retrieved.slice(headerOf(retrieved).length).replace(/\r\n$/, '').split('\r\n');
        assert.equal(single.top, headerOf(retrieved) + body.slice(0, 2).map((l) => `${l}\r\n`).join(''), `TOP ${n} 2 = header + 2 body lines`);
      }
      full.assertOk(await full.quit(), 'QUIT');
    } finally {
      await full.end();
    }
    assert.match(result.noop ?? '', /^\+OK/, 'NOOP');
    assert.match(result.quit ?? '', /^\+OK/, 'QUIT');
  });

  test('curl pop3s:// (certificate and hostname verified): lists the maildrop and retrieves a dot-stuffed message exactly', async () => {
    const list = await curlPop3(instance, '', DAVE, PASSWORD);
    assert.equal(list.code, 0, `curl LIST failed: ${list.stderr}`);
    const rows = list.stdout.split('\r\n').filter(Boolean);
    assert.deepEqual(rows.map((row) => Number(row.split(' ')[0])), [1, 2], `curl LIST output: ${JSON.stringify(list.stdout)}`);
    for (const [i, m] of daveMail.entries()) {
      const retr = await curlPop3(instance, String(i + 1), DAVE, PASSWORD);
      assert.equal(retr.code, 0, `curl RETR ${i + 1} failed: ${retr.stderr}`);
      assert.match(retr.stdout, /^Authentication-Results: [^\r\n]*(?:\r\n[ \t][^\r\n]*)*\r\nReceived: /, `curl RETR ${i + 1} starts with kakitome's Authentication-Results: and Received: headers`);
      assert.ok(retr.stdout.endsWith(`${m.text}\r\n`), `curl RETR ${i + 1} is not what was sent:\n${retr.stdout}`);
      assert.equal(octets(retr.stdout), Number(rows[i]!.split(' ')[1]), `LIST size of message ${i + 1} = octets curl received`);
    }
    const wrong = await curlPop3(instance, '', DAVE, 'wrong-password');
    assert.notEqual(wrong.code, 0, 'curl with a wrong password must fail');
  });

  test('curl pop3:// with --ssl-reqd (STLS) and pop3s:// with -k by address', async () => {
    const stls = await curlPop3(instance, '1', DAVE, PASSWORD, { port: 'pop3', extra: ['--ssl-reqd'] });
    assert.equal(stls.code, 0, `curl over STLS failed: ${stls.stderr}`);
    assert.ok(stls.stdout.endsWith(`${daveMail[0]!.text}\r\n`), `curl over STLS retrieved:\n${stls.stdout}`);
    const insecure = await curl(['--silent', '--show-error', '-k', '--user', `${DAVE}:${PASSWORD}`, `pop3s://${instance.host}:${instance.ports.pop3s}/2`]);
    assert.equal(insecure.code, 0, `curl -k failed: ${insecure.stderr}`);
    assert.ok(insecure.stdout.endsWith(`${daveMail[1]!.text}\r\n`), `curl -k retrieved:\n${insecure.stdout}`);
  });

  test('fetchmail with APOP over plain POP3 (110), keeping the mail', async () => {
    const result = await fetchmail({ host: instance.host, port: instance.ports.pop3, security: 'none', auth: 'apop', user: BOB, password: BOB_SECRET });
    assert.equal(result.code, 0, `fetchmail exit ${result.code}\n${result.transcript}`);
    assertFetched(result.messages, bobMail, result.transcript, 'fetchmail APOP');
    assert.match(result.transcript, /APOP/, 'fetchmail used APOP');
    const left = await openMaildrop(instance, BOB, PASSWORD);
    try {
      assert.equal((await left.stat())[0], bobMail.length, 'keep: the messages are still there');
      left.assertOk(await left.quit(), 'QUIT');
    } finally {
      await left.end();
    }
  });

  test('fetchmail with SSL (POP3S, 995; certificate and name checked), not keeping: the maildrop is empty afterwards', async () => {
    const result = await fetchmail({ host: instance.host, port: instance.ports.pop3s, security: 'tls', cafile: instance.certPath, servername: instance.hostname, user: CAROL, password: PASSWORD, keep: false });
    assert.equal(result.code, 0, `fetchmail exit ${result.code}\n${result.transcript}`);
    assertFetched(result.messages, carolMail, result.transcript, 'fetchmail POP3S');
    const left = await openMaildrop(instance, CAROL, PASSWORD);
    try {
      assert.deepEqual(await left.stat(), [0, 0], 'nokeep: fetchmail deleted the messages (DELE + QUIT)');
      left.assertOk(await left.quit(), 'QUIT');
    } finally {
      await left.end();
    }
    const again = await fetchmail({ host: instance.host, port: instance.ports.pop3s, security: 'tls', cafile: instance.certPath, servername: instance.hostname, user: CAROL, password: PASSWORD });
    assert.equal(again.code, 1, `a second fetchmail finds no mail (exit 1)\n${again.transcript}`);
  });

  test('fetchmail with STLS required (110) and a password; a wrong password exits 3', async () => {
    const result = await fetchmail({ host: instance.host, port: instance.ports.pop3, security: 'stls', cafile: instance.certPath, servername: instance.hostname, user: ALICE, password: PASSWORD });
    assert.equal(result.code, 0, `fetchmail exit ${result.code}\n${result.transcript}`);
    assertFetched(result.messages, aliceMail, result.transcript, 'fetchmail STLS');
    const wrong = await fetchmail({ host: instance.host, port: instance.ports.pop3s, security: 'tls', cafile: instance.certPath, servername: instance.hostname, user: ALICE, password: 'wrong-password' });
    assert.equal(wrong.code, 3, `fetchmail with a wrong password: exit ${wrong.code} (3 = authentication failed)\n${wrong.transcript}`);
  });
});
