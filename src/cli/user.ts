// `kakitome user add|list|remove|passwd|apop` and `kakitome alias add|list|remove`.
import type { Command } from 'commander';
import { normaliseDomain, parseMailAddress } from '../mail/address.ts';
import { checkPasswordPolicy, generatePassword, hashPassword } from '../auth/password.ts';
import { checkApopSecret, generateApopSecret } from '../auth/apop-secret.ts';
import { AccountError } from '../store/accounts.ts';
import { JUNK_MODES, type JunkMode } from '../store/spam.ts';
import { CliError } from './errors.ts';
import { withStore } from './context.ts';
import { print, printTable, readFirstLineOfStdin } from './io.ts';
import { awaitingText, filledBy, roleAliasLine } from './role-aliases.ts';

/** The password from stdin (checked against the policy), or a generated one that is printed. */
async function obtainPassword(fromStdin: boolean): Promise<{ password: string; generated: boolean }> {
  if (fromStdin) {
    const password = await readFirstLineOfStdin();
    checkPasswordPolicy(password);
    return { password, generated: false };
  }
  return { password: generatePassword(), generated: true };
}

export function registerUserCommands(program: Command): void {
  const user = program.command('user').description('mailbox users: add, list, remove, passwd, apop, junk');

  user
    .command('add <address>')
    .description('add a mailbox user; the password comes from stdin, or is generated and printed')
    .option('--password-stdin', 'read the password from the first line of standard input')
    .action(async (input: string, opts: { passwordStdin?: boolean }, cmd: Command) => {
      const address = parseMailAddress(input);
      const { password, generated } = await obtainPassword(opts.passwordStdin === true);
      const hash = await hashPassword(password);
      const filled = await withStore(cmd, ({ store }) =>
        filledBy(store, () => store.accounts.addUser(address.address, address.domain, hash)),
      );
      print(`added user ${address.address}`);
      if (generated) print(`password: ${password}`);
      for (const line of filled) print(line);
    });

  user
    .command('list [domain]')
    .description('list users (of one domain, or all), with whether APOP is enabled')
    .action((domain: string | undefined, _opts, cmd: Command) =>
      withStore(cmd, async ({ store }) => {
        const users = await store.accounts.listUsers(domain === undefined ? undefined : normaliseDomain(domain));
        printTable(users.map((u) => [u.address, u.apopSecret ? 'apop' : '-']));
      }),
    );

  user
    .command('remove <address>')
    .description('remove a user with its mailbox and every stored message (refused while it is the last recipient of a postmaster@ or abuse@)')
    .action(async (input: string, _opts, cmd: Command) => {
      const address = parseMailAddress(input).address;
      await withStore(cmd, async ({ store }) => {
        const { aliasLinksRemoved } = await store.accounts.removeUser(address);
        print(`removed user ${address}${aliasLinksRemoved ? ` (and from ${aliasLinksRemoved} alias(es))` : ''}`);
      });
    });

  user
    .command('passwd <address>')
    .description("set a user's password from stdin, or generate and print one")
    .option('--password-stdin', 'read the password from the first line of standard input')
    .action(async (input: string, opts: { passwordStdin?: boolean }, cmd: Command) => {
      const address = parseMailAddress(input).address;
      await withStore(cmd, async ({ store }) => {
        if (!(await store.accounts.getUser(address))) throw new AccountError(`no such user: ${address}`);
        const { password, generated } = await obtainPassword(opts.passwordStdin === true);
        await store.accounts.setPasswordHash(address, await hashPassword(password));
        print(`password of ${address} changed`);
        if (generated) print(`password: ${password}`);
      });
    });

  user
    .command('apop <address>')
    .description("set the user's separate APOP secret from stdin, or generate and print one; --off removes it")
    .option('--secret-stdin', 'read the secret from the first line of standard input')
    .option('--off', 'remove the APOP secret (APOP login is then refused for this user)')
    .action(async (input: string, opts: { secretStdin?: boolean; off?: boolean }, cmd: Command) => {
      const address = parseMailAddress(input).address;
      await withStore(cmd, async ({ store }) => {
        const account = await store.accounts.getUser(address);
        if (!account) throw new AccountError(`no such user: ${address}`);
        if (opts.off) {
          await store.accounts.setApopSecret(address, null);
          print(`APOP disabled for ${address}`);
          return;
        }
        const secret = opts.secretStdin ? await readFirstLineOfStdin() : generateApopSecret();
        await checkApopSecret(secret, account.passwordHash);
        await store.accounts.setApopSecret(address, secret);
        print(`APOP secret of ${address} set`);
        if (!opts.secretStdin) print(`apop secret: ${secret}`);
      });
    });

  user
    .command('junk <address> [mode]')
    .description('where junk goes for this user: folder (the Junk mailbox, for IMAP), inbox (INBOX with [SPAM] before the Subject, for POP3), digest (Junk, plus a daily list in INBOX); without MODE, prints it')
    .action((input: string, mode: string | undefined, _opts, cmd: Command) =>
      withStore(cmd, async ({ store }) => {
        const address = parseMailAddress(input).address;
        const record = await store.accounts.getUser(address);
        if (!record) throw new AccountError(`no such user: ${address}`);
        if (mode === undefined) {
          print(`${address}: junk ${await store.spam.junkMode(record.id)}`);
          return;
        }
        if (!JUNK_MODES.includes(mode as JunkMode)) throw new CliError(`junk mode must be one of ${JUNK_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
        await store.spam.setJunkMode(record.id, mode as JunkMode);
        print(`${address}: junk ${mode}`);
      }),
    );

  const alias = program.command('alias').description('aliases and simple forwarding: add, list, remove');

  alias
    .command('add <alias> <targets...>')
    .description('make ALIAS deliver to each TARGET (local users or aliases, or remote addresses)')
    .action((aliasInput: string, targetInputs: string[], _opts, cmd: Command) =>
      withStore(cmd, async ({ store }) => {
        const address = parseMailAddress(aliasInput);
        const targets = targetInputs.map(parseMailAddress);
        await store.accounts.addAlias(address.address, address.domain, targets);
        print(`alias ${address.address} -> ${targets.map((t) => t.address).join(', ')}`);
      }),
    );

  alias
    .command('list [domain]')
    .description('list aliases with their targets')
    .action((domain: string | undefined, _opts, cmd: Command) =>
      withStore(cmd, async ({ store }) => {
        const only = domain === undefined ? undefined : normaliseDomain(domain);
        const aliases = (await store.accounts.listAliases(only)).map((a) => [a.address, a.targets.join(', ')]);
        const pending = await Promise.all(
          (await store.accounts.listPendingAliases(only)).map(async (p) => [p.address, `(waits for ${await awaitingText(store, p)})`]),
        );
        printTable([...aliases, ...pending].sort((a, b) => (a[0]! < b[0]! ? -1 : 1)));
      }),
    );

  alias
    .command('remove <alias>')
    .description('remove an alias')
    .action((aliasInput: string, _opts, cmd: Command) =>
      withStore(cmd, async ({ store }) => {
        const address = parseMailAddress(aliasInput);
        await store.accounts.removeAlias(address.address);
        print(`removed alias ${address.address}`);
        // RFC 5321 §4.5.1: a role address stays, waiting for a new target.
        if (await store.accounts.pendingAlias(address.address)) print(await roleAliasLine(store, address.address));
      }),
    );
}
