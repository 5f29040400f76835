// The maildrop as a POP3 client sees it (RFC 1939 §5–6), with mail put in over port
// 25: STAT/LIST sizes that equal the octets RETR sends, dot-stuffing on the way out,
// TOP, UIDL stable across sessions and restarts, DELE/RSET and the UPDATE state (only
// QUIT deletes, durably; a dropped connection deletes nothing), the exclusive maildrop
// lock ([IN-USE]) and -ERR for message numbers that do not exist.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startInstance, type Instance } from '../harness/instance.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { deliver, headerOf, octets, openMaildrop, openMaildropEventually, plainResponse, Pop3Client, testMessage, type TestMessage } from './pop3.ts';

const PASSWORD = 'maildrop-test-password';
const READER = 'reader@example.test'; // read-only tests
const DELETER = 'deleter@example.test'; // DELE, RSET, QUIT
const DROPPER = 'dropper@example.test'; // connection dropped with messages marked
const LOCKER = 'locker@example.test'; // the maildrop lock
const OTHER = 'other@example.test';
const QUICK = 'quick@example.test'; // closes while the password is checked
const users = [READER, DELETER, DROPPER, LOCKER, OTHER, QUICK].map((address) => ({ address, password: PASSWORD }));

/** The message as RETR must return it: kakitome's Authentication-Results: and Received: headers, then the message as sent, then CRLF. */
function assertRetrieved(retrieved: string, sent: TestMessage, why: string): void {
  assert.match(retrieved, /^Authentication-Results: [^\r\n]*(?:\r\n[ \t][^\r\n]*)*\r\nReceived: /, `${why}: the retrieved message starts with kakitome's Authentication-Results: and Received: headers`);
  assert.ok(retrieved.endsWith(`${sent.text}\r\n`), `${why}: the retrieved message does not end with the message as sent.\n--- sent ---\n${sent.text.slice(0, 2000)}\n--- retrieved ---\n${retrieved.slice(0, 2500)}`);
  assert.doesNotMatch(retrieved.replace(/\r\n/g, ''), /[\r\n]/, `${why}: bare CR or LF in the retrieved message`);
}

const UID_FORMAT = /^[\x21-\x7e]{1,70}$/;

