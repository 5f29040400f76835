// Postmaster and abuse over real sockets (issue 10): RFC 5321 §4.5.1 and §4.1.1.3
// want RCPT TO:<Postmaster> (any case, no domain) and postmaster@ of every local
// domain accepted; RFC 2142 §2 adds abuse@. Instances are made only through the CLI:
// init and `domain add` create both, for the first user or the `--postmaster` address,
// and until that user exists RCPT gets 450 4.2.1 (the sender retries), never 550.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startInstance, type Instance } from '../harness/instance.ts';
import { messagesOf, subjectOf, waitForSubject } from './mailbox.ts';
import { message, SmtpClient, tag } from './smtp.ts';
import { PASSWORD, submit } from './two-instances.ts';

const ALICE = 'alice@example.test';
const OPS = 'ops@example.test';
const SENDER = 'sender@remote.example';

/** Delivers one message to `rcpt` over port 25; returns its subject once stored for `owner`. */
async function deliverTo(instance: Instance, rcpt: string, owner: string): Promise<string> {
  const subject = tag('pm');
  const client = await SmtpClient.to(instance);
  try {
    await client.ehlo();
    await client.mustDeliver(SENDER, [rcpt], message({ from: SENDER, to: rcpt, subject }));
  } finally {
    await client.quit();
  }
  await waitForSubject(instance, owner, subject);
  return subject;
}

/** The RCPT reply ("250 2.1.5", "450 4.2.1"…) for each path, in one transaction. */
async function rcptReplies(instance: Instance, paths: readonly string[]): Promise<string[]> {
  const client = await SmtpClient.to(instance);
  try {
    await client.ehlo();
    await client.expectCmd(`MAIL FROM:<${SENDER}>`, '250 2.1.0');
    const replies: string[] = [];
    for (const path of paths) {
      const reply = await client.cmd(`RCPT TO:<${path}>`);
      replies.push(`${reply.code} ${reply.enhanced}`);
    }
    return replies;
  } finally {
    await client.quit();
  }
}

describe('a fresh instance with one user (init, domain add, user add)', () => {
  test('RCPT TO:<Postmaster> in any case is 250 and lands in the first user\'s INBOX, on port 25 and on submission', async (t) => {
    const instance = await startInstance({ t, users: [{ address: ALICE, password: PASSWORD }] });
    assert.deepEqual(await rcptReplies(instance, ['Postmaster', 'postmaster', 'POSTMASTER']), ['250 2.1.5', '250 2.1.5', '250 2.1.5']);
    await deliverTo(instance, 'Postmaster', ALICE);
    await deliverTo(instance, 'abuse@example.test', ALICE);

    const submitted = tag('pm-msa');
    await submit(instance, ALICE, 'Postmaster', submitted);
    const inbox = await waitForSubject(instance, ALICE, submitted);
    assert.equal(inbox.filter((m) => subjectOf(m) === submitted).length, 1, 'one copy, through the postmaster alias');
  });

  test('postmaster@ and abuse@ of a domain added with `domain add`, before and after the first user', async (t) => {
    const instance = await startInstance({ t, domains: ['example.org'], users: [{ address: ALICE, password: PASSWORD }] });
    const later = await instance.cli(['domain', 'add', 'example.net']);
    assert.equal(later.code, 0, later.stderr);
    assert.match(later.stdout, /^postmaster@example\.net -> alice@example\.test$/m);
    for (const rcpt of ['postmaster@example.org', 'abuse@example.org', 'Postmaster@Example.NET', 'abuse@example.net']) {
      await deliverTo(instance, rcpt, ALICE);
    }
    assert.deepEqual(await rcptReplies(instance, ['nobody@example.org']), ['550 5.1.1'], 'other names stay unknown');
  });
});

test('no user yet: postmaster and abuse get 450 4.2.1 (retried), unknown names 550; the first user added receives them', async (t) => {
  const instance = await startInstance({ t });
  assert.deepEqual(
    await rcptReplies(instance, ['Postmaster', 'postmaster@example.test', 'abuse@example.test', 'nobody@example.test']),
    ['450 4.2.1', '450 4.2.1', '450 4.2.1', '550 5.1.1'],
  );
  const add = await instance.cli(['user', 'add', ALICE, '--password-stdin'], { stdin: `${PASSWORD}\n` });
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, /^postmaster@example\.test -> alice@example\.test$/m);
  await deliverTo(instance, 'Postmaster', ALICE);
  await deliverTo(instance, 'abuse@example.test', ALICE);
});

test('init --postmaster names the user before it exists; a hand-set alias is never overwritten', async (t) => {
  const instance = await startInstance({
    t,
    postmaster: OPS,
    users: [{ address: ALICE, password: PASSWORD }],
    aliases: { 'abuse@example.test': 'abuse-desk@remote.example' },
  });
  // alice is the first user, but postmaster@ waits for ops@, as the administrator said.
  assert.deepEqual(await rcptReplies(instance, ['Postmaster', 'abuse@example.test']), ['450 4.2.1', '250 2.1.5']);
  assert.equal((await instance.cli(['user', 'add', OPS, '--password-stdin'], { stdin: `${PASSWORD}\n` })).code, 0);
  await deliverTo(instance, 'Postmaster', OPS);
  assert.equal((await messagesOf(instance, ALICE)).length, 0, 'nothing for the first user');
  const aliases = await instance.cli(['alias', 'list']);
  assert.match(aliases.stdout, /^abuse@example\.test\s+abuse-desk@remote\.example$/m, 'the hand-set abuse@ alias is kept as it was');
  assert.match(aliases.stdout, /^postmaster@example\.test\s+ops@example\.test$/m);
});
