// The durability promise behind `250`: every delivery acknowledged before a SIGKILL is
// there, byte for byte, after the store is reopened; and no row is left without its file.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { countContents, createUser, deterministicMessage, makeTempDir, openStore, removeTempDir } from './helpers.ts';

const CHILD = join(import.meta.dirname, 'fixtures', 'deliver-until-killed.ts');
const KILL_AFTER_ACKS = 300;
const KILL_AFTER_MS = 20_000;

test('every delivery acknowledged before SIGKILL survives it', async (t) => {
  const dataDir = makeTempDir();
  after(() => removeTempDir(dataDir));
  const setup = openStore(dataDir);
  const mailbox = setup.messages.ensureInbox(createUser(setup.db, 'kill@example.test'));
  setup.db.close();

  const child = spawn(process.execPath, [CHILD, dataDir, String(mailbox), '100000', '64'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const acked = new Map<string, number>(); // uidl → message index
  let pending = '';
  let finishedEarly = false;
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  const timer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!; // a partial last line is not an acknowledgement yet
    for (const line of lines) {
      const [kind, index, uidl] = line.split(' ');
      if (kind === 'done') finishedEarly = true;
      if (kind === 'ack') acked.set(uidl!, Number(index));
    }
    if (acked.size >= KILL_AFTER_ACKS) child.kill('SIGKILL');
  });
  const signal = await exited;
  clearTimeout(timer);

  assert.equal(finishedEarly, false, 'the child must be killed mid-flight');
  assert.equal(signal, 'SIGKILL');
  assert.ok(acked.size > 0, 'the child acknowledged nothing before it was killed');

  const reopened = openStore(dataDir);
  try {
    const stored = (await reopened.messages.list(mailbox));
    const byUidl = new Map(stored.map((message) => [message.uidl, message]));
    for (const [uidl, index] of acked) {
      const message = byUidl.get(uidl);
      assert.ok(message, `acknowledged message ${index} (${uidl}) is missing`);
      const expected = deterministicMessage(index);
      assert.equal(message.size, expected.byteLength);
      assert.deepEqual(await reopened.messages.readContent(message.id), expected);
    }
    // Unacknowledged deliveries may or may not have landed, but every row has its file.
    for (const message of stored) await reopened.messages.readContent(message.id);
    const uids = stored.map((message) => message.uid);
    assert.equal(new Set(uids).size, uids.length);

    // Files of deliveries cut off before their commit are orphans, and collection removes exactly those.
    const orphans = await reopened.messages.collectOrphanBlobs({ minAgeMs: 0 });
    t.diagnostic(`${acked.size} acknowledged, ${stored.length} rows after the kill, ${orphans.length} orphan files`);
    assert.equal(await countContents(reopened), stored.length);
    const [next] = await reopened.messages.deliver(deterministicMessage(0), [mailbox]);
    assert.ok(next!.uid > Math.max(0, ...uids));
  } finally {
    reopened.db.close();
  }
});