describe('POP3 maildrop (one instance, mail delivered over port 25)', () => {
  let instance: Instance;
  let readerMail: TestMessage[];

  before(async () => {
    instance = await startInstance({ users });
    const dotLines = ['.', '..', '.hidden line', 'middle', '...three', '. space after', '.', 'last line'].join('\r\n');
    const longLines: string[] = [];
    for (let i = 0; i < 1600; i++) longLines.push(`${i % 7 === 0 ? '.' : ''}line ${i} ${'0123456789abcdef'.repeat(4)}`);
    readerMail = await deliver(instance, READER, [
      testMessage(READER, { prefix: 'plain' }),
      testMessage(READER, { prefix: 'dots', body: dotLines }),
      testMessage(READER, { prefix: 'large', body: longLines.join('\r\n') }),
      testMessage(READER, { prefix: 'top', body: ['body 1', 'body 2', 'body 3', '.body 4', 'body 5'].join('\r\n'), headers: ['X-Folded: first part\r\n\tsecond part'] }),
    ]);
  });
  after(async () => {
    await instance?.close();
  });

  test('STAT, LIST and LIST n agree, and every size is the octet count of what RETR returns (CRLF, un-dot-stuffed); RETR returns the message exactly', async () => {
    const client = await openMaildrop(instance, READER, PASSWORD);
    try {
      const [count, total] = await client.stat();
      assert.equal(count, readerMail.length, 'STAT message count');
      const list = await client.list();
      assert.deepEqual(list.map(([n]) => n), readerMail.map((_, i) => i + 1), 'LIST numbers the messages 1…n');
      assert.equal(total, list.reduce((sum, [, size]) => sum + size, 0), 'STAT octets = sum of the LIST sizes');
      for (const [n, size] of list) {
        const single = await client.expectOk(`LIST ${n}`);
        assert.match(single.line, new RegExp(`^\\+OK ${n} ${size}(?: |$)`), `LIST ${n} agrees with LIST`);
        const retrieved = await client.retr(n);
        assert.equal(octets(retrieved), size, `message ${n}: LIST says ${size} octets, RETR returned ${octets(retrieved)}`);
        assertRetrieved(retrieved, readerMail[n - 1]!, `RETR ${n} (${readerMail[n - 1]!.subject})`);
      }
      client.assertOk(await client.quit(), 'QUIT');
    } finally {
      await client.end();
    }
  });

  test('RETR dot-stuffs lines that start with "." (RFC 1939 §3): on the wire they carry one more dot, and come back exact', async () => {
    const client = await openMaildrop(instance, READER, PASSWORD);
    try {
      client.send('RETR 2');
      client.assertOk(await client.reply(), 'RETR 2');
      const wire = await client.session.expect(/^(?:[^\r\n]*\r\n)*?\.\r\n/, 5000);
      assert.ok(wire.includes('\r\n\r\n..\r\n...\r\n..hidden line\r\nmiddle\r\n....three\r\n.. space after\r\n..\r\nlast line\r\n.\r\n'),
        `the dot lines are not stuffed on the wire as RFC 1939 §3 says:\n${JSON.stringify(wire.slice(-200))}`);
      const retrieved = await client.retr(2);
      assertRetrieved(retrieved, readerMail[1]!, 'RETR 2 (dot lines)');
      client.assertOk(await client.quit(), 'QUIT');
    } finally {
      await client.end();
    }
  });

  test('TOP n 0 returns the header and the blank line only; TOP n 2 adds the first two body lines; TOP beyond the body returns the whole message', async () => {
    const client = await openMaildrop(instance, READER, PASSWORD);
    try {
      const full = await client.retr(4);
      const header = headerOf(full);
      assert.match(header, /\r\nX-Folded: first part\r\n\tsecond part\r\n/, 'the folded header line is kept');
      assert.equal((await client.expectMultiOk('TOP 4 0')).body, header, 'TOP 4 0 = header + blank line');
      assert.equal((await client.expectMultiOk('TOP 4 2')).body, `${header}body 1\r\nbody 2\r\n`, 'TOP 4 2 = header + blank line + 2 body lines');
      assert.equal((await client.expectMultiOk('TOP 4 4')).body, `${header}body 1\r\nbody 2\r\nbody 3\r\n.body 4\r\n`, 'TOP 4 4, with a dot line un-stuffed');
      assert.equal((await client.expectMultiOk('TOP 4 100')).body, full, 'TOP 4 100 = the whole message');
      assert.equal((await client.expectMultiOk('TOP 2 0')).body, headerOf(await client.retr(2)), 'TOP 2 0');
      client.assertOk(await client.quit(), 'QUIT');
    } finally {
      await client.end();
    }
  });

  test('UIDL: 1–70 printable characters, unique, UIDL n agrees, stable across sessions and across a restart', async () => {
    const first = await openMaildrop(instance, READER, PASSWORD);
    let uids: [number, string][];
    try {
      uids = await first.uidl();
      assert.deepEqual(uids.map(([n]) => n), readerMail.map((_, i) => i + 1), 'UIDL numbers the messages 1…n');
      for (const [n, uid] of uids) {
        assert.match(uid, UID_FORMAT, `UID of message ${n} is not 1–70 characters 0x21–0x7E: ${JSON.stringify(uid)}`);
        const single = await first.expectOk(`UIDL ${n}`);
        assert.equal(single.line.replace(/^\+OK /, '').trim(), `${n} ${uid}`, `UIDL ${n} agrees with UIDL`);
      }
      assert.equal(new Set(uids.map(([, uid]) => uid)).size, uids.length, `UIDs repeat: ${JSON.stringify(uids)}`);
      first.assertOk(await first.quit(), 'QUIT');
    } finally {
      await first.end();
    }
    const second = await openMaildrop(instance, READER, PASSWORD);
    try {
      assert.deepEqual(await second.uidl(), uids, 'UIDL in a second session');
      second.assertOk(await second.quit(), 'QUIT');
    } finally {
      await second.end();
    }
    await instance.restart();
    const third = await openMaildrop(instance, READER, PASSWORD);
    try {
      assert.deepEqual(await third.uidl(), uids, 'UIDL after a restart of kakitome');
      const list = await third.list();
      assert.equal(list.length, readerMail.length, 'all messages still there after the restart');
      third.assertOk(await third.quit(), 'QUIT');
    } finally {
      await third.end();
    }
  });

  test('message numbers that do not exist, and bad arguments, get -ERR', async () => {
    const beyond = readerMail.length + 1;
    const commands = [
      'RETR 0', `RETR ${beyond}`, 'RETR 99999999999999999999', 'RETR -1', 'RETR x', 'RETR',
      `LIST ${beyond}`, 'LIST 0', `UIDL ${beyond}`, 'UIDL 0',
      `TOP ${beyond} 0`, 'TOP 1', 'TOP 1 -1', 'TOP 1 x',
      `DELE ${beyond}`, 'DELE 0', 'DELE',
    ];
    // A few per session: about 10 errors end a session.
    for (let start = 0; start < commands.length; start += 6) {
      const client = await openMaildrop(instance, READER, PASSWORD);
      try {
        for (const command of commands.slice(start, start + 6)) await client.expectErr(command, command);
        assert.equal((await client.stat())[0], readerMail.length, 'nothing marked by the refused commands');
        client.assertOk(await client.cmd('RSET'), 'RSET');
        client.assertOk(await client.quit(), 'QUIT');
      } finally {
        await client.end();
      }
    }
  });

  test('pipelined RETR 1, RETR 999, RETR 0, TOP 999 0: -ERR for the ones that do not exist; the session and the server go on (issue 10: these stopped serve)', async () => {
    const client = await openMaildrop(instance, READER, PASSWORD);
    try {
      // On 995 with USER/PASS as the tester did, then the read-ahead of a pipelined RETR
      // names messages that do not exist.
      client.sendRaw('RETR 1\r\nRETR 999\r\nRETR 0\r\nRETR 1\r\nTOP 999 0\r\nRETR 4294967296\r\nNOOP\r\n');
      assertRetrieved((await client.multiReply()).body!, readerMail[0]!, 'RETR 1');
      for (const what of ['RETR 999', 'RETR 0']) client.assertErr(await client.reply(), what);
      assertRetrieved((await client.multiReply()).body!, readerMail[0]!, 'RETR 1 again');
      for (const what of ['TOP 999 0', 'RETR 4294967296']) client.assertErr(await client.reply(), what);
      client.assertOk(await client.reply(), 'NOOP after the refused RETRs');
      client.assertOk(await client.quit(), 'QUIT');
    } finally {
      await client.end();
    }
    // Read-ahead of messages marked deleted, in the same pipelined way.
    const again = await openMaildrop(instance, READER, PASSWORD);
    try {
      again.sendRaw('DELE 2\r\nRETR 1\r\nRETR 2\r\nRETR 3\r\nRSET\r\nQUIT\r\n');
      again.assertOk(await again.reply(), 'DELE 2');
      assertRetrieved((await again.multiReply()).body!, readerMail[0]!, 'RETR 1');
      again.assertErr(await again.reply(), 'RETR 2 (marked deleted)');
      assertRetrieved((await again.multiReply()).body!, readerMail[2]!, 'RETR 3');
      again.assertOk(await again.reply(), 'RSET');
      again.assertOk(await again.reply(), 'QUIT');
    } finally {
      await again.end();
    }
    const later = await openMaildrop(instance, READER, PASSWORD);
    try {
      assert.equal((await later.stat())[0], readerMail.length, 'the server still serves, and nothing was deleted');
      later.assertOk(await later.quit(), 'QUIT');
    } finally {
      await later.end();
    }
  });

  test('pipelined in one write: STAT, LIST, UIDL, RETR 1, TOP 4 0, NOOP get their replies in order', async () => {
    const client = await openMaildrop(instance, READER, PASSWORD);
    try {
      const [count] = await client.stat();
      client.sendRaw('STAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 4 0\r\nNOOP\r\n');
      const stat = await client.reply();
      const list = await client.multiReply();
      const uidl = await client.multiReply();
      const retr = await client.multiReply();
      const top = await client.multiReply();
      const noop = await client.reply();
      for (const [reply, what] of [[stat, 'STAT'], [list, 'LIST'], [uidl, 'UIDL'], [retr, 'RETR 1'], [top, 'TOP 4 0'], [noop, 'NOOP']] as const) client.assertOk(reply, what);
      assert.match(stat.line, new RegExp(`^\\+OK ${count} \\d+`));
      assert.equal(list.lines!.length, count, 'LIST lines');
      assert.equal(uidl.lines!.length, count, 'UIDL lines');
      assertRetrieved(retr.body!, readerMail[0]!, 'pipelined RETR 1');
      assert.match(top.body!, /\r\n\r\n$/, 'pipelined TOP 4 0 ends with the blank line');
      assert.equal(client.session.pending(), '', 'nothing after the NOOP reply');
      client.assertOk(await client.quit(), 'QUIT');
    } finally {
      await client.end();
    }
  });

  test('DELE marks, RSET unmarks, only QUIT deletes — durably (a new session and a restart no longer see them); the others keep their UIDs', async () => {
    const sent = await deliver(instance, DELETER, [1, 2, 3, 4].map((i) => testMessage(DELETER, { prefix: `dele${i}` })));
    let uids: [number, string][];
    let sizes: [number, number][];
    let total: number;

    // Session 1: DELE, its effects inside the session, RSET, QUIT: nothing deleted.
    const one = await openMaildrop(instance, DELETER, PASSWORD);
    try {
      uids = await one.uidl();
      sizes = await one.list();
      total = (await one.stat())[1];
      one.assertOk(await one.cmd('DELE 1'), 'DELE 1');
      await one.expectErr('RETR 1', 'RETR of a message marked deleted');
      await one.expectErr('DELE 1', 'DELE of a message marked deleted');
      await one.expectErr('TOP 1 0', 'TOP of a message marked deleted');
      await one.expectErr('LIST 1', 'LIST 1 of a message marked deleted');
      await one.expectErr('UIDL 1', 'UIDL 1 of a message marked deleted');
      assert.deepEqual(await one.list(), sizes.slice(1), 'LIST omits the marked message; the others keep their numbers');
      assert.deepEqual(await one.uidl(), uids.slice(1), 'UIDL omits the marked message');
      assert.deepEqual(await one.stat(), [3, total - sizes[0]![1]], 'STAT excludes the marked message');
      assertRetrieved(await one.retr(2), sent[1]!, 'RETR 2 after DELE 1 (numbers are not reused)');
      one.assertOk(await one.cmd('RSET'), 'RSET');
      assert.deepEqual(await one.stat(), [4, total], 'STAT after RSET');
      assert.deepEqual(await one.list(), sizes, 'LIST after RSET');
      assertRetrieved(await one.retr(1), sent[0]!, 'RETR 1 after RSET');
      one.assertOk(await one.quit(), 'QUIT after RSET');
    } finally {
      await one.end();
    }

    // Session 2: DELE 1 and 3, QUIT: deleted.
    const two = await openMaildrop(instance, DELETER, PASSWORD);
    try {
      assert.deepEqual(await two.uidl(), uids, 'RSET + QUIT deleted nothing');
      two.assertOk(await two.cmd('DELE 1'), 'DELE 1');
      two.assertOk(await two.cmd('DELE 3'), 'DELE 3');
      two.assertOk(await two.quit(), 'QUIT deletes 1 and 3');
    } finally {
      await two.end();
    }
    const kept = [sent[1]!, sent[3]!];
    const keptUids = [uids[1]![1], uids[3]![1]];
    const check = async (when: string) => {
      const client = await openMaildrop(instance, DELETER, PASSWORD);
      try {
        assert.deepEqual(await client.stat(), [2, sizes[1]![1] + sizes[3]![1]], `STAT ${when}`);
        assert.deepEqual((await client.uidl()).map(([, uid]) => uid), keptUids, `UIDL ${when}: the kept messages, with their UIDs`);
        assert.deepEqual((await client.list()).map(([n]) => n), [1, 2], `LIST ${when} numbers 1…2`);
        for (let i = 0; i < kept.length; i++) assertRetrieved(await client.retr(i + 1), kept[i]!, `RETR ${i + 1} ${when}`);
        client.assertOk(await client.quit(), 'QUIT');
      } finally {
        await client.end();
      }
    };
    await check('in a new session after QUIT');
    await instance.restart();
    await check('after a restart');
  });

  test('a dropped connection (no QUIT) deletes nothing', async () => {
    await deliver(instance, DROPPER, [1, 2, 3].map((i) => testMessage(DROPPER, { prefix: `drop${i}` })));
    const first = await openMaildrop(instance, DROPPER, PASSWORD);
    const uids = await first.uidl();
    for (const [n] of uids) first.assertOk(await first.cmd(`DELE ${n}`), `DELE ${n}`);
    assert.equal((await first.stat())[0], 0, 'all marked');
    first.close(); // the socket is destroyed: no QUIT
    const second = await openMaildropEventually(instance, DROPPER, PASSWORD);
    try {
      assert.deepEqual(await second.uidl(), uids, 'every message is still there after the dropped session');
      second.assertOk(await second.quit(), 'QUIT');
    } finally {
      await second.end();
    }
  });

  test('a client that closes while its password is being checked leaves no lock behind: the next login works (issue 10: [IN-USE] until restart)', async () => {
    await deliver(instance, QUICK, [testMessage(QUICK, { prefix: 'quick-close' })]);
    const logins = [`USER ${QUICK}\r\nPASS ${PASSWORD}\r\n`, `AUTH PLAIN ${plainResponse(QUICK, PASSWORD)}\r\n`];
    for (const login of logins) {
      for (const waitMs of [0, 5, 30]) {
        const client = await Pop3Client.connect(instance);
        client.sendRaw(login);
        if (waitMs > 0) await sleep(waitMs);
        client.close(); // within the scrypt check of the password
      }
    }
    // A lock left behind answers [IN-USE] for good; one being released frees within the retries.
    const next = await openMaildropEventually(instance, QUICK, PASSWORD, 3000);
    try {
      assert.ok((await next.stat())[0] >= 1, 'the maildrop opens');
      next.assertOk(await next.quit(), 'QUIT');
    } finally {
      await next.end();
    }
  });

  test('the maildrop is locked: a second login to it gets -ERR [IN-USE] (other mailboxes are free); after the first QUITs, login works', async () => {
    await deliver(instance, LOCKER, [testMessage(LOCKER, { prefix: 'lock' })]);
    const first = await openMaildrop(instance, LOCKER, PASSWORD);
    try {
      for (const [port, how] of [['pop3s', 'USER/PASS'], ['pop3s', 'AUTH PLAIN'], ['pop3', 'STLS + USER/PASS']] as const) {
        const second = await Pop3Client.connect(instance, { port });
        try {
          if (port === 'pop3') await second.stls();
          const reply = how === 'AUTH PLAIN' ? await second.authPlain(LOCKER, PASSWORD) : await second.login(LOCKER, PASSWORD);
          second.assertErr(reply, `a second login (${how}) while the first session holds the maildrop`, 'IN-USE');
        } finally {
          await second.end();
        }
      }
      const other = await openMaildrop(instance, OTHER, PASSWORD);
      await other.stat();
      other.assertOk(await other.quit(), 'QUIT');
      assert.equal((await first.stat())[0], 1, 'the first session is unaffected');
      first.assertOk(await first.quit(), 'QUIT of the first session');
    } finally {
      await first.end();
    }
    const third = await openMaildrop(instance, LOCKER, PASSWORD);
    try {
      assert.equal((await third.stat())[0], 1, 'login after the first QUIT');
      third.assertOk(await third.quit(), 'QUIT');
    } finally {
      await third.end();
    }
  });
});
