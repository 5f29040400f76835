// The intake pipeline over a real store: steps in order, each seeing what the ones
// before left; modify (fields, edits, per-recipient folder and flags); reject and
// tempfail stop it and store nothing; a step that throws or hangs tempfails (451).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Intake, type IntakeMessage } from '../../src/intake/intake.ts';
import type { Step } from '../../src/intake/step.ts';
import { MailDeliveryAgent } from '../../src/mda/deliver.ts';
import { openStore, type Store } from '../../src/store/store.ts';
import { storedContents } from '../store/deliver.ts';

async function fixture(t: import('node:test').TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'kakitome-intake-'));
  const store = openStore(join(dir, 'data'), { create: true });
  await store.accounts.addDomain('example.test', []);
  const alice = (await store.accounts.addUser('alice@example.test', 'example.test', 'x')).id;
  const bob = (await store.accounts.addUser('bob@example.test', 'example.test', 'x')).id;
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const intakeWith = (steps: Step[]) =>
    new Intake({
      steps: { mta: steps, msa: [], notice: [], 'release-mta': [], 'release-msa': [] },
      mda: new MailDeliveryAgent(store.deliveries),
      scratch: store.deliveries,
      hostname: 'mail.example.test',
      logger: pino({ level: 'silent' }),
    });
  return { dir, store, alice, bob, intakeWith };
}

const message = (recipients: IntakeMessage['recipients']): IntakeMessage => ({
  origin: 'mta',
  queueId: 'q1',
  mailFrom: 'sender@remote.test',
  envelopeRecipients: ['alice@example.test'],
  recipients,
  client: null,
  content: Buffer.from('Subject: hi\r\nX-Drop: me\r\n\r\nbody\r\n'),
});

async function mailbox(store: Store, userId: number, folder = 'INBOX') {
  const id = await store.mailboxes.findMailbox(userId, folder);
  if (id === undefined) return [];
  const messages = await store.mailboxes.listMessages(id);
  return Promise.all(messages.map(async (m) => ({ ...m, text: (await store.mailboxes.readMessage(m.id)).toString() })));
}

test('steps run in order, each on what the last left; the plan files per recipient', async (t) => {
  const f = await fixture(t);
  const seen: string[] = [];
  const intake = f.intakeWith([
    {
      name: 'first',
      timeoutMs: 1000,
      run: async (draft) => {
        seen.push((await draft.content.read()).toString());
        const header = (await draft.content.header()).toString();
        const start = header.indexOf('X-Drop');
        return { action: 'modify', prepend: 'X-First: 1\r\n', edits: [{ start, end: start + 'X-Drop: me\r\n'.length }], notes: { first: true } };
      },
    },
    {
      name: 'second',
      timeoutMs: 1000,
      run: async (draft) => {
        seen.push((await draft.content.read()).toString());
        assert.equal(draft.notes.first, true);
        assert.equal((await draft.original.read()).toString().includes('X-Drop'), true, 'the original stays as it came');
        return { action: 'modify', prepend: 'X-Second: 2\r\n', recipients: [{ userId: f.bob, folder: 'Junk', addFlags: ['\\Flagged'], addKeywords: ['junk'] }] };
      },
    },
  ]);
  const outcome = await intake.take(message({ userIds: [f.alice, f.bob, f.alice], remote: ['x@remote.test'] }));
  assert.equal(outcome.action, 'accept');
  assert.deepEqual(outcome.action === 'accept' && outcome.result, { mailboxes: 2, queued: 1, size: 46, quarantined: false });
  assert.deepEqual(seen, ['Subject: hi\r\nX-Drop: me\r\n\r\nbody\r\n', 'X-First: 1\r\nSubject: hi\r\n\r\nbody\r\n']);
  const [toAlice] = await mailbox(f.store, f.alice);
  assert.equal(toAlice!.text, 'X-Second: 2\r\nX-First: 1\r\nSubject: hi\r\n\r\nbody\r\n');
  assert.deepEqual(await mailbox(f.store, f.bob), [], "bob's copy was filed elsewhere");
  const [toBob] = await mailbox(f.store, f.bob, 'Junk');
  assert.equal(toBob!.text, toAlice!.text);
  assert.equal(toBob!.flags, 4);
  assert.deepEqual(toBob!.keywords, ['junk']);
  assert.deepEqual((await f.store.queue.list()).map((r) => [r.queueId, r.recipient, r.origin]), [['q1', 'x@remote.test', 'mta']]);
});

