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
import { type Db, openDatabase } from '../../src/store/sqlite/db.ts';
import { createIntake } from '../../src/app/intake.ts';
import type { Intake } from '../../src/intake/intake.ts';
import { storedContents } from '../store/deliver.ts';

export interface QueueFixture {
  dir: string;
  store: Store;
  /** The same database, for tests that set queue rows up by hand. */
  db: Db;
  /** alice@example.test, a local user (the sender of submitted mail). */
  aliceId: number;
  logs: Record<string, unknown>[];
  logger: Logger;
  /** The way notices come in (origin notice). */
  intake: Intake;
}

/** No DNS in these tests: the notice origin asks none. */
const noMailauthDns = async (): Promise<never> => {
  throw Object.assign(new Error('no DNS in this test'), { code: 'ESERVFAIL' });
};

export async function queueFixture(t: TestContext): Promise<QueueFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'kakitome-queue-'));
  const store = openStore(dir);
  const db = openDatabase(join(dir, 'kakitome.db'));
  await store.accounts.addDomain('example.test', []);
  const alice = await store.accounts.addUser('alice@example.test', 'example.test', 'not-a-real-hash');
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const intake = createIntake(testConfig(), store, noMailauthDns, logger);
  t.after(async () => {
    db.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, store, db, aliceId: alice.id, logs, logger, intake };
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
  /** Local copies too (users whose INBOX gets one). */
  localUserIds?: number[];
}

/** Queues a message as the MDA does (a written message file, then the commit); returns its file name. */
export async function enqueue(store: Pick<Store, 'deliveries'>, message: Enqueue): Promise<string> {
  const name = store.deliveries.newMessageFile();
  const { size } = await store.deliveries.writeMessageFile(name, message.content ?? MESSAGE);
  await store.deliveries.commitDelivery([
    {
      file: name,
      size,
      copies: (message.localUserIds ?? []).map((userId) => ({ userId, folder: 'INBOX', flags: [], keywords: [] })),
      queued: message.recipients.map((recipient) => ({
        queueId: message.queueId,
        mailFrom: message.mailFrom ?? 'alice@example.test',
        recipient,
        origin: message.origin ?? 'msa',
      })),
    },
  ]);
  return name;
}

/** The messages in a user's INBOX, as text. */
export async function inbox(store: Pick<Store, 'mailboxes'>, userId: number): Promise<string[]> {
  const mailbox = await store.mailboxes.findMailbox(userId);
  if (mailbox === undefined) return [];
  const messages = await store.mailboxes.listMessages(mailbox);
  return Promise.all(messages.map(async (m) => (await store.mailboxes.readMessage(m.id)).toString('utf8')));
}

/** Message contents in the data directory: files and contents in the database. */
export async function blobCount(dataDir: string): Promise<number> {
  return storedContents(dataDir).length;
}
/** Polls until check() is true; fails after timeoutMs. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
