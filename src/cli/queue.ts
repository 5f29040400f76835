// `kakitome queue list|show|retry|cancel`: the outbound queue, seen and steered from
// the command line while `serve` runs (it reads the table afresh every second).
import type { Command } from 'commander';
import type { QueueRow, QueueStore } from '../store/queue.ts';
import { notifySender, readHeader } from '../queue/bounce.ts';
import { createIntake } from '../app/intake.ts';
import { createResolver } from '../dns/resolver.ts';
import { mailauthResolver } from '../policy/spf/resolver.ts';
import { createLogger } from '../server/log.ts';
import { withStore } from './context.ts';
import { CliError } from './errors.ts';
import { iso, print, printable, printHeader, printTable } from './io.ts';

interface QueuedMessage {
  queueId: string;
  rows: QueueRow[];
}

export function registerQueueCommands(program: Command): void {
  const queue = program.command('queue').description('the outbound queue: list, show, retry, cancel');

  queue
    .command('list')
    .description('one line per queued message: id, sender, recipients, size, state, attempts, last error')
    .action((_opts, cmd: Command) =>
      withStore(cmd, async ({ store }) => {
        const messages = groupByMessage(await store.queue.list());
        if (messages.length === 0) {
          print('queue is empty');
          return;
        }
        const now = Date.now();
        printTable([
          ['ID', 'SENDER', 'RECIPIENTS', 'SIZE', 'STATE', 'ATTEMPTS', 'LAST ERROR'],
          ...messages.map(({ queueId, rows }) => [
            queueId,
            sender(rows[0]!),
            rows.map((row) => row.recipient).join(','),
            String(rows[0]!.size),
            state(rows, now),
            String(Math.max(...rows.map((row) => row.attempts))),
            lastError(rows),
          ]),
        ]);
      }),
    );

  queue
    .command('show <id>')
    .description("a queued message's recipients with their state, and the message header")
    .action((id: string, _opts, cmd: Command) =>
      withStore(cmd, async ({ store }) => {
        const rows = await rowsOf(store.queue, id);
        const first = rows[0]!;
        const now = Date.now();
        print(`id: ${first.queueId}`);
        print(`sender: ${sender(first)}`);
        print(`origin: ${first.origin === 'msa' ? 'msa (submitted by a local user)' : 'mta (relayed or forwarded)'}`);
        print(`size: ${first.size}`);
        print(`queued: ${iso(first.createdAt)}`);
        print('recipients:');
        printTable(
          rows.map((row) => [
            `  ${row.recipient}`,
            state([row], now),
            `attempts ${row.attempts}`,
            row.lastError === null ? '-' : `last error: ${row.lastError}`,
          ]),
        );
        print('header:');
        printHeader(await readHeader(store.queue, first.blob));
      }),
    );

  queue
    .command('retry [id]')
    .description('make a queued message (or every message) due for delivery now, held ones included')
    .action((id: string | undefined, _opts, cmd: Command) =>
      withStore(cmd, async ({ store }) => {
        if (id === undefined) {
          const count = await store.queue.retry(Date.now());
          print(count === 0 ? 'queue is empty' : `${count} recipient(s) due now`);
          return;
        }
        await rowsOf(store.queue, id);
        const count = await store.queue.retry(Date.now(), id);
        print(`${id}: ${count} recipient(s) due now`);
      }),
    );

  queue
    .command('cancel <id>')
    .description("withdraw a queued message's remaining recipients; a local sender gets a notice")
    .action((id: string, _opts, cmd: Command) =>
      withStore(cmd, async ({ store, config }) => {
        await rowsOf(store.queue, id);
        // The header is read before the rows go: the file may go with them.
        const removed = await cancelKeepingHeader(store.queue, id);
        if (removed.rows.length === 0) throw new CliError(`no queued message ${id}`);
        print(`cancelled ${id}: removed ${removed.rows.length} recipient(s): ${removed.rows.map((row) => row.recipient).join(', ')}`);
        // The notice enters like any other message: through the intake, into the sender's mailbox.
        const intake = createIntake(config, store, mailauthResolver(createResolver(config.dns.servers)), createLogger('warn', 2));
        const notice = await notifySender({ accounts: store.accounts, queue: store.queue, intake }, {
          kind: 'cancelled',
          hostname: config.hostname,
          rows: removed.rows,
          recipients: removed.rows.map((row) => ({
            recipient: row.recipient,
            status: '5.0.0',
            reason: 'cancelled by the administrator before delivery',
          })),
          originalHeader: removed.header,
        });
        print(notice.sent ? `notice sent to ${notice.to}` : `no notice sent: ${notice.why}`);
      }),
    );
}

async function cancelKeepingHeader(queue: QueueStore, id: string): Promise<{ rows: QueueRow[]; header: Buffer }> {
  const before = await queue.byQueueId(id);
  const header = before[0] ? await readHeader(queue, before[0].blob) : Buffer.alloc(0);
  return { rows: await queue.removeMessage(id), header };
}

async function rowsOf(queue: QueueStore, id: string): Promise<QueueRow[]> {
  const rows = await queue.byQueueId(id);
  if (rows.length === 0) throw new CliError(`no queued message ${printable(id)}`);
  return rows;
}

function groupByMessage(rows: readonly QueueRow[]): QueuedMessage[] {
  const messages = new Map<string, QueuedMessage>();
  for (const row of rows) {
    let message = messages.get(row.queueId);
    if (!message) messages.set(row.queueId, (message = { queueId: row.queueId, rows: [] }));
    message.rows.push(row);
  }
  return [...messages.values()];
}

/** "held until …" while submitted mail waits out its hold window, else the next attempt. */
function state(rows: readonly QueueRow[], now: number): string {
  const next = Math.min(...rows.map((row) => row.nextAttemptAt));
  const held = rows.every((row) => row.attempts === 0) && next > now;
  return held ? `held until ${iso(next)}` : `next attempt ${iso(next)}`;
}

function lastError(rows: readonly QueueRow[]): string {
  const errors = rows.filter((row) => row.lastError !== null);
  if (errors.length === 0) return '-';
  return printable(errors.reduce((a, b) => (b.attempts > a.attempts ? b : a)).lastError!);
}

function sender(row: QueueRow): string {
  return row.mailFrom === '' ? '<>' : row.mailFrom;
}