test('reject and tempfail stop the pipeline and store nothing', async (t) => {
  const f = await fixture(t);
  let laterRan = false;
  const later: Step = { name: 'later', timeoutMs: 1000, run: async () => ((laterRan = true), { action: 'accept' }) };
  for (const code of [550, 451]) {
    const intake = f.intakeWith([
      { name: 'refuser', timeoutMs: 1000, run: async () => ({ action: code >= 500 ? 'reject' : 'tempfail', reply: { code, enhanced: `${code / 100 | 0}.7.1`, text: 'no' } }) },
      later,
    ]);
    const outcome = await intake.take(message({ userIds: [f.alice], remote: [] }));
    assert.equal(outcome.action, code >= 500 ? 'reject' : 'tempfail');
    assert.ok(outcome.reply.code === code && outcome.step === 'refuser');
  }
  assert.equal(laterRan, false);
  assert.deepEqual(await mailbox(f.store, f.alice), []);
  assert.equal(storedContents(join(f.dir, 'data')).length, 0);
});

test('a step that throws or outlives its timeout tempfails the message with 451 4.3.0', async (t) => {
  const f = await fixture(t);
  const thrower = f.intakeWith([{ name: 'broken', timeoutMs: 1000, run: async () => { throw new Error('boom'); } }]);
  const thrown = await thrower.take(message({ userIds: [f.alice], remote: [] }));
  assert.ok(thrown.action === 'tempfail' && thrown.reply.code === 451 && thrown.reply.enhanced === '4.3.0' && thrown.step === 'broken');
  const hanger = f.intakeWith([{ name: 'slow', timeoutMs: 50, run: () => new Promise(() => {}) }]);
  const hung = await hanger.take(message({ userIds: [f.alice], remote: [] }));
  assert.ok(hung.action === 'tempfail' && hung.reply.code === 451 && /slow took too long/.test(hung.reply.text));
  assert.deepEqual(await mailbox(f.store, f.alice), []);
});

test('steps that remove something quarantine what the first of them saw, with every reason; a refusal after them quarantines nothing', async (t) => {
  const f = await fixture(t);
  const replaceBody = (name: string, reason: 'virus' | 'attachment'): Step => ({
    name,
    timeoutMs: 1000,
    run: async (draft) => {
      const text = (await draft.content.read()).toString();
      const start = text.indexOf('\r\n\r\n') + 4;
      return { action: 'modify', prepend: `X-${name}: 1\r\n`, edits: [{ start, end: text.length, insert: Buffer.from(`${name} was here\r\n`) }], quarantine: { reason, detail: `${name} found` } };
    },
  });
  const outcome = await f.intakeWith([replaceBody('first', 'virus'), replaceBody('second', 'attachment')]).take(message({ userIds: [f.alice], remote: [] }));
  assert.equal(outcome.action === 'accept' && outcome.result.quarantined, true);
  const [entry, ...more] = await f.store.quarantine.list();
  assert.equal(more.length, 0, 'one entry per message');
  assert.deepEqual([entry!.quarantineId, entry!.reason, entry!.detail, entry!.recipients], ['q1', 'virus', 'virus: first found; attachment: second found', { users: [f.alice], remote: [] }]);
  assert.equal((await f.store.quarantine.read(entry!)).toString(), 'Subject: hi\r\nX-Drop: me\r\n\r\nbody\r\n', 'the content the first step saw');
  assert.equal((await mailbox(f.store, f.alice))[0]!.text, 'X-second: 1\r\nX-first: 1\r\nSubject: hi\r\nX-Drop: me\r\n\r\nsecond was here\r\n');

  const refusing: Step = { name: 'no', timeoutMs: 1000, run: async () => ({ action: 'reject', reply: { code: 554, enhanced: '5.7.1', text: 'no' } }) };
  const refused = await f.intakeWith([replaceBody('first', 'virus'), refusing]).take({ ...message({ userIds: [f.alice], remote: [] }), queueId: 'q2' });
  assert.equal(refused.action, 'reject');
  assert.equal(await f.store.quarantine.get('q2'), undefined, 'refused in the session: nothing kept');
});
