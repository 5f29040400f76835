// What the CLI says about postmaster@ and abuse@ (RFC 5321 §4.5.1, RFC 2142): the
// `--postmaster ADDRESS` option of `init` and `domain add`, and one line per role
// address telling where its mail goes, or that it waits for its user.
import { parseMailAddress } from '../mail/address.ts';
import { roleAddressesOf } from '../mail/role-addresses.ts';
import type { PendingAlias, RoleAliasTarget } from '../store/accounts.ts';
import type { Store } from '../store/store.ts';
import { REPLY } from '../smtp/replies.ts';

export const POSTMASTER_OPTION_HELP =
  'where postmaster@DOMAIN and abuse@DOMAIN deliver (a user, maybe not added yet, or a remote address); default: the first user';

export function roleAliasTarget(option: string | undefined): RoleAliasTarget {
  return option === undefined ? 'first-user' : parseMailAddress(option);
}

const NOT_READY = `${REPLY.mailboxNotReady.code} ${REPLY.mailboxNotReady.enhanced}`;

/**
 * What a pending alias waits for: an address, the first user (while there is none),
 * or, once users exist, an administrator's `alias add`.
 */
export async function awaitingText(store: Store, pending: PendingAlias): Promise<string> {
  if (pending.awaiting !== null) return pending.awaiting;
  if ((await store.accounts.listUsers()).length === 0) return 'the first user added';
  return `a target: kakitome alias add ${pending.address} ADDRESS`;
}

/** One line per role address of the domain: its targets, or what it waits for. */
export async function roleAliasLines(store: Store, domain: string): Promise<string[]> {
  const lines = await Promise.all(roleAddressesOf(domain).map((address) => roleAliasLine(store, address)));
  return lines.filter((line) => line !== undefined);
}

/** Where mail to a role address goes: "ADDRESS -> TARGETS", or what it waits for. */
export async function roleAliasLine(store: Store, address: string): Promise<string | undefined> {
  const alias = await store.accounts.getAlias(address);
  if (alias) return `${address} -> ${alias.targets.join(', ')}`;
  const pending = await store.accounts.pendingAlias(address);
  if (pending) return `${address} waits for ${await awaitingText(store, pending)} (until then mail to it gets ${NOT_READY}, and is retried)`;
  return (await store.accounts.getUser(address)) ? `${address} is a user` : undefined;
}

/** Runs change; returns a line per pending alias it gave a target. */
export async function filledBy(store: Store, change: () => Promise<unknown>): Promise<string[]> {
  const before = await store.accounts.listPendingAliases();
  await change();
  const still = new Set((await store.accounts.listPendingAliases()).map((p) => p.address));
  const lines: string[] = [];
  for (const pending of before.filter((p) => !still.has(p.address))) {
    const alias = await store.accounts.getAlias(pending.address);
    if (alias) lines.push(`${pending.address} -> ${alias.targets.join(', ')}`);
  }
  return lines;
}
