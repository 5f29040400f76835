// `[antivirus] rescan_on_retrieval` seen from outside: real clamd and YARA-X engines, mail
// delivered while the rules do not know the payload, then new rules (serve restarted: the
// rule files' digest is the yara engine's version), and the mailbox read with Python's
// poplib and a raw POP3 session. SPEC: "scan again at POP3/IMAP retrieval when
// signatures changed"; the issue: "the client gets the notice instead, and the stored
// original moves to the quarantine".
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startClamd, type Clamd } from '../harness/clamd.ts';
import { pop3Fetch, type Pop3FetchResult } from '../harness/clients.ts';
import { startInstance, type Instance } from '../harness/instance.ts';
import { YARA_MARKER, YARA_RULE } from '../harness/yara.ts';
import { messageWith } from '../filter/antivirus/mime-samples.ts';
import { Pop3Client } from './pop3.ts';
import { message, PASSWORD, SmtpClient, tag, USER } from './smtp.ts';

const SENDER = 'sender@remote.example';
const NEVER_RULE = 'rule Kakitome_Test_Never { strings: $a = "kakitome: this string is in no test message" condition: $a }\n';

describe('rescan at retrieval: new signatures find what the old ones missed; the client gets a notice, the original goes to the quarantine', () => {
  let clamd: Clamd;
  let instance: Instance;
  let rules: string;
  before(async () => {
    clamd = await startClamd();
    instance = await startInstance({
      users: [{ address: USER, password: PASSWORD }],
      clamdSocket: clamd.socket,
      beforeServe: (dir) => {
        rules = join(dir, 'yara-rules');
        mkdirSync(rules);
        writeFileSync(join(rules, 'rules.yar'), NEVER_RULE);
      },
      editConfig: (toml) =>
        toml
          .replace('fail_open = false', 'fail_open = false\nrescan_on_retrieval = true')
          .replace('[[antivirus.engine]]', '[[antivirus.engine]]\ntimeout = "3s"')
          .concat('\n[[antivirus.engine]]\ntype = "yara"\nrules = "yara-rules"\n'),
    });
  });
  after(async () => {
    await instance?.close();
    await clamd?.dispose();
  });

  const fetch = async (): Promise<Pop3FetchResult> => {
    const result = await pop3Fetch({ host: instance.host, port: instance.ports.pop3s, user: USER, password: PASSWORD, trust: { cafile: instance.certPath } });
    assert.equal(result.error, undefined, JSON.stringify(result.error));
    return result;
  };
  const textWith = (result: Pop3FetchResult, subject: string) => result.messages!.find((m) => m.text.includes(`Subject: ${subject}`))?.text;

  const payloadSubject = tag('rescan-payload');
  const cleanSubject = tag('rescan-clean');

  test('delivered while no rule knows the payload; retrieved as stored while the rules are unchanged', async () => {
    const client = await SmtpClient.to(instance);
    try {
      await client.ehlo('client.remote.example');
      await client.mustDeliver(SENDER, [USER], messageWith(Buffer.from(`data ${YARA_MARKER} data`), 'report.bin', 'base64', { from: SENDER, to: USER, subject: payloadSubject }));
      await client.mustDeliver(SENDER, [USER], message({ subject: cleanSubject }));
    } finally {
      await client.quit();
    }
    const first = await fetch();
    assert.match(textWith(first, payloadSubject) ?? '', /report\.bin/, 'the original, attachment and all');
    assert.ok(!(textWith(first, payloadSubject) ?? '').includes('X-Kakitome-Virus'));
  });

  test('new rules, serve restarted: RETR of the message gets the notice (same UIDL, its size in LIST); the clean one is unchanged; the original is in the quarantine, once', async () => {
    const before = await fetch();
    writeFileSync(join(rules, 'rules.yar'), YARA_RULE);
    await instance.restart();

    const after = await fetch();
    const notice = textWith(after, payloadSubject);
    assert.ok(notice, 'the message is still there, under its subject');
    assert.match(notice, /^X-Kakitome-Virus: Kakitome_Test_Marker found by yara at retrieval; original quarantined as [0-9a-f]{16}\r$/m);
    assert.match(notice, new RegExp(`^Subject: ${payloadSubject}\r\nMessage-ID: <${payloadSubject}@client\\.test>\r$`, 'm'), 'the original\'s fields, so the client files it in its place');
    assert.match(notice, /found malware in it:\r\n {2}Kakitome_Test_Marker \(found by yara\)\r\n/);
    assert.ok(!notice.includes('report.bin'), 'nothing of the infected original is sent');
    assert.equal(textWith(after, cleanSubject), textWith(before, cleanSubject), 'the clean message is sent as stored');
    assert.deepEqual(after.uidl, before.uidl, 'the notice keeps the message\'s UIDL');

    const again = await fetch();
    const n = again.messages!.findIndex((m) => m.text.includes(`Subject: ${payloadSubject}`)) + 1;
    assert.equal(again.list!.find(([number]) => number === n)?.[1], Buffer.byteLength(textWith(again, payloadSubject)!), 'LIST gives the notice\'s size');

    const list = await instance.cli(['quarantine', 'list']);
    const rows = list.stdout.split('\n').filter((line) => line.includes('found at retrieval'));
    assert.equal(rows.length, 1, list.stdout);
    assert.match(rows[0]!, new RegExp(`^[0-9a-f]{16}\\s+virus\\s+<>\\s+${USER}\\s+`));
  });

  test('released by the administrator, the original is delivered again and a rescan leaves it alone', async () => {
    const id = /^([0-9a-f]{16})\s/.exec((await instance.cli(['quarantine', 'list'])).stdout.split('\n').find((line) => line.includes('found at retrieval'))!)![1]!;
    const release = await instance.cli(['quarantine', 'release', id]);
    assert.equal(release.code, 0, release.stderr);
    const result = await fetch();
    const originals = result.messages!.filter((m) => m.text.includes(`Subject: ${payloadSubject}`) && m.text.includes('report.bin'));
    assert.equal(originals.length, 1, 'the released original is retrieved as it arrived');
    assert.equal((await instance.cli(['quarantine', 'list'])).stdout.trim(), 'quarantine is empty', 'not quarantined again');
  });

  test('an engine not answering at retrieval: RETR and TOP get -ERR [SYS/TEMP], nothing is sent unscanned; answering again, the message is sent', async () => {
    // New rules again: every stored message is due for a rescan.
    writeFileSync(join(rules, 'rules.yar'), `${YARA_RULE}\n${NEVER_RULE}`);
    await instance.restart();
    clamd.pause();
    try {
      const pop = await Pop3Client.connect(instance);
      try {
        await pop.expectOk(`USER ${USER}`);
        await pop.expectOk(`PASS ${PASSWORD}`);
        // Each waits out the engine's 3 s timeout (its version, then its scan).
        for (const command of ['RETR 2', 'TOP 2 0']) {
          const reply = await pop.cmd(command, 20_000);
          assert.equal(reply.line, '-ERR [SYS/TEMP] virus scanning unavailable, try again later', command);
        }
      } finally {
        pop.send('QUIT');
      }
    } finally {
      clamd.resume();
    }
    const result = await fetch();
    assert.ok(textWith(result, cleanSubject), 'sent once the engines answer');
  });
});
