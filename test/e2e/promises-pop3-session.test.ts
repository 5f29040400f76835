// POP3 promises of the README that no other test checks: at most 30 commands before a
// successful login, then the connection is closed; a lockout ends after `[auth]
// lockout` (a right password is refused while it lasts and accepted after it); UIDLs
// are "26 random base32 characters, unique, and never change".
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startInstance, type Instance } from '../harness/instance.ts';
import { deliver, openMaildrop, Pop3Client, testMessage, type Pop3Reply } from './pop3.ts';
import { appendToml, message, SmtpClient } from './smtp.ts';

const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';
const CAROL = 'carol@example.test'; // UIDL test only
const DAVE = 'dave@example.test'; // UIDL test only
const PASSWORD = 'promises-pop3-password';
const users = [ALICE, BOB].map((address) => ({ address, password: PASSWORD }));

// One instance for the command-limit and UIDL tests (each client from its own address,
// the UIDL test with mailboxes of its own); the lockout tests have their own [auth].
let shared: Instance;
before(async () => {
  shared = await startInstance({ users: [...users, { address: CAROL, password: PASSWORD }, { address: DAVE, password: PASSWORD }] });
});
after(async () => {
  await shared?.close();
});

const TOO_MANY_COMMANDS = '-ERR [SYS/PERM] too many commands before login, closing connection';

describe('POP3: 30 commands before a successful login', () => {
  test('on 110 in clear: 30 CAPAs are answered, the 31st command gets -ERR [SYS/PERM] and the connection is closed', async () => {
    const client = await Pop3Client.connect(shared, { port: 'pop3', localAddress: '127.0.6.1' });
    try {
      for (let i = 1; i <= 30; i++) client.assertOk(await client.multi('CAPA'), `CAPA #${i}`);
      const refused = await client.cmd('CAPA');
      assert.equal(refused.line, TOO_MANY_COMMANDS, `the 31st command\n${client.dialogue()}`);
      assert.ok(await client.session.waitForClose(5000), `the connection is closed after the 31st command\n${client.dialogue()}`); // hang guard
    } finally {
      client.close();
    }
  });

  test('on 995: a 31st command that is a PASS is refused the same way, without a password check ([AUTH]) — the limit bounds guesses per connection', async () => {
    const client = await Pop3Client.connect(shared, { port: 'pop3s', localAddress: '127.0.6.2' });
    try {
      // Four guesses: 8 commands, 4 errors (10 errors would close the session on their own).
      for (let i = 1; i <= 4; i++) {
        client.assertOk(await client.cmd(`USER ${ALICE}`), `USER #${i}`);
        client.assertErr(await client.cmd(`PASS wrong-guess-${i}`), `PASS #${i}`, 'AUTH');
      }
      for (let i = 9; i <= 29; i++) client.assertOk(await client.multi('CAPA'), `command #${i}, CAPA`);
      client.assertOk(await client.cmd(`USER ${ALICE}`), 'command #30, USER');
      const pass = await client.cmd(`PASS ${PASSWORD}`);
      assert.equal(pass.line, TOO_MANY_COMMANDS, `command #31, PASS with the right password\n${client.dialogue()}`);
      assert.ok(await client.session.waitForClose(5000), `the connection is closed\n${client.dialogue()}`); // hang guard
    } finally {
      client.close();
    }
  });

  test('the limit is only before login: 28 CAPAs, USER and PASS log in (30 commands); then 60 more commands are all answered', async () => {
    const client = await Pop3Client.connect(shared, { localAddress: '127.0.6.3' });
    try {
      for (let i = 1; i <= 28; i++) client.assertOk(await client.multi('CAPA'), `CAPA #${i}`);
      await client.mustLogin(ALICE, PASSWORD);
      for (let i = 1; i <= 30; i++) {
        client.assertOk(await client.cmd('NOOP'), `NOOP #${i} after login`);
        await client.stat();
      }
      client.assertOk(await client.quit(), 'QUIT after 90 commands');
    } finally {
      await client.end();
    }
  });
});

/** One login attempt with the right password from `from`, on a fresh pop3s connection. */
async function rightLogin(instance: Instance, user: string, from: string): Promise<Pop3Reply> {
  const client = await Pop3Client.connect(instance, { localAddress: from });
  try {
    return await client.login(user, PASSWORD);
  } finally {
    await client.end();
  }
}

async function failLogin(instance: Instance, user: string, from: string, why: string): Promise<void> {
  const client = await Pop3Client.connect(instance, { localAddress: from });
  try {
    client.assertErr(await client.login(user, 'not-the-password'), why, 'AUTH');
  } finally {
    await client.end();
  }
}

/**
 * Tries the right password every 200 ms until a login is accepted, at most `attempts`
 * times (a hang guard: the lockout is seconds long); every refusal meanwhile must be
 * the lockout's. Returns how many attempts were refused first.
 */
async function loginOnceUnlocked(instance: Instance, user: string, from: string, attempts = 100): Promise<number> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    const reply = await rightLogin(instance, user, from);
    if (reply.ok) return attempt;
    assert.equal(reply.code, 'SYS/TEMP', `while locked out, the right password gets the lockout's reply: "${reply.line}"`);
    await sleep(200);
  }
  assert.fail(`${user} from ${from}: still refused after ${attempts} attempts; the lockout does not end`);
}

