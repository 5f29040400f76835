// The attachment policy seen from outside: mail with dangerous files sent by swaks and
// by the tests' SMTP client to port 25 (inbound: strip by default) and submission
// (outbound: reject by default), the mailbox read over POP3. SPEC: "Blocked attachment
// with reject: 554 5.7.1 naming the file; with strip the part is replaced by a text
// notice naming the file, and the message is delivered. An encrypted archive passes
// unchanged, marked in X-Kakitome-Encrypted-Attachment."
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { swaks } from '../harness/clients.ts';
import { startInstance, type Instance } from '../harness/instance.ts';
import { subjectOf, waitForSubject } from './mailbox.ts';
import { PASSWORD, SmtpClient, tag, USER } from './smtp.ts';
import { attachment, buildZip, deflatedZeros, entity, multipartBody, zipCli } from '../filter/attachments/fixtures.ts';
import { headerValues } from './two-instances.ts';

const SENDER = 'sender@remote.example';
const EXE = Buffer.from('MZ\x90\x00 pretend this is a program', 'latin1');

/** A message from SENDER to USER: a text part and the given parts. */
function mail(subject: string, parts: Buffer[]): string {
  return Buffer.concat([
    Buffer.from(`From: <${SENDER}>\r\nTo: <${USER}>\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@remote.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b0undary"\r\n\r\n`),
    multipartBody([{ headers: ['Content-Type: text/plain; charset=us-ascii'], body: `Text of ${subject}.` }, ...parts]),
  ]).toString('latin1');
}

describe('attachment policy, port 25 (strip) and submission (reject)', () => {
  let instance: Instance;
  before(async () => {
    instance = await startInstance({
      users: [{ address: USER, password: PASSWORD }],
      editConfig: (toml) => `${toml.trimEnd()}\n\n[attachments]\nextra_blocked_extensions = ["xyz"]\n`,
    });
  });
  after(async () => instance?.close());

  async function send(content: string): Promise<string> {
    const client = await SmtpClient.to(instance);
    try {
      await client.ehlo('client.remote.example');
      return (await client.deliver(SENDER, [USER], content)).last;
    } finally {
      await client.quit();
    }
  }
  const copyOf = async (subject: string) => (await waitForSubject(instance, USER, subject)).find((m) => subjectOf(m) === subject)!;

  test('port 25, swaks --attach invoice.pdf.exe: delivered, the file replaced by a notice naming it, the text part kept', async () => {
    const file = join(instance.dir, 'invoice.pdf.exe');
    writeFileSync(file, EXE);
    const subject = tag('att-strip');
    const sent = await swaks([
      '--server', `${instance.host}:${instance.ports.smtp}`, '--helo', 'client.remote.example', '--timeout', '15',
      '--from', SENDER, '--to', USER, '--header', `Subject: ${subject}`, '--body', 'the invoice is attached', '--attach', `@${file}`,
    ]);
    assert.equal(sent.code, 0, sent.transcript);
    const copy = await copyOf(subject);
    assert.deepEqual(headerValues(copy, 'X-Kakitome-Removed-Attachment'), ['invoice.pdf.exe']);
    assert.match(copy.content, /This mail server removed an attachment from this message:\r\n {2}"invoice\.pdf\.exe" \(\.exe files are not accepted\)/);
    assert.ok(copy.content.includes('the invoice is attached'), 'the text part is kept');
    assert.ok(!copy.content.includes(EXE.toString('base64').slice(0, 20)), 'the program is gone');
  });

  test('submission, swaks --attach evil.scr: 554 5.7.1 naming the file', async () => {
    const file = join(instance.dir, 'evil.scr');
    writeFileSync(file, EXE);
    const sent = await swaks([
      '--server', `${instance.host}:${instance.ports.submission}`, '--helo', 'laptop.client.test', '--timeout', '15', '--tls',
      '--auth', 'PLAIN', '--auth-user', USER, '--auth-password', PASSWORD,
      '--from', USER, '--to', 'friend@elsewhere.example', '--header', `Subject: ${tag('att-out')}`, '--attach', `@${file}`,
    ]);
    assert.notEqual(sent.code, 0);
    assert.match(sent.transcript, /<~\* 554 5\.7\.1 message refused: attachment "evil\.scr" is not accepted \(\.scr files\)/, sent.transcript);
  });

  test('a blocked file in a zip in a zip is stripped, naming the path; an RFC 2231 name and an extra extension too', async (t: TestContext) => {
    const inner = zipCli(t, { 'evil.exe': EXE });
    const outer = zipCli(t, { 'inner.zip': inner, 'readme.txt': 'fine' });
    const subject = tag('att-nested');
    const reply = await send(mail(subject, [
      entity(attachment('outer.zip', outer, { type: 'application/zip' })),
      entity(attachment('', EXE, { headers: ["Content-Type: application/octet-stream", "Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf%20%20.exe", 'Content-Transfer-Encoding: base64'] })),
      entity(attachment('data.XYZ', Buffer.from('custom'))),
    ]));
    assert.match(reply, /^250 /);
    const removed = headerValues(await copyOf(subject), 'X-Kakitome-Removed-Attachment').sort();
    assert.deepEqual(removed, ['data.XYZ', 'evil.exe" in "inner.zip" in "outer.zip', 'r?sum?.pdf  .exe']);
  });

  test('an encrypted zip holding an .exe passes unchanged, marked; a docx passes unmarked', async (t: TestContext) => {
    const secret = zipCli(t, { 'payload.exe': EXE }, ['-P', 'secret-password']);
    const docx = zipCli(t, { '[Content_Types].xml': '<Types/>', 'word/document.xml': '<w:document/>' });
    const subject = tag('att-encrypted');
    assert.match(await send(mail(subject, [entity(attachment('secret.zip', secret)), entity(attachment('report.docx', docx))])), /^250 /);
    const copy = await copyOf(subject);
    assert.deepEqual(headerValues(copy, 'X-Kakitome-Encrypted-Attachment'), ['secret.zip']);
    assert.deepEqual(headerValues(copy, 'X-Kakitome-Removed-Attachment'), []);
    assert.ok(copy.content.replace(/\r\n/g, '').includes(secret.toString('base64')), 'the encrypted zip is delivered as it was sent');
    assert.ok(copy.content.replace(/\r\n/g, '').includes(docx.toString('base64')), 'the docx is delivered as it was sent');
  });

  test('a zip bomb (1 GiB of zeros in 1 MB) is refused in the session, strip or not; so is a forged mark', async () => {
    const bomb = buildZip([{ name: 'zeros.bin', compressed: deflatedZeros(1024), declaredSize: 1024 * 1024 * 1024 }]);
    const reply = await send(mail(tag('att-bomb'), [entity(attachment('big.zip', bomb))]));
    assert.match(reply, /^554 5\.7\.1 message refused: attachment "(zeros\.bin" in ")?big\.zip" cannot be inspected \(archive bomb: \w[\w-]*\)/);
    const subject = tag('att-forged');
    const forged = mail(subject, []).replace('MIME-Version', 'X-Kakitome-Encrypted-Attachment: trust-me.zip\r\nMIME-Version');
    assert.match(await send(forged), /^250 /);
    assert.deepEqual(headerValues(await copyOf(subject), 'X-Kakitome-Encrypted-Attachment'), []);
  });
});
