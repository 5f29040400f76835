// The quarantine seen from outside: `[antivirus] action = "replace"` and the attachment
// policy's strip with a real clamd, mail sent to port 25 and to submission, the mailbox
// read over POP3, and `kakitome quarantine list|show|release|delete` run as an
// administrator would while serve runs. SPEC: "replace (part replaced by a notice)";
// "`release` delivers it as it arrived".
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EICAR, SIGNATURE, startClamd, type Clamd } from '../harness/clamd.ts';
import { startInstance, type Instance } from '../harness/instance.ts';
import { messagesOf, subjectOf, waitForMessages } from './mailbox.ts';
import { message, PASSWORD, SmtpClient, tag, USER } from './smtp.ts';
import { messageWith } from '../filter/antivirus/mime-samples.ts';

const SENDER = 'sender@remote.example';
const EICAR_BASE64 = Buffer.from(EICAR).toString('base64').slice(0, 40);

describe('quarantine: antivirus replace and attachment strip keep the original; the CLI lists, shows, releases, deletes', () => {
  let clamd: Clamd;
  let instance: Instance;
  before(async () => {
    clamd = await startClamd();
    instance = await startInstance({
      users: [{ address: USER, password: PASSWORD }],
      clamdSocket: clamd.socket,
      editConfig: (toml) => {
        const line = 'action = "reject"';
        assert.ok(toml.includes(line), 'init writes [antivirus] action');
        return toml.replace(line, 'action = "replace"');
      },
    });
  });
  after(async () => {
    await instance?.close();
    await clamd?.dispose();
  });

  const withSubject = async (subject: string) => (await messagesOf(instance, USER)).filter((m) => subjectOf(m) === subject);
  const queueIdOf = (reply: { last: string }) => /queued as (\S+)/.exec(reply.last)?.[1] ?? assert.fail(`no queue id in ${reply.last}`);

  async function send(from: string, to: string, content: string): Promise<{ last: string }> {
    const client = await SmtpClient.to(instance);
    try {
      await client.ehlo('client.remote.example');
      return await client.deliver(from, [to], content);
    } finally {
      await client.quit();
    }
  }

  test('port 25, replace: the EICAR attachment becomes a notice naming file and signature; the rest is delivered; the original is quarantined; release delivers it as it arrived, once', async () => {
    const subject = tag('q-replace');
    const reply = await send(SENDER, USER, messageWith(Buffer.from(EICAR), 'eicar.com', 'base64', { from: SENDER, to: USER, subject }));
    assert.match(reply.last, /^250 /, 'accepted: the infected part is replaced, not refused');
    const id = queueIdOf(reply);

    const [delivered] = await waitForMessages(instance, USER, (ms) => ms.some((m) => subjectOf(m) === subject)).then(() => withSubject(subject));
    assert.ok(delivered);
    assert.ok(!delivered.content.includes(EICAR_BASE64), 'the infected part is gone');
    assert.match(delivered.content, /See the attachment\./, 'the clean part is delivered');
    assert.match(delivered.content, new RegExp(`"eicar\\.com": ${SIGNATURE.eicar.replace(/\./g, '\\.')} \\(found by clamd\\)`));
    assert.match(delivered.content, new RegExp(`keeps the original message in its quarantine\\r\\nas ${id}\\.`));
    assert.match(delivered.content, new RegExp(`^X-Kakitome-Virus: ${SIGNATURE.eicar.replace(/\./g, '\\.')} found by clamd in "eicar\\.com"; part replaced, original quarantined as ${id}\\r$`, 'm'));

    const list = await instance.cli(['quarantine', 'list']);
    assert.equal(list.code, 0, list.stderr);
    const row = list.stdout.split('\n').find((line) => line.startsWith(id));
    assert.ok(row, list.stdout);
    assert.match(row, new RegExp(`^${id}\\s+virus\\s+${SENDER}\\s+${USER}\\s+\\d+\\s+\\d{4}-\\d\\d-\\d\\dT\\S+\\s+virus: clamd: ${SIGNATURE.eicar.replace(/\./g, '\\.')} in "eicar\\.com"$`));

    const show = await instance.cli(['quarantine', 'show', id]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^reason: virus$/m);
    assert.match(show.stdout, /^recipients got: a copy with what was found replaced by a notice$/m);
    assert.match(show.stdout, /^expires: \d{4}-/m);
    assert.match(show.stdout, new RegExp(`^  Subject: ${subject}$`, 'm'));
    assert.match(show.stdout, /^  Received: from client\.remote\.example/m, 'kept with the trace field the intake added');

    const release = await instance.cli(['quarantine', 'release', id]);
    assert.equal(release.code, 0, release.stderr);
    assert.match(release.stdout, new RegExp(`^released ${id} as [0-9a-f]{16}: 1 mailbox\\(es\\)$`, 'm'));
    await waitForMessages(instance, USER, (ms) => ms.filter((m) => subjectOf(m) === subject).length === 2);
    const released = (await withSubject(subject)).find((m) => m.content.includes(EICAR_BASE64));
    assert.ok(released, 'the original, attachment and all, is in the mailbox');
    assert.ok(!/^X-Kakitome-Virus:/m.test(released.content), 'the original carries no mark of the replaced copy');

    const again = await instance.cli(['quarantine', 'release', id]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, new RegExp(`no quarantined message ${id}`));
    assert.ok(!(await instance.cli(['quarantine', 'list'])).stdout.includes(id), 'released: no longer listed');
  });

  test('replace cannot cut malware out of a message that is nothing else: a single-part message that is EICAR is still refused (554 5.7.1)', async () => {
    const headers = ['MIME-Version: 1.0', 'Content-Type: application/octet-stream; name="eicar.com"', 'Content-Transfer-Encoding: base64'];
    const reply = await send(SENDER, USER, message({ subject: tag('q-whole'), headers, body: Buffer.from(EICAR).toString('base64') }));
    assert.match(reply.last, new RegExp(`^554 5\\.7\\.1 message refused: malware found by clamd \\(${SIGNATURE.eicar.replace(/\./g, '\\.')}\\)`));
  });

  test('port 25, strip: a blocked .exe is replaced by a notice, the original quarantined (reason attachment); delete removes it for good', async () => {
    const subject = tag('q-strip');
    const reply = await send(SENDER, USER, messageWith(Buffer.from('MZ not really a program'), 'setup.exe', 'base64', { from: SENDER, to: USER, subject }));
    assert.match(reply.last, /^250 /);
    const id = queueIdOf(reply);
    await waitForMessages(instance, USER, (ms) => ms.some((m) => subjectOf(m) === subject));
    const [stripped] = await withSubject(subject);
    assert.match(stripped!.content, /^X-Kakitome-Removed-Attachment: setup\.exe\r$/m);
    assert.match(stripped!.content, new RegExp(`keeps the original message in its quarantine\\r\\nas ${id}\\.`));

    const show = await instance.cli(['quarantine', 'show', id]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^reason: attachment$/m);
    assert.match(show.stdout, /^found: attachment: "setup\.exe"$/m);

    const deleted = await instance.cli(['quarantine', 'delete', id]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout.trim(), `deleted ${id}`);
    const gone = await instance.cli(['quarantine', 'show', id]);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, new RegExp(`no quarantined message ${id}`));
    assert.equal((await withSubject(subject)).length, 1, 'deleting the original leaves the delivered copy alone');
  });

  test('submission, replace: a user\'s infected mail to a local user is delivered with the notice; released, it is DKIM-signed like any submitted mail', async () => {
    const subject = tag('q-msa');
    const client = await SmtpClient.connect(instance.host, instance.ports.submission);
    let reply;
    try {
      await client.ehlo('laptop.client.test');
      await client.startTls();
      await client.ehlo('laptop.client.test');
      await client.expectCmd(`AUTH PLAIN ${Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64')}`, /^235 /);
      reply = await client.deliver(USER, [USER], messageWith(Buffer.from(EICAR), 'eicar.com', 'base64', { from: USER, to: USER, subject }));
    } finally {
      await client.quit();
    }
    assert.match(reply.last, /^250 /);
    const id = queueIdOf(reply);
    await waitForMessages(instance, USER, (ms) => ms.some((m) => subjectOf(m) === subject));
    assert.match((await instance.cli(['quarantine', 'show', id])).stdout, /^origin: msa/m);
    const release = await instance.cli(['quarantine', 'release', id]);
    assert.equal(release.code, 0, release.stderr);
    await waitForMessages(instance, USER, (ms) => ms.filter((m) => subjectOf(m) === subject).length === 2);
    const released = (await withSubject(subject)).find((m) => m.content.includes(EICAR_BASE64));
    assert.ok(released);
    assert.match(released.content, /^DKIM-Signature: .*d=example\.test/m, 'signed at release, as submitted mail is');
  });

  test('the CLI: an unknown id is one clear line and a non-zero exit; an empty quarantine says so', async () => {
    for (const command of ['show', 'release', 'delete']) {
      const result = await instance.cli(['quarantine', command, 'no-such-id']);
      assert.notEqual(result.code, 0);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, /no quarantined message no-such-id/);
    }
    const list = await instance.cli(['quarantine', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stdout.trim(), 'quarantine is empty', 'every entry above was released or deleted');
  });
});
