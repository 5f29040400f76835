// The antivirus step seen from outside: a real clamd (test/harness/clamd.ts), mail sent
// by swaks and by the tests' SMTP client to port 25 and to submission, the mailbox read
// over POP3. SPEC: "Virus found: 554 5.7.1 naming the signature, in the session. An
// engine down: 451 4.7.1." Nothing infected is delivered; nothing is delivered unscanned.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EICAR, SIGNATURE, startClamd, TESTFILES_DIR, type Clamd } from '../harness/clamd.ts';
import { swaks } from '../harness/clients.ts';
import { startInstance, type Instance } from '../harness/instance.ts';
import { messagesOf, subjectOf, waitForSubject } from './mailbox.ts';
import { message, PASSWORD, SmtpClient, tag, USER } from './smtp.ts';
import { messageWith } from '../filter/antivirus/mime-samples.ts';
import { YARA_MARKER, YARA_RULE } from '../harness/yara.ts';

const SENDER = 'sender@remote.example';

describe('antivirus on port 25 and submission, real clamd', () => {
  let clamd: Clamd;
  let instance: Instance;
  before(async () => {
    clamd = await startClamd();
    instance = await startInstance({ users: [{ address: USER, password: PASSWORD }], clamdSocket: clamd.socket });
  });
  after(async () => {
    await instance?.close();
    await clamd?.dispose();
  });

  const subjects = async () => (await messagesOf(instance, USER)).map(subjectOf);

  test('port 25: clean mail is delivered; EICAR attached (swaks --attach) gets 554 5.7.1 naming clamd and the signature', async () => {
    const clean = tag('av-clean');
    const client = await SmtpClient.to(instance);
    try {
      await client.ehlo('client.remote.example');
      await client.mustDeliver(SENDER, [USER], message({ subject: clean }));
    } finally {
      await client.quit();
    }
    await waitForSubject(instance, USER, clean);

    const file = join(instance.dir, 'eicar.com');
    writeFileSync(file, EICAR);
    const infected = tag('av-eicar');
    const sent = await swaks([
      '--server', `${instance.host}:${instance.ports.smtp}`, '--helo', 'client.remote.example', '--timeout', '15',
      '--from', SENDER, '--to', USER, '--header', `Subject: ${infected}`, '--attach', `@${file}`,
    ]);
    assert.notEqual(sent.code, 0, 'swaks reports the refusal');
    assert.match(sent.transcript, new RegExp(`<\\*\\* 554 5\\.7\\.1 message refused: malware found by clamd \\(${SIGNATURE.eicar.replace(/\./g, '\\.')}\\)`), sent.transcript);
    assert.ok(!(await subjects()).includes(infected), 'the infected message is not in the mailbox');
    const logged = await instance.waitForLog((entry) => entry.msg === 'malware refused');
    assert.equal(logged.signature, SIGNATURE.eicar);
  });

  test('port 25: clam.exe from clamav-testfiles as zip, 7z, cab, tar.gz, pdf and OLE doc, base64 or forwarded, each refused in the session', async () => {
    const client = await SmtpClient.to(instance);
    try {
      await client.ehlo('client.remote.example');
      for (const name of ['clam.zip', 'clam.7z', 'clam.cab', 'clam.tar.gz', 'clam.pdf', 'clam.ole.doc']) {
        for (const wrapping of ['base64', 'forwarded'] as const) {
          const subject = tag('av-testfile');
          const sample = messageWith(readFileSync(join(TESTFILES_DIR, name)), name, wrapping, { from: SENDER, to: USER, subject });
          const reply = await client.deliver(SENDER, [USER], sample);
          assert.match(reply.last, /^554 5\.7\.1 message refused: malware found by clamd \(Kakitome\.Test\.ClamExe\.UNOFFICIAL\)/, `${name} ${wrapping}`);
        }
      }
    } finally {
      await client.quit();
    }
  });

  test('submission: a user\'s outgoing mail is scanned too (swaks --tls --auth, EICAR attached: 554 5.7.1)', async () => {
    const file = join(instance.dir, 'eicar-out.com');
    writeFileSync(file, EICAR);
    const sent = await swaks([
      '--server', `${instance.host}:${instance.ports.submission}`, '--helo', 'laptop.client.test', '--timeout', '15', '--tls',
      '--auth', 'PLAIN', '--auth-user', USER, '--auth-password', PASSWORD,
      '--from', USER, '--to', 'friend@elsewhere.example', '--header', `Subject: ${tag('av-out')}`, '--attach', `@${file}`,
    ]);
    assert.notEqual(sent.code, 0);
    assert.match(sent.transcript, /<~\* 554 5\.7\.1 message refused: malware found by clamd \(Kakitome\.Test\.EICAR\.UNOFFICIAL\)/, sent.transcript);
    const queue = await instance.cli(['queue', 'list']);
    assert.doesNotMatch(queue.stdout, /friend@elsewhere\.example/, 'nothing infected was queued');
  });

  test('clamd stopped: 451 4.7.1 and nothing delivered; clamd hung: 451 too; clamd back: the same message is delivered', async () => {
    const subject = tag('av-down');
    const content = message({ subject });
    await clamd.stop();
    try {
      const client = await SmtpClient.to(instance);
      try {
        await client.ehlo('client.remote.example');
        const reply = await client.deliver(SENDER, [USER], content);
        assert.match(reply.last, /^451 4\.7\.1 virus scanning unavailable, try again later/);
      } finally {
        await client.quit();
      }
      const logged = await instance.waitForLog((entry) => entry.msg === 'virus scan failed');
      assert.match(String(logged.reason), /cannot connect to clamd/);
      assert.ok(!(await subjects()).includes(subject), 'nothing was delivered unscanned');
    } finally {
      await clamd.start();
    }
    const retry = await SmtpClient.to(instance);
    try {
      await retry.ehlo('client.remote.example');
      await retry.mustDeliver(SENDER, [USER], content);
    } finally {
      await retry.quit();
    }
    await waitForSubject(instance, USER, subject);
  });

  test('a forged X-Kakitome-Virus field from the sender is removed', async () => {
    const subject = tag('av-forged');
    const client = await SmtpClient.to(instance);
    try {
      await client.ehlo('client.remote.example');
      await client.mustDeliver(SENDER, [USER], message({ subject, headers: ['X-Kakitome-Virus: clean, trust me'] }));
    } finally {
      await client.quit();
    }
    const copy = (await waitForSubject(instance, USER, subject)).find((m) => subjectOf(m) === subject)!;
    assert.doesNotMatch(copy.content.split('\r\n\r\n')[0]!, /X-Kakitome-Virus/i);
  });
});

