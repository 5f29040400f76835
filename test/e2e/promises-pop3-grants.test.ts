// POP-before-SMTP (README, The MSA): "a successful POP3 login authorises its client
// address on the submission listeners for ttl …, for that user's own addresses only …
// A later login from the same address replaces the grant." So after bob logs in from
// the address alice logged in from, that address may send as bob and no longer as
// alice; a failed login replaces nothing; other addresses keep their own grants.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startInstance, type Instance } from '../harness/instance.ts';
import { openMaildrop, Pop3Client } from './pop3.ts';
import { SmtpClient, tag } from './smtp.ts';
import { setToml, submissionClient, submissionMessage } from './two-instances.ts';
import { waitForSubject } from './mailbox.ts';

const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';
const CAROL = 'carol@example.test'; // receives what is submitted
const PASSWORD = 'correct horse battery staple';

/** A POP3S login as `user` from `from`, then QUIT: the grant is recorded before the +OK of the login. */
async function popLogin(instance: Instance, user: string, from: string): Promise<void> {
  const client = await openMaildrop(instance, user, PASSWORD, { localAddress: from });
  client.assertOk(await client.quit(), 'QUIT');
}

/** A submission session on 587 from `from` (STARTTLS, no AUTH). */
async function unauthenticated(instance: Instance, from: string): Promise<SmtpClient> {
  return (await submissionClient(instance, { localAddress: from })).client;
}

/** Under the grant of `from`: MAIL FROM each address in `refused` gets 553 5.7.1, and a message from `sender` is accepted and delivered. */
async function assertGrantIsFor(instance: Instance, from: string, sender: string, refused: readonly string[]): Promise<void> {
  const client = await unauthenticated(instance, from);
  try {
    for (const other of refused) {
      await client.expectCmd(`MAIL FROM:<${other}>`, '553 5.7.1', `MAIL FROM ${other} from ${from}, whose grant is ${sender}'s`);
    }
    const subject = tag('pbs');
    const reply = await client.deliver(sender, [CAROL], submissionMessage({ from: sender, to: CAROL, subject }));
    client.assertReply(reply, '250 2.0.0', `a message from ${sender} without AUTH from ${from}`);
    await waitForSubject(instance, CAROL, subject);
  } finally {
    await client.quit();
  }
}

describe('POP-before-SMTP: a later login from the same address replaces the grant', () => {
  let instance: Instance;
  before(async () => {
    instance = await startInstance({
      users: [ALICE, BOB, CAROL].map((address) => ({ address, password: PASSWORD })),
      // A ttl far longer than the test: this is about whose grant it is, not when it ends.
      editConfig: (toml) => setToml(toml, { 'pop_before_smtp.enabled': true, 'pop_before_smtp.ttl': '30m' }),
    });
  });
  after(async () => {
    await instance?.close();
  });

  test('alice, then bob from the same address: the address now sends as bob, no longer as alice; a failed login in between changes nothing; another address keeps its grant', async () => {
    const X = '127.0.10.1';
    const Y = '127.0.10.2';
    await popLogin(instance, ALICE, X);
    await popLogin(instance, ALICE, Y);
    await assertGrantIsFor(instance, X, ALICE, [BOB]);

    // A failed login from X is no login: alice's grant stays.
    const failed = await Pop3Client.connect(instance, { localAddress: X });
    try {
      failed.assertErr(await failed.login(BOB, 'not-the-password'), 'bob with a wrong password from X', 'AUTH');
    } finally {
      await failed.end();
    }
    await assertGrantIsFor(instance, X, ALICE, [BOB]);

    const since = instance.logs().length;
    await popLogin(instance, BOB, X);
    await assertGrantIsFor(instance, X, BOB, [ALICE]);
    const uses = instance.logEntries().filter((entry) => entry.msg === 'POP-before-SMTP used' && entry.remote === X);
    assert.equal(uses.at(-1)?.user, BOB, `the last "POP-before-SMTP used" log line for ${X} names bob:\n${instance.logs().slice(since).join('\n')}`);

    // The replacement is per address: Y still has alice's grant.
    await assertGrantIsFor(instance, Y, ALICE, [BOB]);
  });
});