describe('POP3: a lockout ends after [auth] lockout', () => {
  // Long enough that the first check, right after the last failure, is inside it on a loaded machine.
  const LOCKOUT = '5s';

  test('per address (max_failures_per_ip = 2): the right password is refused with [SYS/TEMP] while locked, accepted after; counting starts over', async (t) => {
    const instance = await startInstance({ t, users, editConfig: appendToml(`[auth]\nmax_failures_per_ip = 2\nlockout = "${LOCKOUT}"`) });
    const guesser = '127.0.6.10';
    await failLogin(instance, ALICE, guesser, 'failure 1');
    await failLogin(instance, ALICE, guesser, 'failure 2');
    const locked = await rightLogin(instance, ALICE, guesser);
    assert.equal(locked.line, '-ERR [SYS/TEMP] too many failed logins, try again later', 'the right password while the address is locked out');
    assert.ok((await rightLogin(instance, ALICE, '127.0.6.11')).ok, 'another address is not locked out');

    await loginOnceUnlocked(instance, ALICE, guesser);
    // The lockout's window has passed: one new failure does not lock the address again.
    await failLogin(instance, ALICE, guesser, 'one failure after the lockout ended');
    assert.ok((await rightLogin(instance, ALICE, guesser)).ok, 'one failure after the lockout does not lock again (the count started over)');
  });

  test('per account (max_failures_per_account = 2, failures from two addresses): refused from a third address while locked, accepted after', async (t) => {
    const instance = await startInstance({ t, users, editConfig: appendToml(`[auth]\nmax_failures_per_account = 2\nlockout = "${LOCKOUT}"`) });
    await failLogin(instance, BOB, '127.0.6.20', 'failure 1 for bob');
    await failLogin(instance, BOB, '127.0.6.21', 'failure 2 for bob');
    const locked = await rightLogin(instance, BOB, '127.0.6.22');
    assert.equal(locked.line, '-ERR [SYS/TEMP] too many failed logins, try again later', 'bob with the right password while the account is locked');
    assert.ok((await rightLogin(instance, ALICE, '127.0.6.22')).ok, 'another account from the same address is not locked');
    await loginOnceUnlocked(instance, BOB, '127.0.6.22');
  });
});

// Documented: "UIDLs are 26 random base32 characters" (RFC 4648's alphabet, in one case).
const UIDL = /^(?:[a-z2-7]{26}|[A-Z2-7]{26})$/;
const UIDL_LINE = /^([1-9]\d*) (\S+)$/;

/** UIDL's scan lines, each checked against the documented format; [n, uid] pairs. */
async function documentedUidls(client: Pop3Client, why: string): Promise<[number, string][]> {
  const reply = await client.expectMultiOk('UIDL', why);
  return reply.lines.map((line) => {
    const match = UIDL_LINE.exec(line);
    assert.ok(match, `${why}: UIDL line is not "n uid": ${JSON.stringify(line)}`);
    assert.match(match[2]!, UIDL, `${why}: the UIDL of message ${match[1]} is not 26 base32 characters`);
    return [Number(match[1]), match[2]!];
  });
}

describe('POP3: UIDL as documented', () => {
  test('every UIDL is 26 base32 characters, UIDL n gives the same; unique across mailboxes (one message to two users too); random, not sequential; kept when others are deleted', async () => {
    const instance = shared;
    await deliver(instance, CAROL, [1, 2, 3, 4].map((i) => testMessage(CAROL, { prefix: `uidl-${i}` })));
    // One message to both: one stored file, a row in each mailbox.
    const smtp = await SmtpClient.to(instance);
    await smtp.ehlo('sender.remote.example');
    await smtp.mustDeliver('sender@remote.example', [CAROL, DAVE], message({ subject: 'to both', to: CAROL }));
    await smtp.quit();

    const carol = await openMaildrop(instance, CAROL, PASSWORD);
    let carolUids: [number, string][];
    try {
      carolUids = await documentedUidls(carol, 'carol');
      assert.deepEqual(carolUids.map(([n]) => n), [1, 2, 3, 4, 5], 'carol has five messages');
      for (const [n, uid] of carolUids) {
        const single = await carol.expectOk(`UIDL ${n}`);
        assert.equal(single.line, `+OK ${n} ${uid}`, `UIDL ${n}`);
      }
      carol.assertOk(await carol.cmd('DELE 2'), 'DELE 2');
      carol.assertOk(await carol.quit(), 'QUIT');
    } finally {
      await carol.end();
    }
    const dave = await openMaildrop(instance, DAVE, PASSWORD);
    let daveUids: [number, string][];
    try {
      daveUids = await documentedUidls(dave, 'dave');
      assert.equal(daveUids.length, 1, 'dave has the message sent to both');
    } finally {
      await dave.end();
    }
    const all = [...carolUids, ...daveUids].map(([, uid]) => uid.toLowerCase());
    assert.equal(new Set(all).size, all.length, `UIDLs repeat: ${all.join(' ')}`);
    // Random ids share no long prefix (a counter or a timestamp would); for 128 random bits
    // two of these six sharing 6 characters has a chance of about 1 in 10^8.
    const prefixes = all.map((uid) => uid.slice(0, 6));
    assert.equal(new Set(prefixes).size, all.length, `UIDLs look sequential (shared prefixes): ${all.join(' ')}`);

    const later = await openMaildrop(instance, CAROL, PASSWORD);
    try {
      const kept = await documentedUidls(later, 'carol after DELE 2 and QUIT');
      assert.deepEqual(kept.map(([, uid]) => uid), carolUids.filter(([n]) => n !== 2).map(([, uid]) => uid), 'the other messages keep their UIDLs; only their numbers change');
    } finally {
      await later.end();
    }
  });
});