describe('antivirus fail_open = true: delivered unscanned, marked, with a warning at start', () => {
  let clamd: Clamd;
  let instance: Instance;
  before(async () => {
    clamd = await startClamd();
    instance = await startInstance({
      users: [{ address: USER, password: PASSWORD }],
      clamdSocket: clamd.socket,
      editConfig: (toml) => toml.replace('fail_open = false', 'fail_open = true'),
    });
  });
  after(async () => {
    await instance?.close();
    await clamd?.dispose();
  });

  test('serve warns at start; with clamd down the message is delivered with X-Kakitome-Virus: not scanned', async () => {
    await instance.waitForLog((entry) => /fail_open is on/.test(String(entry.msg)));
    await clamd.stop();
    const subject = tag('av-open');
    const client = await SmtpClient.to(instance);
    try {
      await client.ehlo('client.remote.example');
      await client.mustDeliver(SENDER, [USER], message({ subject }));
    } finally {
      await client.quit();
    }
    const copy = (await waitForSubject(instance, USER, subject)).find((m) => subjectOf(m) === subject)!;
    assert.match(copy.content, /^X-Kakitome-Virus: not scanned \(clamd unavailable\)\r\n/m);
  });
});

describe('two engines from two vendors: clamd and yara, each catching what the other does not', () => {
  let clamd: Clamd;
  let instance: Instance;
  before(async () => {
    clamd = await startClamd();
    instance = await startInstance({
      users: [{ address: USER, password: PASSWORD }],
      clamdSocket: clamd.socket,
      editConfig: (toml) => `${toml.trimEnd()}\n\n[[antivirus.engine]]\ntype = "yara"\nrules = "yara-rules"\n`,
      beforeServe: (dir) => {
        mkdirSync(join(dir, 'yara-rules'));
        writeFileSync(join(dir, 'yara-rules', 'test.yar'), YARA_RULE);
      },
    });
  });
  after(async () => {
    await instance?.close();
    await clamd?.dispose();
  });

  test('serve names both engines at start; a file only yara flags and one only clamd flags are each refused by that engine', async () => {
    const ready = instance.logEntries().filter((entry) => entry.msg === 'antivirus engine ready').map((entry) => String(entry.engine)).sort();
    assert.deepEqual(ready, ['clamd', 'yara']);
    const client = await SmtpClient.to(instance);
    try {
      await client.ehlo('client.remote.example');
      const byYara = await client.deliver(SENDER, [USER], message({ subject: tag('av-yara'), body: `text ${YARA_MARKER} text` }));
      assert.match(byYara.last, /^554 5\.7\.1 message refused: malware found by yara \(Kakitome_Test_Marker\)/);
      const byClamd = await client.deliver(SENDER, [USER], messageWith(Buffer.from(EICAR), 'eicar.com', 'base64', { from: SENDER, to: USER, subject: tag('av-clamd') }));
      assert.match(byClamd.last, /^554 5\.7\.1 message refused: malware found by clamd \(Kakitome\.Test\.EICAR\.UNOFFICIAL\)/);
      const clean = tag('av-both-clean');
      await client.mustDeliver(SENDER, [USER], message({ subject: clean }));
      await waitForSubject(instance, USER, clean);
    } finally {
      await client.quit();
    }
  });

  test('rules that do not compile: serve does not start, and says why in one line', async () => {
    await instance.stop();
    writeFileSync(join(instance.dir, 'yara-rules', 'broken.yar'), 'rule Broken { condition: $nothing }');
    try {
      const serve = await instance.cli(['serve'], { timeoutMs: 30_000 });
      assert.equal(serve.code, 1);
      assert.match(serve.stderr, /^kakitome: the yara rules in \S+yara-rules do not compile: .+\n$/);
    } finally {
      rmSync(join(instance.dir, 'yara-rules', 'broken.yar'));
    }
  });
});
