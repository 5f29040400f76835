// `kakitome quarantine list|show|release|delete`: the originals the content filters took
// out of messages' way (src/store/quarantine.ts), seen and decided on from the command
// line while `serve` runs. `release` delivers the original as it arrived, through the
// intake's release origin (no content filter again; submitted mail is DKIM-signed), to
// the recipients it had — those that still exist — and takes the entry out in the same
// transaction, so a message is released once. `serve` deletes entries older than
// [quarantine] keep by itself.
import type { Command } from 'commander';
import type { QuarantinedMessage } from '../store/quarantine.ts';
import type { Store } from '../store/store.ts';
import { createIntake } from '../app/intake.ts';
import { RELEASE_ORIGIN } from '../intake/intake.ts';
import { createResolver } from '../dns/resolver.ts';
import { mailauthResolver } from '../policy/spf/resolver.ts';
import { createLogger } from '../server/log.ts';
import { randomHex } from '../mail/random-id.ts';
import { headerSection } from '../queue/dsn.ts';
import { withStore } from './context.ts';
import { CliError } from './errors.ts';
import { iso, print, printable, printHeader, printTable } from './io.ts';

/** Octets read from the start of a quarantined message for `show`: its header section. */
const HEADER_READ_BYTES = 256 * 1024;

export function registerQuarantineCommands(program: Command): void {
  const quarantine = program.command('quarantine').description('mail held by the antivirus, attachment or spam filters: list, show, release, delete');

  quarantine
    .command('list')
    .description('one line per quarantined message: id, reason, sender, recipients, size, when, what was found')
    .action((_opts, cmd: Command) =>
      withStore(cmd, async ({ store }) => {
        const entries = await store.quarantine.list();
        if (entries.length === 0) {
          print('quarantine is empty');
          return;
        }
        const rows: string[][] = [['ID', 'REASON', 'SENDER', 'RECIPIENTS', 'SIZE', 'QUARANTINED', 'FOUND']];
        for (const entry of entries) {
          rows.push([
            entry.quarantineId,
            entry.reason,
            sender(entry),
            (await recipientNames(store, entry)).join(','),
            String(entry.size),
            iso(entry.createdAt),
            printable(entry.detail),
          ]);
        }
        printTable(rows);
      }),
    );

  quarantine
    .command('show <id>')
    .description("a quarantined message's envelope, what was found, and its header")
    .action((id: string, _opts, cmd: Command) =>
      withStore(cmd, async ({ store, config }) => {
        const entry = await entryOf(store, id);
        print(`id: ${entry.quarantineId}`);
        print(`reason: ${entry.reason}`);
        print(`found: ${printable(entry.detail)}`);
        print(`recipients got: ${entry.delivered ? 'a copy with what was found replaced by a notice' : 'nothing (held whole)'}`);
        print(`origin: ${entry.origin === 'msa' ? 'msa (submitted by a local user)' : 'mta (received on port 25)'}`);
        print(`sender: ${sender(entry)}`);
        print(`recipients: ${(await recipientNames(store, entry)).join(', ')}`);
        print(`size: ${entry.size}`);
        print(`quarantined: ${iso(entry.createdAt)}`);
        const keep = config.quarantine.keep;
        print(`expires: ${keep === 0 ? 'never ([quarantine] keep = "0s")' : iso(entry.createdAt + keep)}`);
        print('header:');
        printHeader(headerSection(await store.quarantine.readStart(entry, HEADER_READ_BYTES)));
      }),
    );

  quarantine
    .command('release <id>')
    .description('deliver a quarantined message as it arrived to its recipients, and take it out of the quarantine')
    .action((id: string, _opts, cmd: Command) =>
      withStore(cmd, async ({ store, config }) => {
        const entry = await entryOf(store, id);
        const users = (await Promise.all(entry.recipients.users.map((userId) => store.accounts.getUserById(userId)))).filter((user) => user !== undefined);
        const gone = entry.recipients.users.length - users.length;
        if (users.length === 0 && entry.recipients.remote.length === 0) {
          throw new CliError(`${entry.quarantineId} has no recipient left to deliver to (removed users); delete it with: kakitome quarantine delete ${entry.quarantineId}`);
        }
        const intake = createIntake(config, store, mailauthResolver(createResolver(config.dns.servers)), createLogger('warn', 2));
        const queueId = randomHex(8);
        const outcome = await intake.take({
          origin: RELEASE_ORIGIN[entry.origin],
          queueId,
          mailFrom: entry.mailFrom,
          envelopeRecipients: [...users.map((user) => user.address), ...entry.recipients.remote],
          recipients: { userIds: users.map((user) => user.id), remote: entry.recipients.remote },
          client: null,
          content: await store.quarantine.read(entry),
          release: entry.quarantineId,
        });
        if (outcome.action !== 'accept') throw new CliError(`${entry.quarantineId} was not released: ${outcome.reply.code} ${outcome.reply.text}`);
        const { mailboxes, queued } = outcome.result;
        print(`released ${entry.quarantineId} as ${queueId}: ${mailboxes} mailbox(es)${queued > 0 ? `, ${queued} remote recipient(s) queued` : ''}`);
        if (gone > 0) print(`${gone} recipient(s) no longer exist and got nothing`);
      }),
    );

  quarantine
    .command('delete <id>')
    .description('delete a quarantined message for good')
    .action((id: string, _opts, cmd: Command) =>
      withStore(cmd, async ({ store }) => {
        const entry = await entryOf(store, id);
        if (!(await store.quarantine.remove(entry.quarantineId))) throw new CliError(`no quarantined message ${printable(id)}`);
        print(`deleted ${entry.quarantineId}`);
      }),
    );
}

async function entryOf(store: Store, id: string): Promise<QuarantinedMessage> {
  const entry = await store.quarantine.get(id);
  if (!entry) throw new CliError(`no quarantined message ${printable(id)} (kakitome quarantine list shows them)`);
  return entry;
}

/** Local recipients by address (a removed user by id), then the remote ones. */
async function recipientNames(store: Store, entry: QuarantinedMessage): Promise<string[]> {
  const local = await Promise.all(entry.recipients.users.map(async (userId) => (await store.accounts.getUserById(userId))?.address ?? `(removed user #${userId})`));
  return [...local, ...entry.recipients.remote];
}

function sender(entry: QuarantinedMessage): string {
  return entry.mailFrom === '' ? '<>' : entry.mailFrom;
}
