// `kakitome domain add|list|remove` and `kakitome dns DOMAIN`.
import type { Command } from 'commander';
import { normaliseDomain } from '../mail/address.ts';
import { generateDkimKey, selectorFor, type DkimAlgorithm } from '../policy/dkim/keys.ts';
import { recordsToPublish, toZoneFile } from '../policy/records.ts';
import type { Store } from '../store/store.ts';
import { withStore } from './context.ts';
import { CliError } from './errors.ts';
import { print, printTable } from './io.ts';
import { POSTMASTER_OPTION_HELP, roleAliasLines, roleAliasTarget } from './role-aliases.ts';
import type { RoleAliasTarget } from '../store/accounts.ts';

const DKIM_ALGORITHMS: DkimAlgorithm[] = ['rsa-sha256', 'ed25519-sha256'];

/** Adds a local domain with a fresh RSA and Ed25519 DKIM key, and its postmaster@ and abuse@. */
export async function addDomainWithKeys(store: Store, domain: string, roleAliases: RoleAliasTarget, now = new Date()): Promise<void> {
  const taken = new Set((await store.keys.listDkimKeys(domain)).map((k) => k.selector));
  const keys = DKIM_ALGORITHMS.map((algorithm) => {
    const key = generateDkimKey(algorithm, selectorFor(algorithm, now, taken));
    taken.add(key.selector);
    return key;
  });
  await store.accounts.addDomain(domain, keys, now.getTime(), roleAliases);
}

export async function dnsRecordsText(store: Store, domain: string, hostname: string): Promise<string> {
  return toZoneFile(recordsToPublish(domain, hostname, await store.keys.listDkimKeys(domain)));
}

export function registerDomainCommands(program: Command): void {
  const domain = program.command('domain').description('local domains: add, list, remove');

  domain
    .command('add <domain>')
    .description('add a local domain (with new DKIM keys, postmaster@ and abuse@ aliases) and print its DNS records')
    .option('--postmaster <address>', POSTMASTER_OPTION_HELP)
    .action((name: string, opts: { postmaster?: string }, cmd: Command) =>
      withStore(cmd, async ({ store, config }) => {
        const normalised = normaliseDomain(name);
        await addDomainWithKeys(store, normalised, roleAliasTarget(opts.postmaster));
        print(`added domain ${normalised}; publish these DNS records:`);
        print();
        print(await dnsRecordsText(store, normalised, config.hostname));
        print();
        for (const line of await roleAliasLines(store, normalised)) print(line);
      }),
    );

  domain
    .command('list')
    .description('list local domains with their numbers of users and aliases')
    .action((_opts, cmd: Command) =>
      withStore(cmd, async ({ store }) => {
        const rows = (await store.accounts.listDomains()).map((d) => [d.name, `${d.users} users`, `${d.aliases} aliases`]);
        printTable(rows);
      }),
    );

  domain
    .command('remove <domain>')
    .description('remove a local domain that has no users or aliases left')
    .action((name: string, _opts, cmd: Command) =>
      withStore(cmd, async ({ store }) => {
        const normalised = normaliseDomain(name);
        await store.accounts.removeDomain(normalised);
        print(`removed domain ${normalised}`);
      }),
    );

  program
    .command('dns <domain>')
    .description('print the MX, SPF, DKIM and DMARC records to publish for a local domain (zone-file syntax)')
    .action((name: string, _opts, cmd: Command) =>
      withStore(cmd, async ({ store, config }) => {
        const normalised = normaliseDomain(name);
        if (!(await store.accounts.isLocalDomain(normalised))) throw new CliError(`${normalised} is not a local domain`);
        print(await dnsRecordsText(store, normalised, config.hostname));
      }),
    );
}
