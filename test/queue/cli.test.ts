// `kakitome queue list|show|retry|cancel` through the real command line, with queue
// rows inserted into the instance's store the way the MTA/MSA insert them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runKakitome, type CliResult } from '../harness/instance.ts';
import { makeTempDir, removeDir } from '../harness/processes.ts';
import { openStore, type Store } from '../../src/store/store.ts';
import { openDatabase } from '../../src/store/sqlite/db.ts';
import { storedContents } from '../store/deliver.ts';
import { enqueue, inbox } from './helpers.ts';

let dir: string;
let config: string;
const kakitome = (args: string[]): Promise<CliResult> => runKakitome([...args, '--config', config]);

async function withInstanceStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const store = openStore(join(dir, 'data'));
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

function assertOneLineError(r: CliResult, expected: string): void {
  assert.notEqual(r.code, 0, r.stdout);
  assert.equal(r.stderr, `kakitome: ${expected}\n`);
}

before(async () => {
  dir = join(await makeTempDir('kakitome-queue-cli'), 'inst');
  const init = await runKakitome(['init', '--dir', dir, '--domain', 'example.test']);
  assert.equal(init.code, 0, init.stderr);
  config = join(dir, 'kakitome.toml');
  const user = await runKakitome(['user', 'add', 'alice@example.test', '--password-stdin', '--config', config], { stdin: 'a long passphrase\n' });
  assert.equal(user.code, 0, user.stderr);
});
after(() => removeDir(join(dir, '..')));

test('queue list, show, retry and cancel', async () => {
  assert.equal((await kakitome(['queue', 'list'])).stdout, 'queue is empty\n');

  const hold = Date.now() + 3_600_000;
  await withInstanceStore(async (store) => {
    await enqueue(store, { queueId: 'aaaa000000000001', recipients: ['bob@example.net', 'carol@example.net'] });
    await enqueue(store, { queueId: 'aaaa000000000002', origin: 'mta', mailFrom: 'x@example.org', recipients: ['dave@example.net'] });
    // The first is held (the MSA's hold window); the second failed twice already.
    const db = openDatabase(join(dir, 'data', 'kakitome.db'));
    db.prepare('UPDATE queue SET next_attempt_at = ? WHERE queue_id = ?').run(hold, 'aaaa000000000001');
    db
      .prepare("UPDATE queue SET attempts = 2, last_error = 'mx.example.net[192.0.2.1]:25: 451 4.7.1 later', next_attempt_at = ? WHERE queue_id = ?")
      .run(hold + 60_000, 'aaaa000000000002');
    db.close();
  });

  const list = await kakitome(['queue', 'list']);
  assert.equal(list.code, 0, list.stderr);
  const lines = list.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^ID\s+SENDER\s+RECIPIENTS\s+SIZE\s+STATE\s+ATTEMPTS\s+LAST ERROR$/);
  assert.match(lines[1]!, new RegExp(`^aaaa000000000001\\s+alice@example\\.test\\s+bob@example\\.net,carol@example\\.net\\s+\\d+\\s+held until ${new Date(hold).toISOString()}\\s+0\\s+-$`));
  assert.match(lines[2]!, new RegExp(`^aaaa000000000002\\s+x@example\\.org\\s+dave@example\\.net\\s+\\d+\\s+next attempt ${new Date(hold + 60_000).toISOString()}\\s+2\\s+mx\\.example\\.net\\[192\\.0\\.2\\.1\\]:25: 451 4\\.7\\.1 later$`));

  const show = await kakitome(['queue', 'show', 'aaaa000000000001']);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /^id: aaaa000000000001$/m);
  assert.match(show.stdout, /^sender: alice@example\.test$/m);
  assert.match(show.stdout, /^origin: msa/m);
  assert.match(show.stdout, /^ {2}bob@example\.net\s+held until .*attempts 0\s+-$/m);
  assert.match(show.stdout, /^ {2}carol@example\.net/m);
  assert.match(show.stdout, /^header:\n {2}From: Alice <alice@example\.test>$/m);
  assert.match(show.stdout, /^ {2}Subject: outbound test$/m);
  assert.doesNotMatch(show.stdout, /Hello Bob/);

  assertOneLineError(await kakitome(['queue', 'show', 'nope']), 'no queued message nope');
  assertOneLineError(await kakitome(['queue', 'retry', 'nope']), 'no queued message nope');
  assertOneLineError(await kakitome(['queue', 'cancel', 'nope']), 'no queued message nope');

  const retry = await kakitome(['queue', 'retry', 'aaaa000000000001']);
  assert.equal(retry.stdout, 'aaaa000000000001: 2 recipient(s) due now\n');
  const retryAll = await kakitome(['queue', 'retry']);
  assert.equal(retryAll.stdout, '3 recipient(s) due now\n');
  await withInstanceStore(async (store) => {
    for (const row of await store.queue.list()) assert.ok(row.nextAttemptAt <= Date.now());
  });

  const cancel = await kakitome(['queue', 'cancel', 'aaaa000000000001']);
  assert.equal(cancel.code, 0, cancel.stderr);
  assert.equal(
    cancel.stdout,
    'cancelled aaaa000000000001: removed 2 recipient(s): bob@example.net, carol@example.net\nnotice sent to alice@example.test\n',
  );
  const relayed = await kakitome(['queue', 'cancel', 'aaaa000000000002']);
  assert.match(relayed.stdout, /\nno notice sent: relayed mail \(origin mta\): no bounce\n$/);
  assert.equal((await kakitome(['queue', 'list'])).stdout, 'queue is empty\n');

  await withInstanceStore(async (store) => {
    const alice = (await store.accounts.getUser('alice@example.test'))!;
    const [notice, ...more] = await inbox(store, alice.id);
    assert.equal(more.length, 0);
    assert.match(notice!, /\r\nSubject: Undelivered Mail: cancelled by the administrator\r\n/);
    assert.match(notice!, /Final-Recipient: rfc822; bob@example\.net\r\nAction: failed\r\nStatus: 5\.0\.0\r\n/);
    assert.match(notice!, /Final-Recipient: rfc822; carol@example\.net\r\n/);
    assert.match(notice!, /Subject: outbound test/);
    // Only the notice's file is left.
    assert.equal(storedContents(join(dir, 'data')).length, 1);
  });
});
