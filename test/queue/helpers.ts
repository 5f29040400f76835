// Shared setup for the outbound queue tests: a real store in a temp dir with a local
// user, a config, a logger that keeps its lines, and queue rows inserted the way the
// MTA and MSA insert them (a written message file, then commitDelivery).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { pino, type Logger } from 'pino';
import { configSchema, type Config } from '../../src/config/schema.ts';
import { openStore, type Store } from '../../src/store/store.ts';

export interface QueueFixture {
  dir: string;
  store: Store;
  /** alice@example.test, a local user (the sender of submitted mail). */
  aliceId: number;
  logs: Record<string, unknown>[];
  logger: Logger;
}

export async function queueFixture(t: TestContext): Promise<QueueFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'kakitome-queue-'));
  const store = openStore(dir);
  store.accounts.addDomain('example.test');
  const alice = store.accounts.addUser('alice@example.test', 'example.test', 'not-a-real-hash');
  store.messages.ensureInbox(alice.id);
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, store, aliceId: alice.id, logs, logger };
}

export function testConfig(outbound: Record<string, unknown> = {}): Config {
  return configSchema.parse({
    hostname: 'mail.example.test',
    outbound: { connect_timeout: '2s', retry_initial: '1s', retry_max: '4s', max_age: '1h', ...outbound },
  });
}

export const MESSAGE = Buffer.from(
  'From: Alice <alice@example.test>\r\nTo: bob@example.net\r\nSubject: outbound test\r\n' +
    'Message-ID: <t1@example.test>\r\n\r\nHello Bob.\r\n',
);

export interface Enqueue {
  queueId: string;
  mailFrom?: string;
  recipients: string[];
  origin?: 'mta' | 'msa';
  content?: Buffer;
  /** Local copies too (mailbox ids). */
  mailboxIds?: number[];
}

/** Queues a message as the MTA/MSA do; returns its file name. */
export async function enqueue(store: Store, message: Enqueue): Promise<string> {
  const name = store.messages.newMessageFile();
  const { size } = await store.blobs.write(message.content ?? MESSAGE, name);
  await store.messages.commitDelivery(
    name,
    size,
    message.mailboxIds ?? [],
    message.recipients.map((recipient) => ({
      queueId: message.queueId,
      mailFrom: message.mailFrom ?? 'alice@example.test',
      recipient,
      origin: message.origin ?? 'msa',
    })),
  );
  return name;
}

/** The messages in a user's INBOX, as text. */
export async function inbox(store: Store, userId: number): Promise<string[]> {
  const mailbox = store.messages.ensureInbox(userId);
  return Promise.all(store.messages.list(mailbox).map(async (m) => (await store.messages.readContent(m.id)).toString('utf8')));
}

export async function blobCount(store: Store): Promise<number> {
  let count = 0;
  for await (const _entry of store.blobs.entries()) count++;
  return count;
}

/** Polls until check() is true; fails after timeoutMs. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
