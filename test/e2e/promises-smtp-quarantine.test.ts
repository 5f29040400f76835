// X-Kakitome-Quarantine is this server's own mark (DMARC p=quarantine, "so it is filed
// as spam"): only kakitome may write it. README (Sender authentication): "any incoming
// X-Kakitome-Quarantine is removed first" on port 25; and the same on submission
// (587/465), where the client is a user's program, not this host.
//
// A message carries the field several times — as first and last field of the header,
// in another case of its name, folded over two lines — and the same text in its body.
// Retrieved over POP3, the copy has no such field left, every other field is there, and
// the body is untouched (only header fields are removed).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { suiteInstance } from '../harness/instance.ts';
import { subjectOf, waitForSubject } from './mailbox.ts';
import { PASSWORD, SmtpClient, tag, USER } from './smtp.ts';
import { headerSection, headerValues, loggedIn, type SubmissionPort } from './two-instances.ts';

const MARKS = [
  'X-Kakitome-Quarantine: DMARC policy of bank.example is quarantine (forged)',
  'x-kakitome-quarantine: lower case',
  'X-KAKITOME-QUARANTINE: folded\r\n\tover two lines',
];
const BODY = 'X-Kakitome-Quarantine: this line is in the body and stays\r\nbye';
const KEPT_FIELD = 'X-Mailer: quarantine-test 1.0';

/** A message from `from` to USER with a mark as its first and as its last header field, and more between. */
function markedMessage(from: string, subject: string): string {
  return [
    MARKS[0],
    `From: <${from}>`,
    `To: <${USER}>`,
    MARKS[1],
    `Subject: ${subject}`,
    `Message-ID: <${subject}@client.test>`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    KEPT_FIELD,
    MARKS[2],
    'X-Kakitome-Quarantine: the last field',
    '',
    BODY,
  ].join('\r\n');
}

describe('an incoming X-Kakitome-Quarantine is removed before delivery (seen over POP3)', () => {
  const instance = suiteInstance({ users: [{ address: USER, password: PASSWORD }] });

  /** USER's copy of `subject`, retrieved over POP3: asserts no mark in its header, the other fields and the body kept. */
  async function assertNoMark(subject: string): Promise<void> {
    const copy = (await waitForSubject(instance(), USER, subject)).find((m) => subjectOf(m) === subject)!;
    const header = headerSection(copy);
    assert.deepEqual(headerValues(copy, 'X-Kakitome-Quarantine'), [], `a forged mark was delivered:\n${header}`);
    assert.deepEqual(headerValues(copy, 'X-Mailer'), ['quarantine-test 1.0'], `the other fields are kept:\n${header}`);
    assert.ok(copy.content.endsWith(`\r\n\r\n${BODY}\r\n`), `the body is untouched:\n${copy.content}`);
  }

  test('port 25: every X-Kakitome-Quarantine field is removed, whatever its case or folding', async () => {
    const subject = tag('quarantine-25');
    const client = await SmtpClient.to(instance());
    try {
      await client.ehlo('client.remote.example');
      await client.mustDeliver('sender@remote.example', [USER], markedMessage('sender@remote.example', subject));
    } finally {
      await client.quit();
    }
    await assertNoMark(subject);
  });

  for (const port of ['submission', 'submissions'] as const satisfies readonly SubmissionPort[]) {
    test(`${port}: a user's message loses every X-Kakitome-Quarantine field too`, async () => {
      const subject = tag(`quarantine-${port}`);
      const client = await loggedIn(instance(), USER, PASSWORD, { port });
      try {
        client.assertReply(await client.deliver(USER, [USER], markedMessage(USER, subject)), '250 2.0.0', `submission on ${port}`);
      } finally {
        await client.quit();
      }
      await assertNoMark(subject);
    });
  }
});
