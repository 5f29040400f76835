// `kakitome dkim list|rotate|remove`: DKIM signing keys and their rotation.
//
// A rotation makes a new RSA and a new Ed25519 key the signing keys and retires the
// previous ones: retired keys sign nothing more but stay in `kakitome dns` until they
// are removed, because mail signed with them may still be in a queue (ours retries
// for outbound.max_age) or be verified again later (RFC 6376 §3.6.1 leaves the
// lifetime of a key to the signer; M3AAWG recommends keeping old keys published for
// a while after rotation).
import type { Command } from 'commander';
import { normaliseDomain } from '../mail/address.ts';
import { generateDkimKey, selectorFor, type DkimAlgorithm, type DkimKeyPair } from '../policy/dkim/keys.ts';
import { dkimKeyRecords, toZoneFile } from '../policy/records.ts';
import type { Store } from '../store/store.ts';
import type { DkimKeyRecord } from '../store/keys.ts';
import { formatDuration } from '../config/duration.ts';
import { withStore } from './context.ts';
import { CliError } from './errors.ts';
import { print, printTable } from './io.ts';

const ROTATED_ALGORITHMS: readonly DkimAlgorithm[] = ['rsa-sha256', 'ed25519-sha256'];

export interface Rotation {
  added: DkimKeyPair[];
  /** Selectors of the keys that were active before and are retired now. */
  retired: string[];
}

/** New RSA and Ed25519 signing keys for a local domain; the active ones are retired, in one transaction. */
export async function rotateDkimKeys(store: Store, domain: string, now = new Date()): Promise<Rotation> {
  await requireLocalDomain(store, domain);
  const taken = new Set((await store.keys.listDkimKeys(domain)).map((k) => k.selector));
  // Key generation (RSA: a few hundred ms) happens before the transaction.
  const added = ROTATED_ALGORITHMS.map((algorithm) => {
    const key = generateDkimKey(algorithm, selectorFor(algorithm, now, taken));
    taken.add(key.selector);
    return key;
  });
  const retired = await store.keys.rotateDkimKeys(domain, added, now.getTime());
  return { added, retired };
}

/** Removes a retired key; refuses an active or unknown one with a one-line error. */
export async function removeDkimKey(store: Store, domain: string, selector: string): Promise<DkimKeyRecord> {
  await requireLocalDomain(store, domain);
  const key = (await store.keys.listDkimKeys(domain)).find((k) => k.selector === selector.toLowerCase());
  if (!key) throw new CliError(`no DKIM key with selector ${JSON.stringify(selector)} for ${domain} (see kakitome dkim list ${domain})`);
  if (key.retiredAt === null) {
    throw new CliError(`DKIM key ${key.selector} of ${domain} is active (it signs outgoing mail); run kakitome dkim rotate ${domain} first`);
  }
  if (!(await store.keys.removeDkimKey(domain, key.selector))) throw new CliError(`DKIM key ${key.selector} of ${domain} could not be removed`);
  return key;
}

async function requireLocalDomain(store: Store, domain: string): Promise<void> {
  if (!(await store.accounts.isLocalDomain(domain))) throw new CliError(`${domain} is not a local domain`);
}

export function registerDkimCommands(program: Command): void {
  const dkim = program.command('dkim').description('DKIM signing keys: list, rotate, remove');

  dkim
    .command('list <domain>')
    .description("the domain's DKIM keys: selector, algorithm, created, active or retired")
    .action((name: string, _opts, cmd: Command) =>
      withStore(cmd, async ({ store }) => {
        const domain = normaliseDomain(name);
        await requireLocalDomain(store, domain);
        const keys = await store.keys.listDkimKeys(domain);
        if (keys.length === 0) {
          print(`${domain} has no DKIM keys: its mail is not signed (run kakitome dkim rotate ${domain})`);
          return;
        }
        printTable([
          ['SELECTOR', 'ALGORITHM', 'CREATED', 'STATE'],
          ...keys.map((key) => [
            key.selector,
            key.algorithm,
            iso(key.createdAt),
            key.retiredAt === null ? 'active' : `retired ${iso(key.retiredAt)}`,
          ]),
        ]);
      }),
    );

  dkim
    .command('rotate <domain>')
    .description('new RSA and Ed25519 signing keys; the current ones are retired (still published until removed)')
    .action((name: string, _opts, cmd: Command) =>
      withStore(cmd, async ({ store }) => {
        const domain = normaliseDomain(name);
        const { added, retired } = await rotateDkimKeys(store, domain);
        print(`new DKIM signing keys for ${domain}: ${added.map((k) => `${k.selector} (${k.algorithm})`).join(', ')}`);
        if (retired.length > 0) {
          print(`retired (no longer signing, still published): ${retired.join(', ')}`);
        }
        print('publish these DNS records now; mail is signed with the new keys from now on:');
        print();
        print(toZoneFile(dkimKeyRecords(domain, added.map((k) => ({ ...k, retiredAt: null })))));
        if (retired.length > 0) {
          print();
          print(`keep the retired keys' records until mail signed with them has been delivered, then: kakitome dkim remove ${domain} SELECTOR`);
        }
      }),
    );

  dkim
    .command('remove <domain> <selector>')
    .description('remove a retired DKIM key (an active one is refused); delete its DNS record afterwards')
    .action((name: string, selector: string, _opts, cmd: Command) =>
      withStore(cmd, async ({ store, config }) => {
        const domain = normaliseDomain(name);
        const key = await removeDkimKey(store, domain, selector);
        print(`removed DKIM key ${key.selector} of ${domain}; delete its DNS record ${key.selector}._domainkey.${domain}. TXT`);
        const sinceRetired = Math.max(0, Math.floor((Date.now() - key.retiredAt!) / 1000) * 1000);
        if (sinceRetired < config.outbound.max_age) {
          print(
            `note: retired only ${formatDuration(sinceRetired)} ago; queued mail signed with it (retried for up to ${formatDuration(config.outbound.max_age)}) will fail DKIM at its receivers`,
          );
        }
      }),
    );
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
